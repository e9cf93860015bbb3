//! The memcached listener's connection shell: binds the memcached port,
//! runs memcached-style worker threads (`memcached-threads`), admits each
//! connection as a client of the node and moves its bytes; requests are
//! executed by `memcache::process` (sans-I/O) through the dispatcher's gate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tracing::debug;

use super::access::{Access, PROTECTED_MODE_MEMCACHED};
use super::spare::{self, READ_ROOM};
use crate::cmd::Shared;
use crate::config::Settings;
use crate::error::StartError;
use crate::memcache::auth::{authenticate, Gate};
use crate::memcache::{limits, process, Next};
use crate::node::clients::ClientHandle;
use crate::node::mc_stats::McCounters;
use crate::store::now_ms;

/// memcached's answer to a connection over the limit (then it closes).
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

/// Binds the memcached listeners (none when `memcached-port` is 0).
pub async fn bind(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    if settings.memcached_port == 0 {
        return Ok(Vec::new());
    }
    super::bind_port(&settings.bind, settings.memcached_port).await
}

/// The threads serving memcached connections, like memcached's `-t`
/// workers: each runs a single-threaded runtime (its own epoll loop, no work
/// stealing, no wakeups across threads) and the accept loop deals
/// connections to them in turn. They run beside the node's main runtime, so
/// the RESP side keeps its own worker count. Requests to peer nodes are sent
/// from the main runtime ([`Workers::main`]): nothing but memcached
/// connections depends on these threads.
#[derive(Debug)]
pub struct Workers {
    loops: Vec<Handle>,
    next: AtomicUsize,
    /// The node's main runtime.
    pub main: Handle,
}

impl Workers {
    /// Starts `n` worker threads; they run until the process exits (their
    /// connections close themselves on shutdown, as RESP ones do).
    fn start(n: usize) -> Result<Arc<Workers>, StartError> {
        let threads = |source| StartError::Threads { source };
        let mut loops = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(threads)?;
            loops.push(rt.handle().clone());
            std::thread::Builder::new()
                .name(format!("memcached-{i}"))
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map_err(threads)?;
        }
        Ok(Arc::new(Workers {
            loops,
            next: AtomicUsize::new(0),
            main: Handle::current(),
        }))
    }

    /// Moves an accepted connection to the next worker and serves it there.
    fn deal(self: &Arc<Self>, shared: Arc<Shared>, sock: TcpStream, addr: SocketAddr) {
        // Deregistered from this runtime's reactor, registered with the worker's.
        let sock = match sock.into_std() {
            Ok(s) => s,
            Err(e) => {
                debug!("cannot hand over a memcached connection: {e}");
                return;
            }
        };
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.loops.len();
        let workers = self.clone();
        self.loops[i].spawn(async move {
            let stats = shared.memcache.block(i + 1);
            match TcpStream::from_std(sock) {
                Ok(sock) => handle(&shared, stats, &workers, sock, addr).await,
                Err(e) => debug!("cannot register a memcached connection: {e}"),
            }
        });
    }
}

/// Starts the memcached worker threads and the accept loops of
/// already-bound memcached listeners (nothing when there are none).
pub fn spawn(shared: Arc<Shared>, listeners: Vec<TcpListener>) -> Result<(), StartError> {
    if listeners.is_empty() {
        return Ok(());
    }
    let workers = Workers::start(shared.config.read().memcached_worker_threads())?;
    for l in listeners {
        let shared = shared.clone();
        let workers = workers.clone();
        tokio::spawn(async move {
            super::accept_until_shutdown(shared, l, "memcached", move |sh, sock, addr| {
                let workers = workers.clone();
                async move { workers.deal(sh, sock, addr) }
            })
            .await
        });
    }
    Ok(())
}

/// Admits one memcached connection as a client of the node, serves it, and
/// unregisters it.
async fn handle(
    shared: &Arc<Shared>,
    stats: &McCounters,
    workers: &Workers,
    mut sock: TcpStream,
    addr: SocketAddr,
) {
    shared
        .stats
        .connections_received
        .fetch_add(1, Ordering::Relaxed);
    let (maxclients, access) = {
        let c = shared.config.read();
        (c.maxclients, Access::of(&c))
    };
    let refusal = if shared.clients.len() as u64 >= maxclients {
        Some(TOO_MANY)
    } else if access.refuses(addr.ip()) {
        Some(PROTECTED_MODE_MEMCACHED.as_bytes())
    } else {
        None
    };
    if let Some(refusal) = refusal {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = sock.write_all(refusal).await;
        return;
    }
    let laddr = sock.local_addr().unwrap_or(addr);
    let client = shared.clients.register(addr, laddr, now_ms());
    stats.total_connections.fetch_add(1, Ordering::Relaxed);
    stats.curr_connections.fetch_add(1, Ordering::Relaxed);
    serve(shared, stats, workers, &client, sock, access.needs_auth).await;
    stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
    shared.clients.unregister(client.id);
}

