//! The node: shared state, listeners, background tasks and shutdown.

pub mod blocking;
pub mod busypoll;
pub mod client;
pub mod conn;
pub mod pubsub;
pub mod slowlog;
pub mod watch;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch as tokio_watch};
use tracing::{info, warn};

use crate::config::Settings;
use crate::error::StartError;
use crate::store::{now_ms, Store};

pub use client::{Client, ClientHandle, ClientRegistry};

/// Per-command counters (INFO commandstats).
#[derive(Debug, Default)]
pub struct CmdStat {
    /// Executions.
    pub calls: AtomicU64,
    /// Total microseconds.
    pub usec: AtomicU64,
    /// Rejected before execution (arity, OOM, auth...).
    pub rejected: AtomicU64,
    /// Executed but answered an error.
    pub failed: AtomicU64,
}

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Accepted connections.
    pub connections_received: AtomicU64,
    /// Commands executed.
    pub commands_processed: AtomicU64,
    /// Connections refused (maxclients, protected mode).
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Clients closed for output buffer overrun.
    pub client_output_limit_disconnections: AtomicU64,
    /// Clients closed for query buffer overrun.
    pub client_query_buffer_limit_disconnections: AtomicU64,
    /// Error replies by code (`ERR`, `WRONGTYPE`, ...) for INFO errorstats.
    pub error_codes: parking_lot::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl ServerStats {
    /// Counts one error reply under its code, the text's first word (Redis'
    /// `afterErrorReply`; at most 128 distinct codes are tracked).
    pub fn count_error(&self, text: &[u8]) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &text[..text.len().min(32)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(n) => &head[..n],
            None => b"ERR".as_slice(),
        };
        let code = String::from_utf8_lossy(code);
        let mut m = self.error_codes.lock();
        if let Some(n) = m.get_mut(code.as_ref()) {
            *n += 1;
        } else if m.len() < 128 {
            m.insert(code.into_owned(), 1);
        }
    }
}

/// State shared by all connections of the node.
pub struct Shared {
    /// The keyspace.
    pub store: Store,
    /// Current settings (CONFIG SET changes them).
    pub config: RwLock<Settings>,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Counters.
    pub stats: ServerStats,
    /// Per-command counters, parallel to `COMMANDS` (subcommands after them).
    pub cmd_stats: Box<[CmdStat]>,
    /// Exclusive gate: ordinary commands hold it shared, MULTI/EXEC, scripts and
    /// SWAPDB hold it exclusively so nothing interleaves with them.
    pub gate: RwLock<()>,
    /// Slow commands.
    pub slowlog: Mutex<slowlog::SlowLog>,
    /// MONITOR feed.
    pub monitor: broadcast::Sender<Bytes>,
    /// Number of MONITOR clients (skip formatting when zero).
    pub monitors: AtomicUsize,
    /// WATCHed keys.
    pub watches: watch::Watches,
    /// Pub/Sub subscriptions and delivery.
    pub pubsub: pubsub::Hub,
    /// Lua VM, script cache and running-script state.
    pub scripts: crate::scripting::Scripts,
    /// Process start.
    pub started: Instant,
    /// Random 40-hex run id.
    pub run_id: String,
    /// Port actually bound (for INFO when 0 was asked).
    pub bound_port: AtomicU64,
    /// Set to stop the node.
    pub shutdown: tokio_watch::Sender<bool>,
    /// Active expiry switch (DEBUG SET-ACTIVE-EXPIRE).
    pub active_expire: AtomicBool,
    /// Clients blocked in BLPOP-style commands.
    pub blocked_clients: AtomicUsize,
    /// Blocked clients' queues by key, and the hand-off of pushed elements.
    pub blocking: blocking::Blocking,
    /// Recent per-second command counts for INFO instantaneous_ops_per_sec.
    pub ops_samples: Mutex<VecDeque<(u64, u64)>>,
    /// Cluster state (set once at start in cluster mode).
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// memcached protocol counters (`stats`).
    pub memcache: crate::memcache::McStats,
    /// Connection activity for the adaptive busy poller (`busy-poll-us`).
    pub busy_poll: busypoll::BusyPoll,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("run_id", &self.run_id)
            .finish()
    }
}

