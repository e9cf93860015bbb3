//! Node state: everything a request needs besides the cluster and the
//! network: the keyspace, settings, clients, counters, pub/sub hub, WATCHes,
//! client-tracking table, blocked clients, slowlog, MONITOR feed and the gate. No sockets live here;
//! the layers above (cluster, commands, server) hold a [`Node`] and read it.

pub mod blocking;
pub mod busy_poll;
pub mod clients;
pub mod gate;
pub mod latency;
pub mod latency_histogram;
pub mod mc_stats;
pub mod pause;
pub mod pubsub;
pub mod replication;
pub mod slowlog;
pub mod stats;
pub mod tracking;
pub mod watch;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{broadcast, watch as tokio_watch};

use crate::config::Settings;
use crate::store::Store;
use clients::ClientRegistry;
use stats::{CmdStat, ServerStats};

/// State shared by all connections and tasks of the node.
pub struct Node {
    /// The keyspace.
    pub store: Store,
    /// Current settings (CONFIG SET changes them).
    pub config: RwLock<Settings>,
    /// Connected clients.
    pub clients: ClientRegistry,
    /// Counters.
    pub stats: ServerStats,
    /// Per-command counters, parallel to the command table (subcommands after it).
    pub cmd_stats: Box<[CmdStat]>,
    /// Exclusive gate (see `gate`).
    pub gate: gate::Gate,
    /// The running script's state, read by the gate's waiters and the VM hook.
    pub script_run: Arc<gate::ScriptRun>,
    /// Slow commands.
    pub slowlog: Mutex<slowlog::SlowLog>,
    /// LATENCY LATEST/HISTORY samples.
    pub latency: Mutex<latency::LatencyMonitor>,
    /// CLIENT PAUSE state.
    pub pause: pause::ClientPause,
    /// MONITOR feed.
    pub monitor: broadcast::Sender<Bytes>,
    /// Number of MONITOR clients (skip formatting when zero).
    pub monitors: AtomicUsize,
    /// WATCHed keys.
    pub watches: watch::Watches,
    /// Pub/Sub subscriptions and delivery.
    pub pubsub: pubsub::Hub,
    /// Client-side caching: tracking clients and the keys they read.
    pub tracking: tracking::Tracking,
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
    /// memcached protocol counters (`stats`).
    pub memcache: mc_stats::McStats,
    /// Connection activity for the adaptive busy poller (`busy-poll-us`).
    pub busy_poll: busy_poll::BusyPoll,
    /// Role, replication stream, backlog and replicas (`REPLICAOF`).
    pub repl: replication::Replication,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
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
/// (eviction/LFU parameters, keyspace notification classes, the pubsub
/// backlog limit, slowlog threshold); called at start-up and by CONFIG SET.
pub fn apply_hot_settings(s: &Settings) {
    crate::store::evict::apply_settings(s);
    crate::store::notify::apply_settings(s);
    pubsub::apply_settings(s);
    slowlog::apply_settings(s);
    latency::apply_settings(s);
    tracking::apply_settings(s);
}

impl Node {
    /// Node state for the given settings, with `commands` per-command
    /// counter slots (the command table's size).
    pub fn new(settings: Settings, commands: usize) -> Node {
        apply_hot_settings(&settings);
        let (tx, _) = broadcast::channel(4096);
        let (sd, _) = tokio_watch::channel(false);
        let memcache = mc_stats::McStats::new(settings.memcached_worker_threads());
        Node {
            store: Store::new(settings.databases as usize),
            active_expire: AtomicBool::new(settings.active_expire_enabled),
            config: RwLock::new(settings),
            clients: ClientRegistry::default(),
            stats: ServerStats::default(),
            cmd_stats: (0..commands).map(|_| CmdStat::default()).collect(),
            gate: gate::Gate::default(),
            script_run: Arc::default(),
            slowlog: Mutex::new(slowlog::SlowLog::default()),
            latency: Mutex::new(latency::LatencyMonitor::default()),
            pause: pause::ClientPause::default(),
            busy_poll: busy_poll::BusyPoll::default(),
            monitor: tx,
            monitors: AtomicUsize::new(0),
            watches: watch::Watches::default(),
            pubsub: pubsub::Hub::default(),
            tracking: tracking::Tracking::default(),
            started: Instant::now(),
            run_id: random_hex_id(),
            bound_port: AtomicU64::new(0),
            shutdown: sd,
            blocked_clients: AtomicUsize::new(0),
            blocking: blocking::Blocking::default(),
            ops_samples: Mutex::new(VecDeque::new()),
            memcache,
            repl: replication::Replication::new(random_hex_id()),
        }
    }

    /// Asks every task of the node to stop.
    pub fn request_shutdown(&self) {
        // A running script (SHUTDOWN NOSAVE while busy) is aborted by its hook.
        self.script_run.kill.store(true, Ordering::Release);
        let _ = self.shutdown.send(true);
    }

    /// True when a script has been running longer than `busy-reply-threshold`.
    pub fn script_busy(&self) -> bool {
        self.script_run
            .busy(self.config.read().busy_reply_threshold)
    }

    /// Takes the gate shared for an ordinary command; None while a script is busy.
    pub fn enter_shared(&self) -> Option<RwLockReadGuard<'_, ()>> {
        self.gate.enter_shared(|| self.script_busy())
    }

    /// Takes the gate exclusively; None while a script is busy.
    pub fn enter_exclusive(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        self.gate.enter_exclusive(|| self.script_busy())
    }

    /// Evicts until under `maxmemory`; `-OOM` when that is impossible.
    pub fn ensure_memory(&self) -> Result<(), crate::error::CmdError> {
        crate::store::evict::ensure_memory(&self.store, &self.config)
    }
}
