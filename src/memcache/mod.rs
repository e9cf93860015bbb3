//! The memcached listener: text and meta protocol over the node's store.
//!
//! A memcached key is an ordinary key of database 0 (its slot is `key_slot`),
//! stored as a Redis string; client flags and the CAS unique live in the entry
//! (`Entry::mc_flags`, `Entry::mc_cas`). Eviction and expiry are the Redis
//! side's. The connection shell here only moves bytes: `parse` is sans-I/O,
//! `cmd` executes one request synchronously, and `proxy` sends requests for
//! keys of other cluster nodes to their owner. Connections are served on
//! [`Workers`], memcached-style worker threads of their own
//! (`memcached-threads`).
//!
//! memcached connections are registered as clients of the node: they count
//! against `maxclients` (memcached's `ERROR Too many open connections` when
//! full), show in `INFO clients` / `CLIENT LIST`, obey `CLIENT KILL` and the
//! idle `timeout`.

pub mod cas;
pub mod cmd;
pub mod parse;
pub mod proxy;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tracing::debug;

use crate::cmd::{Dispatcher, Shared};
use crate::config::Settings;
use crate::error::{CmdError, StartError};
use crate::node::clients::ClientHandle;
use crate::node::mc_stats::McCounters;
use crate::store::now_ms;
use cmd::{Exec, Outcome, Ttl};
use parse::{Limits, Parsed, Request};

/// The `version` we report: memcached's protocol level plus our own.
pub const VERSION: &str = concat!("1.6.18 ringcache-", env!("CARGO_PKG_VERSION"));

/// Output flushed mid-batch once it grows past this.
const FLUSH_AT: usize = 64 * 1024;

/// Spare input capacity kept before each read.
const READ_ROOM: usize = 16 * 1024;

/// memcached's answer to a connection over the limit (then it closes).
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

/// `flush_all [delay]`: drops database 0 now or when the delay passes.
pub fn flush(shared: &Arc<Shared>, when: Ttl, now_ms: u64) {
    match when {
        Ttl::At(at) if at > now_ms => {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(at - now_ms)).await;
                shared.store.flush_db(0);
                shared.watches.touch_db(Some(0));
            });
        }
        _ => {
            shared.store.flush_db(0);
            shared.watches.touch_db(Some(0));
        }
    }
}

/// The `stats` lines (without END).
pub fn general_stats(shared: &Shared) -> String {
    let s = shared.memcache.totals();
    let now = now_ms();
    let uptime = shared.started.elapsed().as_secs();
    let (maxmem, maxclients, threads) = {
        let c = shared.config.read();
        (c.maxmemory, c.maxclients, c.memcached_worker_threads())
    };
    let mut o = String::with_capacity(1024);
    let mut stat = |name: &str, v: &dyn std::fmt::Display| {
        let _ = write!(o, "STAT {name} {v}\r\n");
    };
    stat("pid", &std::process::id());
    stat("uptime", &uptime);
    stat("time", &(now / 1000));
    stat("version", &VERSION);
    stat("pointer_size", &(usize::BITS));
    stat("max_connections", &maxclients);
    stat("curr_connections", &s.curr_connections);
    stat("total_connections", &s.total_connections);
    stat("rejected_connections", &s.rejected_connections);
    stat("cmd_get", &s.cmd_get);
    stat("cmd_set", &s.cmd_set);
    stat("cmd_flush", &s.cmd_flush);
    stat("cmd_touch", &s.cmd_touch);
    stat("get_hits", &s.get_hits);
    stat("get_misses", &s.get_misses);
    stat("get_expired", &s.get_expired);
    stat("get_flushed", &0);
    stat("delete_misses", &s.delete_misses);
    stat("delete_hits", &s.delete_hits);
    stat("incr_misses", &s.incr_misses);
    stat("incr_hits", &s.incr_hits);
    stat("decr_misses", &s.decr_misses);
    stat("decr_hits", &s.decr_hits);
    stat("cas_misses", &s.cas_misses);
    stat("cas_hits", &s.cas_hits);
    stat("cas_badval", &s.cas_badval);
    stat("touch_hits", &s.touch_hits);
    stat("touch_misses", &s.touch_misses);
    stat("store_too_large", &s.store_too_large);
    stat("bytes_read", &s.bytes_read);
    stat("bytes_written", &s.bytes_written);
    stat("limit_maxbytes", &maxmem);
    stat("threads", &threads);
    stat("bytes", &crate::alloc::used_memory());
    stat("curr_items", &shared.store.dbsize(0));
    stat("total_items", &s.total_items);
    stat(
        "evictions",
        &shared.store.stats.evicted_keys.load(Ordering::Relaxed),
    );
    o
}