/// A random 40-character hex id (run ids, node ids).
pub fn random_hex_id() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..40)
        .map(|_| format!("{:x}", r.random_range(0..16u8)))
        .collect()
}

/// Publishes the settings read on every command to lock-free globals
/// (eviction/LFU parameters, slowlog threshold); called at start-up and by CONFIG SET.
pub fn apply_hot_settings(s: &Settings) {
    crate::store::evict::apply_settings(s);
    slowlog::apply_settings(s);
}

impl Shared {
    /// Shared state for the given settings.
    pub fn new(settings: Settings) -> Arc<Self> {
        apply_hot_settings(&settings);
        let (tx, _) = broadcast::channel(4096);
        let (sd, _) = tokio_watch::channel(false);
        let n_stats = crate::cmd::table::stat_slots();
        let memcache = crate::memcache::McStats::new(settings.memcached_worker_threads());
        Arc::new(Shared {
            store: Store::new(settings.databases as usize),
            active_expire: AtomicBool::new(settings.active_expire_enabled),
            config: RwLock::new(settings),
            clients: ClientRegistry::default(),
            stats: ServerStats::default(),
            cmd_stats: (0..n_stats).map(|_| CmdStat::default()).collect(),
            gate: RwLock::new(()),
            slowlog: Mutex::new(slowlog::SlowLog::default()),
            busy_poll: busypoll::BusyPoll::default(),
            monitor: tx,
            monitors: AtomicUsize::new(0),
            watches: watch::Watches::default(),
            pubsub: pubsub::Hub::default(),
            scripts: crate::scripting::Scripts::default(),
            started: Instant::now(),
            run_id: random_hex_id(),
            bound_port: AtomicU64::new(0),
            shutdown: sd,
            blocked_clients: AtomicUsize::new(0),
            blocking: blocking::Blocking::default(),
            ops_samples: Mutex::new(VecDeque::new()),
            cluster: std::sync::OnceLock::new(),
            memcache,
        })
    }

    /// Asks every task of the node to stop.
    pub fn request_shutdown(&self) {
        // A running script (SHUTDOWN NOSAVE while busy) is aborted by its hook.
        self.scripts.run.kill.store(true, Ordering::Release);
        let _ = self.shutdown.send(true);
    }
}

/// How long a leaving cluster member waits for its slots to be handed over.
const LEAVE_LIMIT: Duration = Duration::from_secs(30);

/// SHUTDOWN / SIGTERM: a cluster member first leaves the cluster gracefully
/// (hands its slots over, bounded by `LEAVE_LIMIT`); a second request, or a
/// standalone node, stops at once.
pub fn shutdown_gracefully(shared: &Arc<Shared>) {
    match shared.cluster.get() {
        Some(c) if !c.leaving.load(Ordering::Relaxed) => {
            tokio::spawn(crate::cluster::migrate::leave(
                shared.clone(),
                c.clone(),
                LEAVE_LIMIT,
            ));
        }
        _ => shared.request_shutdown(),
    }
}

