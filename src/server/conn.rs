//! The connection loop: read, parse every complete request in the buffer,
//! execute them in order into one output buffer, write once per batch.
//!
//! Command execution is synchronous (`process_batch`); the async shell only
//! moves bytes and waits. Slot locks and the shared gate are taken inside the
//! batch and never held across an `.await`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tracing::debug;

use super::access::{Access, PROTECTED_MODE_RESP};
use super::spare::{self, READ_ROOM};
use crate::cmd::client::Client;
use crate::cmd::Shared;
use crate::cmd::{After, Dispatched, Dispatcher};
use crate::config::OutputLimit;
use crate::node::clients::ClientHandle;
use crate::resp::{ParseLimits, Parsed, Reply, RequestParser};
use crate::store::now_ms;

/// Output flushed mid-batch once it grows past this, for backpressure.
const FLUSH_AT: usize = 64 * 1024;
/// Largest reply buffer an idle connection keeps.
const KEEP_REPLY: usize = 1024;
/// Replies of forwarded commands (cluster proxy) collected mid-batch once
/// this many are outstanding, for backpressure.
const MAX_IN_FLIGHT: usize = 128;

/// What the batch asks the async shell to do next.
enum Next {
    /// Read more input.
    Read,
    /// Flush, then continue with what is already buffered.
    Continue,
    /// Flush and close.
    Close,
    /// Flush, sleep, continue.
    Sleep(Duration),
    /// Flush, enter MONITOR mode, continue.
    Monitor,
    /// Flush, wait as a blocked client, queue its reply, continue.
    Block(crate::node::blocking::BlockSpec),
    /// Flush, run a MIGRATE's network exchange, queue its reply, continue.
    Migrate(Box<crate::cmd::migrate_plan::MigratePlan>),
    /// Run a cluster routing plan (proxy), continue.
    Route(Box<crate::cluster::route::RoutedCommand>),
    /// Flush, wait for CLIENT PAUSE to let the held command run, continue.
    Paused,
    /// Flush, then serve this connection as a replica link until it closes.
    Replicate(Box<crate::node::replication::SyncRequest>),
    /// Flush, wait for replicas' acknowledgements (WAIT), queue the count,
    /// continue.
    Wait(crate::node::replication::WaitSpec),
}

/// Why a new connection is refused, as the error line Redis sends before
/// closing: maxclients reached, or protected mode (no password set) and a
/// peer that is not loopback.
fn admission_refusal(
    clients: usize,
    maxclients: u64,
    access: Access,
    peer: std::net::IpAddr,
) -> Option<&'static [u8]> {
    if clients as u64 >= maxclients {
        return Some(b"-ERR max number of clients reached\r\n");
    }
    if access.refuses(peer) {
        return Some(PROTECTED_MODE_RESP.as_bytes());
    }
    None
}

