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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tracing::debug;

use super::client::Client;
use super::Shared;
use crate::cmd::{execute, After, Ctx};
use crate::resp::{parse_request, ParseLimits, Parsed, Reply};
use crate::store::now_ms;

/// Output flushed mid-batch once it grows past this, for backpressure.
const FLUSH_AT: usize = 64 * 1024;

const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// What the batch asks the async shell to do next.
enum Next {
    /// Read more input.
    Read,
    /// Flush, then continue parsing what is already buffered.
    Continue,
    /// Flush and close.
    Close,
    /// Flush, sleep, continue.
    Sleep(Duration),
    /// Flush, enter MONITOR mode, continue.
    Monitor,
    /// Run a cluster routing plan (proxy), continue.
    Route(Box<crate::cluster::route::Plan>),
}

/// Serves one client connection until it closes.
pub async fn handle(shared: Arc<Shared>, mut sock: TcpStream, addr: SocketAddr) {
    let _ = sock.set_nodelay(true);
    let (maxclients, protected, needs_auth, timeout) = {
        let c = shared.config.read();
        (
            c.maxclients,
            c.protected_mode,
            !c.requirepass.is_empty(),
            c.timeout,
        )
    };
    if shared.clients.len() as u64 >= maxclients {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = sock
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        return;
    }
    if protected && !needs_auth && !addr.ip().is_loopback() {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = sock.write_all(PROTECTED_MODE_DENIED.as_bytes()).await;
        return;
    }
    let laddr = sock.local_addr().unwrap_or(addr);
    let handle = shared.clients.register(addr, laddr, now_ms());
    let mut client = Client::new(handle.clone(), !needs_auth);
    let mut reply = Reply::new();
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut stop = shared.shutdown.subscribe();
    let mut monitor: Option<broadcast::Receiver<bytes::Bytes>> = None;
    let _ = timeout;
    'conn: loop {
        // Execute what is buffered, flushing between chunks of output.
        loop {
            let next = process_batch(&shared, &mut client, &mut reply, &mut inbuf);
            if !reply.buf.is_empty() {
                shared
                    .stats
                    .net_output_bytes
                    .fetch_add(reply.buf.len() as u64, Ordering::Relaxed);
                if sock.write_all(&reply.buf).await.is_err() {
                    break 'conn;
                }
                reply.buf.clear();
            }
            match next {
                Next::Read => break,
                Next::Continue => continue,
                Next::Close => break 'conn,
                Next::Sleep(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = stop.changed() => break 'conn,
                    }
                }
                Next::Route(plan) => {
                    crate::cluster::route::run(&shared, &mut client, &mut reply, *plan).await;
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
        let idle = shared.config.read().timeout;
        let exempt_from_idle = monitor.is_some() || client.multi.is_some();
        let read = tokio::select! {
            r = sock.read_buf(&mut inbuf) => r,
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
                if inbuf.len() > limit {
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
    shared.clients.unregister(handle.id);
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
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// Parses and executes buffered requests until input runs out, output grows
/// past `FLUSH_AT`, or a command asks for async work.
fn process_batch(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    inbuf: &mut BytesMut,
) -> Next {
    let limits = {
        let c = shared.config.read();
        ParseLimits {
            max_bulk_len: c.proto_max_bulk_len as i64,
            unauthenticated: !client.authenticated,
        }
    };
    let now = now_ms();
    let mut gate = Some(shared.gate.read());
    let mut last_cmd = None;
    let next = loop {
        if client.close_after_reply {
            break Next::Close;
        }
        let args = match parse_request(
            inbuf,
            ParseLimits {
                unauthenticated: !client.authenticated,
                ..limits
            },
        ) {
            Ok(Parsed::Command(args)) => args,
            Ok(Parsed::Incomplete) => break Next::Read,
            Err(e) => {
                reply.error(&format!("ERR {e}"));
                inbuf.clear();
                break Next::Close;
            }
        };
        if args.is_empty() {
            continue;
        }
        last_cmd = Some(args[0].clone());
        let mut ctx = Ctx {
            shared,
            client,
            out: reply,
            now_ms: now,
            after: None,
            exclusive: false,
        };
        let mut after = None;
        if let Some(args) = execute(&mut ctx, args) {
            // Swap the shared hold for an exclusive one for this command only.
            drop(gate.take());
            let exclusive = shared.gate.write();
            let mut ctx = Ctx {
                shared,
                client,
                out: reply,
                now_ms: now,
                after: None,
                exclusive: true,
            };
            execute(&mut ctx, args);
            after = ctx.after.take();
            drop(exclusive);
            gate = Some(shared.gate.read());
        } else {
            after = after.or(ctx.after.take());
        }
        match after {
            Some(After::Close) => break Next::Close,
            Some(After::Sleep(d)) => break Next::Sleep(d),
            Some(After::Monitor) => break Next::Monitor,
            Some(After::Route(plan)) => break Next::Route(plan),
            None => {}
        }
        if reply.buf.len() >= FLUSH_AT {
            break if inbuf.has_remaining() {
                Next::Continue
            } else {
                Next::Read
            };
        }
    };
    drop(gate);
    if let Some(name) = last_cmd {
        let mut m = client.handle.meta.lock();
        m.last_cmd = String::from_utf8_lossy(&name).to_ascii_lowercase();
        m.db = client.db;
    }
    next
}