/// Sleeps `secs` (never when 0): the idle `timeout`.
async fn idle_timer(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    }
    // Boxed: an idle connection's task stays small when no timeout is set.
    Box::pin(tokio::time::sleep(Duration::from_secs(secs))).await;
}

/// Serves one memcached connection until it closes, is killed or idles out;
/// with `needs_auth`, its requests are served only once it authenticates
/// (`memcache::auth`).
async fn serve(
    shared: &Arc<Shared>,
    stats: &McCounters,
    workers: &Workers,
    client: &ClientHandle,
    mut sock: TcpStream,
    needs_auth: bool,
) {
    let mut authenticated = !needs_auth;
    let _ = sock.set_nodelay(true);
    let mut inbuf = BytesMut::new();
    let mut out: Vec<u8> = Vec::new();
    let mut swallow = 0usize;
    let addr = client.addr.to_string();
    let mut stop = shared.shutdown.subscribe();
    // Created once and kept registered: re-creating them per read costs a
    // waiter-list lock and unlock each time.
    let mut stopped = std::pin::pin!(stop.changed());
    let mut woken = std::pin::pin!(client.wake.notified());
    loop {
        // One config read per batch: the parser limits, the idle timeout and
        // (until authenticated) the password.
        let (limits, idle, gate) = {
            let c = shared.config.read();
            let gate = (!authenticated)
                .then(|| authenticate(c.requirepass.as_bytes(), &mut inbuf, &mut out));
            (limits(&c), c.timeout, gate)
        };
        authenticated |= gate == Some(Gate::Open);
        let next = match gate {
            Some(Gate::Read) => Next::Read,
            Some(Gate::Close) => Next::Close,
            None | Some(Gate::Open) => process(
                shared,
                stats,
                limits,
                &addr,
                &mut inbuf,
                &mut out,
                &mut swallow,
            ),
        };
        // BCAST invalidations of this batch's changes, as after a RESP command.
        if shared.store.tracking.is_on() {
            crate::cmd::tracking::between_commands(&shared.node);
        }
        if !out.is_empty() {
            // Other ready connections run first, so replies leave together
            // (see the same step in `server::conn`).
            if matches!(next, Next::Read) {
                tokio::task::yield_now().await;
            }
            stats
                .bytes_written
                .fetch_add(out.len() as u64, Ordering::Relaxed);
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        match next {
            Next::Flush => continue,
            Next::Close => return,
            Next::Proxy(plan) => {
                Box::pin(super::forward::run_memcached(
                    shared,
                    &workers.main,
                    plan,
                    &mut out,
                ))
                .await;
                continue;
            }
            Next::Read => {}
        }
        if client.killed.load(Ordering::Acquire) {
            return;
        }
        // Like Redis with its query buffer, a waiting connection keeps no
        // buffers it does not need: they are allocated again when input
        // arrives (the output is empty here, everything was written).
        if inbuf.is_empty() {
            spare::give(std::mem::take(&mut inbuf));
        }
        out = Vec::new();
        let state = std::mem::size_of::<ClientHandle>();
        client
            .mem
            .publish(inbuf.len(), inbuf.capacity(), state + inbuf.capacity());
        // `biased`: when the socket woke the task, only the read is polled
        // (the others are polled, and their wakers kept, only while it waits).
        let read = tokio::select! {
            biased;
            r = sock.readable() => match r {
                Ok(()) => {
                    // Room for a whole request: a read takes at most the
                    // spare capacity, which shrinks as parsed bytes are
                    // advanced past, and a request split over two reads
                    // costs a syscall and a parse retry.
                    spare::refill(&mut inbuf);
                    if inbuf.capacity() - inbuf.len() < READ_ROOM {
                        inbuf.reserve(READ_ROOM);
                    }
                    match sock.try_read_buf(&mut inbuf) {
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        r => r,
                    }
                }
                Err(e) => Err(e),
            },
            _ = &mut woken => {
                woken.set(client.wake.notified());
                continue;
            }
            _ = &mut stopped => return,
            _ = idle_timer(idle) => {
                debug!(id = client.id, "closing idle memcached client");
                return;
            }
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}