/// Serves one client connection until it closes.
pub async fn handle(shared: Arc<Shared>, mut sock: TcpStream, addr: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let (maxclients, access, timeout) = {
        let c = shared.config.read();
        (c.maxclients, Access::of(&c), c.timeout)
    };
    if let Some(refusal) = admission_refusal(shared.clients.len(), maxclients, access, addr.ip()) {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = sock.write_all(refusal).await;
        return;
    }
    let laddr = sock.local_addr().unwrap_or(addr);
    let handle = shared.clients.register(addr, laddr, now_ms());
    let mut client = Client::new(handle.clone(), !access.needs_auth);
    let mut reply = Reply::new();
    let mut inbuf = BytesMut::new();
    let mut parser = RequestParser::with_big_args();
    // Since when the pending output has been over the soft limit.
    let mut over_soft = None;
    let mut stop = shared.shutdown.subscribe();
    let mut monitor: Option<broadcast::Receiver<bytes::Bytes>> = None;
    // A parsed command waiting until forwarded commands before it are answered.
    let mut held = None;
    let _ = timeout;
    'conn: loop {
        // Execute what is buffered, flushing between chunks of output.
        shared.busy_poll.note_activity();
        loop {
            let next = process_batch(
                &shared,
                &mut client,
                &mut reply,
                (&mut inbuf, &mut parser),
                &mut held,
            );
            if let Some(subs) = &mut client.pubsub {
                subs.drain_into(&mut reply, FLUSH_AT);
            }
            if handle.has_pushes() {
                shared.clients.take_pushes(&handle, &mut reply.buf);
            }
            // Replies of commands forwarded to other cluster nodes.
            if !client.in_flight.is_empty() {
                Box::pin(super::forward::settle(&mut client, &mut reply)).await;
            }
            // DEBUG SLEEP / WAIT answer after the pause, like Redis.
            if let Next::Sleep(d) = next {
                tokio::select! {
                    _ = Box::pin(tokio::time::sleep(d)) => {}
                    _ = stop.changed() => break 'conn,
                }
            }
            if !reply.buf.is_empty() {
                // Like Redis' write-in-beforeSleep: let the other connections
                // that are ready run their batches first, so the replies go
                // out together and the client wakes once for many of them
                // instead of sleeping and waking between each (measured: 8x
                // fewer client sleeps and +10-20% GET rps at -P 16).
                if matches!(next, Next::Read) {
                    tokio::task::yield_now().await;
                }
                shared
                    .stats
                    .net_output_bytes
                    .fetch_add(reply.buf.len() as u64, Ordering::Relaxed);
                let limit = shared.config.read().client_output_buffer_limit_normal;
                publish_mem(&handle, &inbuf, &parser, &reply);
                match write_out(&mut sock, &reply.buf, limit, &mut over_soft, &handle).await {
                    Ok(()) => {}
                    Err(WriteFail::Io) => break 'conn,
                    Err(WriteFail::OverLimit) => {
                        shared
                            .stats
                            .client_output_limit_disconnections
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            id = handle.id,
                            "closing client that reached its output buffer limit"
                        );
                        break 'conn;
                    }
                }
                reply.buf.clear();
            }
            match next {
                Next::Read => break,
                Next::Continue => continue,
                Next::Close => break 'conn,
                Next::Sleep(_) => {}
                Next::Block(spec) => {
                    let mailbox = client.pubsub.as_ref().map(|s| s.mailbox.clone());
                    let waited = Box::pin(super::blocked::wait(
                        &shared,
                        &handle,
                        spec,
                        &mut sock,
                        &mut inbuf,
                        &mut stop,
                        mailbox.as_deref(),
                    ));
                    match waited.await {
                        Some(r) => reply.buf.extend_from_slice(&r),
                        None => break 'conn,
                    }
                }
                Next::Route(plan) => {
                    Box::pin(super::forward::run(&shared, &mut client, &mut reply, *plan)).await;
                }
                Next::Paused => {
                    tokio::select! {
                        _ = shared.pause.wait_for_release() => {}
                        _ = stop.changed() => break 'conn,
                        _ = handle.wake.notified() => {
                            if handle.killed.load(Ordering::Acquire) {
                                break 'conn;
                            }
                        }
                    }
                }
                Next::Migrate(plan) => {
                    // Boxed like the other rare async work: its state would
                    // otherwise enlarge every connection's task (by 272 bytes).
                    Box::pin(super::migrate_cmd::run(&shared, &mut reply, *plan)).await;
                }
                // Boxed, like the other rare async work: their state would
                // enlarge every connection's task (by 416 bytes together).
                Next::Replicate(req) => {
                    let rest = std::mem::take(&mut inbuf);
                    let feed = super::replica_feed::serve(&shared, &mut sock, &handle, *req, rest);
                    Box::pin(feed).await;
                    break 'conn;
                }
                Next::Wait(spec) => {
                    let acks = super::replica_feed::wait_acks(&shared, &handle, spec, &mut stop);
                    let n = Box::pin(acks).await;
                    reply.int(n as i64);
                }
                Next::Monitor => {
                    if monitor.is_none() {
                        monitor = Some(shared.monitor.subscribe());
                        shared.monitors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        if *stop.borrow() || handle.killed.load(Ordering::Acquire) {
            break;
        }
        if handle.has_pushes()
            || client
                .pubsub
                .as_ref()
                .is_some_and(|s| s.mailbox.has_pending())
        {
            continue;
        }
        // Like Redis with its query buffer, a waiting connection keeps no
        // buffers it does not need: the read buffer goes back to the
        // thread's spares until input arrives, the reply buffer (empty here,
        // everything was written) is dropped unless it is small enough to
        // keep for the next reply (a malloc and free per request saved).
        if inbuf.is_empty() {
            spare::give(std::mem::take(&mut inbuf));
            parser.release();
        }
        if reply.buf.capacity() > KEEP_REPLY {
            reply.buf = BytesMut::new();
        }
        publish_mem(&handle, &inbuf, &parser, &reply);
        let idle = shared.config.read().timeout;
        // Like Redis: MONITOR and Pub/Sub clients never time out, clients inside MULTI do.
        let exempt_from_idle = monitor.is_some() || client.subscriptions() > 0;
        let read = tokio::select! {
            r = sock.readable() => match r {
                Ok(()) => {
                    spare::refill(&mut inbuf);
                    match sock.try_read_buf(parser.read_target(&mut inbuf, READ_ROOM)) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        r => r,
                    }
                }
                Err(e) => Err(e),
            },
            _ = handle.wake.notified() => {
                if handle.killed.load(Ordering::Acquire) {
                    break;
                }
                continue;
            }
            line = recv_monitor(&mut monitor) => {
                if let Some(l) = line {
                    if sock.write_all(&l).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            _ = idle_timer(idle, exempt_from_idle) => {
                debug!(id = handle.id, "closing idle client");
                break;
            }
            _ = stop.changed() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                shared
                    .stats
                    .net_input_bytes
                    .fetch_add(n as u64, Ordering::Relaxed);
                handle.last_active_ms.store(now_ms(), Ordering::Relaxed);
                let limit = shared.config.read().client_query_buffer_limit as usize;
                publish_mem(&handle, &inbuf, &parser, &reply);
                if inbuf.len() + parser.big_buffer().0 > limit {
                    shared
                        .stats
                        .client_query_buffer_limit_disconnections
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        id = handle.id,
                        "closing client that reached max query buffer length"
                    );
                    break;
                }
            }
        }
    }
    if monitor.is_some() {
        shared.monitors.fetch_sub(1, Ordering::Relaxed);
    }
    shared.watches.unwatch_all(client.id(), &client.watching);
    if let Some(subs) = client.pubsub.as_mut() {
        subs.clear(&shared.pubsub);
    }
    shared.tracking.disable(&shared.node, handle.id);
    shared.clients.unregister(handle.id);
}

/// Why a reply could not be delivered.
enum WriteFail {
    /// The socket failed or closed.
    Io,
    /// The client stopped reading and its pending output passed the limit.
    OverLimit,
}

/// Publishes the sizes of the connection's buffers (CLIENT LIST; `omem` is
/// published by `write_out` while it waits).
fn publish_mem(handle: &ClientHandle, inbuf: &BytesMut, parser: &RequestParser, reply: &Reply) {
    let (big, big_alloc) = parser.big_buffer();
    let (qbuf, qbuf_alloc) = (inbuf.len() + big, inbuf.capacity() + big_alloc);
    let state = std::mem::size_of::<Client>() + std::mem::size_of::<ClientHandle>();
    let total = state + qbuf_alloc + reply.buf.capacity();
    handle.mem.publish(qbuf, qbuf_alloc, total);
}

/// Writes `out` to the client. A slow reader normally just gets backpressure
/// (we stop executing its commands); with `client-output-buffer-limit` it is
/// dropped, like in Redis, once what it has not taken (our unsent bytes plus
/// the kernel's send queue) exceeds the hard limit, or has stayed above the
/// soft limit (since `over_soft`) for longer than its seconds. The unsent
/// bytes are published as the client's `omem` while it waits.
///
/// While waiting for the socket it also gives up when the client is killed (a
/// subscriber dropped by the pub/sub limit must not pin its task); other
/// wake-ups are handed back to the loop once the write is done.
async fn write_out(
    sock: &mut TcpStream,
    out: &[u8],
    limit: OutputLimit,
    over_soft: &mut Option<tokio::time::Instant>,
    handle: &ClientHandle,
) -> Result<(), WriteFail> {
    let mut off = 0;
    let mut woken = false;
    let result = loop {
        if off >= out.len() {
            *over_soft = None;
            break Ok(());
        }
        match sock.try_write(&out[off..]) {
            Ok(0) => break Err(WriteFail::Io),
            Ok(n) => off += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let unsent = out.len() - off;
                handle.mem.omem.store(unsent, Ordering::Relaxed);
                let pending = unsent as u64 + kernel_send_queue(sock);
                let soft_deadline = match over_limit(limit, pending, over_soft) {
                    Err(()) => break Err(WriteFail::OverLimit),
                    Ok(deadline) => deadline,
                };
                tokio::select! {
                    r = sock.writable() => {
                        if r.is_err() {
                            break Err(WriteFail::Io);
                        }
                    }
                    // Checked again once the soft limit's time is up.
                    _ = sleep_until(soft_deadline) => {}
                    _ = handle.wake.notified() => {
                        if handle.killed.load(Ordering::Acquire) {
                            return Err(WriteFail::Io);
                        }
                        woken = true;
                    }
                }
            }
            Err(_) => break Err(WriteFail::Io),
        }
    };
    handle.mem.omem.store(0, Ordering::Relaxed);
    if woken {
        handle.wake.notify_one();
    }
    result
}