/// The `stats settings` lines (without END).
pub fn settings_stats(shared: &Shared) -> String {
    let c = shared.config.read();
    let mut o = String::with_capacity(512);
    let mut stat = |name: &str, v: &dyn std::fmt::Display| {
        let _ = write!(o, "STAT {name} {v}\r\n");
    };
    stat("maxbytes", &c.maxmemory);
    stat("maxconns", &c.maxclients);
    stat("tcpport", &c.memcached_port);
    stat("udpport", &0);
    stat("interface", &c.bind.join(","));
    stat("verbosity", &0);
    stat(
        "evictions",
        &if c.maxmemory_policy.name() == "noeviction" {
            "off"
        } else {
            "on"
        },
    );
    stat("cas_enabled", &"yes");
    stat("item_size_max", &c.memcached_max_item_size);
    stat("idle_timeout", &c.timeout);
    stat("maxmemory_policy", &c.maxmemory_policy.name());
    o
}

/// Binds the memcached listeners (none when `memcached-port` is 0).
pub async fn bind(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    if settings.memcached_port == 0 {
        return Ok(Vec::new());
    }
    crate::server::bind_port(&settings.bind, settings.memcached_port).await
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
            crate::server::accept_until_shutdown(shared, l, "memcached", move |sh, sock, addr| {
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
    let maxclients = shared.config.read().maxclients;
    if shared.clients.len() as u64 >= maxclients {
        shared
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = sock.write_all(TOO_MANY).await;
        return;
    }
    let laddr = sock.local_addr().unwrap_or(addr);
    let client = shared.clients.register(addr, laddr, now_ms());
    stats.total_connections.fetch_add(1, Ordering::Relaxed);
    stats.curr_connections.fetch_add(1, Ordering::Relaxed);
    serve(shared, stats, workers, &client, sock).await;
    stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
    shared.clients.unregister(client.id);
}

/// What the batch asks the shell to do.
enum Next {
    Read,
    Flush,
    Close,
    /// Send a request to its owner node, then go on.
    Proxy(proxy::Plan),
}

/// Sleeps `secs` (never when 0): the idle `timeout`.
async fn idle_timer(secs: u64) {
    if secs == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
}

/// Serves one memcached connection until it closes, is killed or idles out.
async fn serve(
    shared: &Arc<Shared>,
    stats: &McCounters,
    workers: &Workers,
    client: &ClientHandle,
    mut sock: TcpStream,
) {
    let _ = sock.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(READ_ROOM);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut swallow = 0usize;
    let mut stop = shared.shutdown.subscribe();
    // Created once and kept registered: re-creating them per read costs a
    // waiter-list lock and unlock each time.
    let mut stopped = std::pin::pin!(stop.changed());
    let mut woken = std::pin::pin!(client.wake.notified());
    loop {
        // One config read per batch: the parser limits and the idle timeout.
        let (limits, idle) = {
            let c = shared.config.read();
            (limits(&c), c.timeout)
        };
        let next = process(shared, stats, limits, &mut inbuf, &mut out, &mut swallow);
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
                proxy::run(shared, &workers.main, plan, &mut out).await;
                continue;
            }
            Next::Read => {}
        }
        if client.killed.load(Ordering::Acquire) {
            return;
        }
        // Room for a whole request: `read_buf` reads at most the spare
        // capacity, which shrinks as parsed bytes are advanced past, and a
        // request split over two reads costs a syscall and a parse retry.
        // Reserving in an empty buffer just rewinds it (no allocation).
        if inbuf.capacity() - inbuf.len() < READ_ROOM {
            inbuf.reserve(READ_ROOM);
        }
        // `biased`: when the socket woke the task, only the read is polled
        // (the others are polled, and their wakers kept, only while it waits).
        let read = tokio::select! {
            biased;
            r = sock.read_buf(&mut inbuf) => r,
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

/// The parser limits from the settings.
fn limits(c: &Settings) -> Limits {
    Limits {
        item_size_max: c.memcached_max_item_size as usize,
        max_line: c.client_query_buffer_limit as usize,
    }
}

/// Executes every complete request in `inbuf` (sans-I/O core of `serve`).
fn process(
    shared: &Arc<Shared>,
    stats: &McCounters,
    limits: Limits,
    inbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    swallow: &mut usize,
) -> Next {
    let now = now_ms();
    let cluster = shared.cluster.get();
    // The same gate entry as every RESP command: waits out a transaction or
    // a short script, answers a busy script's error instead of waiting on it.
    let mut dispatcher = Dispatcher::new(shared);
    let entered = dispatcher.enter();
    loop {
        if *swallow > 0 {
            let n = (*swallow).min(inbuf.len());
            inbuf.advance(n);
            *swallow -= n;
            if *swallow > 0 {
                return Next::Read;
            }
        }
        let mut after = None;
        let (outcome, consumed) = match parse::parse(inbuf, limits) {
            Parsed::NeedMore => return Next::Read,
            Parsed::Close => return Next::Close,
            Parsed::Request(_, consumed) if !entered => {
                inbuf.advance(consumed);
                busy_reply(shared, out);
                continue;
            }
            Parsed::Request(mut req, consumed) => {
                let mut ex = Exec {
                    shared,
                    out: &mut *out,
                    stats,
                    now_ms: now,
                };
                if let Some(c) = cluster {
                    match proxy::route(c, &mut req, &inbuf[..consumed], &mut ex) {
                        proxy::Route::Local => {}
                        proxy::Route::Answered => {
                            inbuf.advance(consumed);
                            continue;
                        }
                        proxy::Route::Remote(plan) => {
                            inbuf.advance(consumed);
                            return Next::Proxy(plan);
                        }
                        proxy::Route::LocalThen(plan) => after = Some(plan),
                    }
                }
                (ex.run(req), consumed)
            }
        };
        inbuf.advance(consumed);
        match outcome {
            Outcome::Continue => {}
            Outcome::Swallow(n) => *swallow = n,
            Outcome::Close => return Next::Close,
        }
        if let Some(plan) = after {
            return Next::Proxy(plan);
        }
        if out.len() >= FLUSH_AT {
            return Next::Flush;
        }
    }
}

/// A script is busy: memcached's server error carrying Redis' `-BUSY` text.
pub fn busy_reply(shared: &Shared, out: &mut Vec<u8>) {
    out.extend_from_slice(b"SERVER_ERROR ");
    out.extend_from_slice(shared.script_run.busy_error().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Executes one raw request forwarded by a peer (`CLUSTER MC`), or held by
/// this node's proxy, once `check` accepts it, and returns its raw reply;
/// the caller holds the gate.
pub fn execute_forwarded(
    shared: &Arc<Shared>,
    raw: &[u8],
    now_ms: u64,
    check: impl FnOnce(&Request<'_>) -> Result<(), CmdError>,
) -> Result<Vec<u8>, CmdError> {
    let limits = limits(&shared.config.read());
    let Parsed::Request(req, _) = parse::parse(raw, limits) else {
        return Err(CmdError::err("incomplete memcached request"));
    };
    check(&req)?;
    let mut out = Vec::new();
    let mut ex = Exec {
        shared,
        out: &mut out,
        stats: shared.memcache.block(0),
        now_ms,
    };
    ex.run(req);
    Ok(out)
}