/// Binds the listeners and serves until shutdown. Returns when stopped.
pub async fn run(settings: Settings) -> Result<(), StartError> {
    let shared = Shared::new(settings.clone());
    let listeners = bind_all(&settings).await?;
    let mc_listeners = crate::memcache::bind(&settings).await?;
    crate::memcache::spawn(shared.clone(), mc_listeners)?;
    tokio::spawn(busypoll::run(shared.clone()));
    if let Some(l) = listeners.first() {
        if let Ok(a) = l.local_addr() {
            shared.bound_port.store(a.port() as u64, Ordering::Relaxed);
        }
    }
    if settings.metrics_port != 0 {
        let host = settings
            .bind
            .first()
            .map(|s| s.trim_start_matches('-'))
            .unwrap_or("127.0.0.1");
        if let Err(e) = crate::metrics::start(&shared, host, settings.metrics_port) {
            warn!("metrics exporter not started: {e}");
        }
    }
    if settings.cluster_enabled {
        let port = shared.bound_port.load(Ordering::Relaxed) as u16;
        let cluster = crate::cluster::Cluster::new(&settings, port)
            .map_err(|source| StartError::Cluster { source })?;
        info!(id = %cluster.id, "cluster mode");
        let cluster = Arc::new(cluster);
        let _ = shared.cluster.set(cluster.clone());
        tokio::spawn(crate::cluster::gossip::run(shared.clone(), cluster));
    }
    info!(
        port = settings.port,
        "ringcache ready to accept connections"
    );
    serve(shared, listeners).await;
    Ok(())
}

async fn bind_all(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    bind_port(&settings.bind, settings.port).await
}

/// Binds `port` on every `bind` address (IPv6 ones in brackets; a leading
/// `-` marks an optional address in redis.conf and is ignored).
pub async fn bind_port(hosts: &[String], port: u16) -> Result<Vec<TcpListener>, StartError> {
    let mut out = Vec::new();
    for host in hosts {
        let host = host.trim_start_matches('-');
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let l = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.clone(),
                source,
            })?;
        out.push(l);
    }
    Ok(out)
}

/// Serves already-bound listeners (tests bind port 0 and call this).
pub async fn serve(shared: Arc<Shared>, listeners: Vec<TcpListener>) {
    for l in listeners {
        let sh = shared.clone();
        tokio::spawn(async move { accept_loop(sh, l).await });
    }
    tokio::spawn(background(shared.clone()));
    let mut rx = shared.shutdown.subscribe();
    // Registered before any client can be served, so a signal that arrives
    // right after start-up still shuts down gracefully.
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            let sh = shared.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => info!("received SIGINT, shutting down"),
                    _ = term.recv() => info!("received SIGTERM, shutting down"),
                }
                shutdown_gracefully(&sh);
            });
        }
        (Err(e), _) | (_, Err(e)) => warn!("cannot install signal handlers: {e}"),
    }
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            break;
        }
    }
    // Give connections a moment to flush their last replies.
    tokio::time::sleep(Duration::from_millis(50)).await;
    info!("ringcache is now ready to exit, bye bye...");
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    accept_until_shutdown(shared, listener, "RESP", |sh, sock, addr| {
        sh.stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        conn::handle(sh, sock, addr)
    })
    .await;
}

/// Accepts connections on `listener` until shutdown and runs `serve` for each
/// on its own task (the RESP and the memcached listeners share this loop).
pub(crate) async fn accept_until_shutdown<F, Fut>(
    shared: Arc<Shared>,
    listener: TcpListener,
    protocol: &'static str,
    serve: F,
) where
    F: Fn(Arc<Shared>, tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut stop = shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((sock, addr)) => {
                tokio::spawn(serve(shared.clone(), sock, addr));
            }
            Err(e) => {
                warn!("{protocol} accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Periodic work: active expiry, ops/sec sampling, idle timeouts are per connection.
async fn background(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut expiry = crate::store::expire::ActiveExpiry::default();
    loop {
        let hz = shared.config.read().hz.max(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz)) => {}
            _ = stop.changed() => return,
        }
        if shared.active_expire.load(Ordering::Relaxed) {
            expiry.cycle(&shared.store, Duration::from_micros(25_000 / hz * 10 / 10));
        }
        crate::cmd::server::sample_memory_peak();
        let now = now_ms();
        let ops = shared.stats.commands_processed.load(Ordering::Relaxed);
        let mut s = shared.ops_samples.lock();
        s.push_back((now, ops));
        while s.len() > 16 {
            s.pop_front();
        }
    }
}