/// Applies `limit` to `pending` output bytes like Redis'
/// `checkClientOutputBufferLimits`: `Err` when the client must go (over the
/// hard limit, or over the soft one for more than its seconds, counted from
/// `over_soft`, which is set when the soft limit is first seen exceeded and
/// cleared when it is not), else when to check again for the soft limit.
fn over_limit(
    limit: OutputLimit,
    pending: u64,
    over_soft: &mut Option<tokio::time::Instant>,
) -> Result<Option<tokio::time::Instant>, ()> {
    if limit.hard > 0 && pending >= limit.hard {
        return Err(());
    }
    if limit.soft == 0 || pending < limit.soft {
        *over_soft = None;
        return Ok(None);
    }
    let now = tokio::time::Instant::now();
    let since = *over_soft.get_or_insert(now);
    let deadline = since + Duration::from_secs(limit.soft_secs);
    if now > deadline {
        return Err(());
    }
    // Just past the deadline, so the check then finds it passed.
    Ok(Some(deadline + Duration::from_millis(1)))
}

/// Sleeps until `at`, or for ever when there is no deadline.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => Box::pin(tokio::time::sleep_until(at)).await,
        None => std::future::pending().await,
    }
}

/// Bytes the kernel still holds for the peer (Linux `TIOCOUTQ`; 0 elsewhere).
fn kernel_send_queue(sock: &TcpStream) -> u64 {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut n: libc::c_int = 0;
        // SAFETY: TIOCOUTQ stores one int through the pointer for a socket fd.
        let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
        if rc == 0 {
            return n.max(0) as u64;
        }
    }
    let _ = sock;
    0
}

async fn recv_monitor(rx: &mut Option<broadcast::Receiver<bytes::Bytes>>) -> Option<bytes::Bytes> {
    match rx {
        Some(r) => loop {
            match r.recv().await {
                Ok(b) => return Some(b),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        },
        None => std::future::pending().await,
    }
}

async fn idle_timer(secs: u64, exempt: bool) {
    if secs == 0 || exempt {
        std::future::pending::<()>().await;
    }
    // Boxed: an idle connection's task stays small when no timeout is set.
    Box::pin(tokio::time::sleep(Duration::from_secs(secs))).await;
}

/// Parses and executes buffered requests (the `held` one first) until input
/// runs out, output grows past `FLUSH_AT` (or `MAX_IN_FLIGHT` forwarded
/// replies are outstanding), or a command asks for async work or must wait
/// for forwarded commands before it (it is left in `held`).
fn process_batch(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    (inbuf, parser): (&mut BytesMut, &mut RequestParser),
    held: &mut Option<Vec<bytes::Bytes>>,
) -> Next {
    let limits = {
        let c = shared.config.read();
        ParseLimits {
            max_bulk_len: c.proto_max_bulk_len as i64,
            unauthenticated: !client.authenticated,
        }
    };
    let now = now_ms();
    // Takes the gate at the first command and keeps it for the batch.
    let mut dispatcher = Dispatcher::new(shared);
    let mut ran = false;
    let next = loop {
        if client.close_after_reply {
            break Next::Close;
        }
        let parsed = match held.take() {
            Some(args) => Ok(Parsed::Command(args)),
            None => parser.parse(
                inbuf,
                ParseLimits {
                    unauthenticated: !client.authenticated,
                    ..limits
                },
            ),
        };
        let args = match parsed {
            Ok(Parsed::Command(args)) => args,
            Ok(Parsed::Incomplete) => break Next::Read,
            Err(e) => {
                let text = format!("ERR {e}");
                shared.stats.count_error(text.as_bytes());
                reply.error(&text);
                inbuf.clear();
                break Next::Close;
            }
        };
        if args.is_empty() {
            continue;
        }
        ran = true;
        let after = match dispatcher.dispatch(client, reply, now, args) {
            Dispatched::Done(after) => after,
            Dispatched::AfterInFlight(args) => {
                // Runs once the forwarded commands before it are answered.
                *held = Some(args);
                break Next::Continue;
            }
            Dispatched::Paused(args) => {
                // Runs once CLIENT PAUSE lets it (see `Next::Paused`).
                *held = Some(args);
                break Next::Paused;
            }
        };
        parser.recycle(std::mem::take(&mut client.spare_args));
        // Invalidations of this command's own changes follow its reply.
        if client.handle.has_pushes() {
            shared.clients.take_pushes(&client.handle, &mut reply.buf);
        }
        match after {
            Some(After::Close) => break Next::Close,
            Some(After::Sleep(d)) => break Next::Sleep(d),
            Some(After::Monitor) => break Next::Monitor,
            Some(After::Block(spec)) => break Next::Block(spec),
            Some(After::Migrate(plan)) => break Next::Migrate(plan),
            Some(After::Replicate(req)) => break Next::Replicate(req),
            Some(After::Wait(spec)) => break Next::Wait(spec),
            Some(After::Route(plan)) => {
                // A forward is sent now and answered at the end of the batch.
                if let Some(plan) = super::forward::start(shared, client, reply, plan) {
                    break Next::Route(plan);
                }
            }
            None => {}
        }
        if reply.buf.len() >= FLUSH_AT || client.in_flight.len() >= MAX_IN_FLIGHT {
            break if inbuf.has_remaining() {
                Next::Continue
            } else {
                Next::Read
            };
        }
    };
    drop(dispatcher);
    if ran {
        let mut m = client.handle.meta.lock();
        m.last_cmd = client.last_cmd;
        m.db = client.db;
    }
    next
}

#[cfg(test)]
mod tests {
    use super::admission_refusal;
    use crate::server::access::Access;

    const fn access(protected: bool, needs_auth: bool) -> Access {
        Access {
            protected,
            needs_auth,
        }
    }

    #[test]
    fn protected_mode_refuses_only_non_loopback_peers_without_password() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        for lo in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(
                admission_refusal(0, 10, access(true, false), ip(lo)),
                None,
                "{lo}"
            );
        }
        let denied =
            admission_refusal(0, 10, access(true, false), ip("203.0.113.7")).expect("refused");
        assert!(denied.starts_with(b"-DENIED Redis is running in protected mode"));
        assert!(denied.ends_with(b"accepting connections from the outside.\r\n"));
        assert_eq!(
            admission_refusal(0, 10, access(true, true), ip("203.0.113.7")),
            None
        );
        assert_eq!(
            admission_refusal(0, 10, access(false, false), ip("203.0.113.7")),
            None
        );
        assert_eq!(
            admission_refusal(10, 10, access(false, false), ip("127.0.0.1")),
            Some(&b"-ERR max number of clients reached\r\n"[..])
        );
    }
}
