//! The memcached listener: text and meta protocol over the node's store.
//!
//! A memcached key is an ordinary key of database 0 (its slot is `key_slot`),
//! stored as a Redis string; client flags and the CAS unique live in the entry
//! (`Entry::mc_flags`, `Entry::mc_cas`). Eviction and expiry are the Redis
//! side's. The connection shell here only moves bytes: `parse` is sans-I/O and
//! `cmd` executes one request synchronously.

pub mod cas;
pub mod cmd;
pub mod parse;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

use crate::config::Settings;
use crate::error::StartError;
use crate::server::Shared;
use crate::store::now_ms;
use cmd::{Exec, Outcome, Ttl};
use parse::{Limits, Parsed};

/// The `version` we report: memcached's protocol level plus our own.
pub const VERSION: &str = concat!("1.6.18 ringcache-", env!("CARGO_PKG_VERSION"));

/// Output flushed mid-batch once it grows past this.
const FLUSH_AT: usize = 64 * 1024;

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// memcached's counters, named as in `stats`.
        #[derive(Debug, Default)]
        pub struct McStats {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub $name: AtomicU64,
            )*
        }

        impl McStats {
            /// `stats reset`: zeroes the resettable counters.
            pub fn reset(&self) {
                $( if stringify!($name) != "curr_connections" {
                    self.$name.store(0, Ordering::Relaxed);
                } )*
            }
        }
    };
}

counters!(
    curr_connections,
    total_connections,
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    get_hits,
    get_misses,
    get_expired,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    bytes_read,
    bytes_written,
    total_items,
);

/// State of the memcached side of a node.
pub struct McNode {
    /// The node (store, config, eviction).
    pub shared: Arc<Shared>,
    /// Counters.
    pub stats: McStats,
}

impl McNode {
    /// A memcached front end over `shared`.
    pub fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(McNode {
            shared,
            stats: McStats::default(),
        })
    }

    /// `flush_all [delay]`: drops database 0 now or when the delay passes.
    pub fn flush(&self, when: Ttl, now_ms: u64) {
        match when {
            Ttl::At(at) if at > now_ms => {
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(at - now_ms)).await;
                    shared.store.flush_db(0);
                    shared.watches.touch_db(Some(0));
                });
            }
            _ => {
                self.shared.store.flush_db(0);
                self.shared.watches.touch_db(Some(0));
            }
        }
    }

    /// The `stats` lines (without END).
    pub fn general_stats(&self) -> String {
        let s = &self.stats;
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let now = now_ms();
        let uptime = self.shared.started.elapsed().as_secs();
        let (maxmem, maxclients) = {
            let c = self.shared.config.read();
            (c.maxmemory, c.maxclients)
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
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
        stat("curr_connections", &g(&s.curr_connections));
        stat("total_connections", &g(&s.total_connections));
        stat("cmd_get", &g(&s.cmd_get));
        stat("cmd_set", &g(&s.cmd_set));
        stat("cmd_flush", &g(&s.cmd_flush));
        stat("cmd_touch", &g(&s.cmd_touch));
        stat("get_hits", &g(&s.get_hits));
        stat("get_misses", &g(&s.get_misses));
        stat("get_expired", &g(&s.get_expired));
        stat("get_flushed", &0);
        stat("delete_misses", &g(&s.delete_misses));
        stat("delete_hits", &g(&s.delete_hits));
        stat("incr_misses", &g(&s.incr_misses));
        stat("incr_hits", &g(&s.incr_hits));
        stat("decr_misses", &g(&s.decr_misses));
        stat("decr_hits", &g(&s.decr_hits));
        stat("cas_misses", &g(&s.cas_misses));
        stat("cas_hits", &g(&s.cas_hits));
        stat("cas_badval", &g(&s.cas_badval));
        stat("touch_hits", &g(&s.touch_hits));
        stat("touch_misses", &g(&s.touch_misses));
        stat("store_too_large", &g(&s.store_too_large));
        stat("bytes_read", &g(&s.bytes_read));
        stat("bytes_written", &g(&s.bytes_written));
        stat("limit_maxbytes", &maxmem);
        stat("threads", &threads);
        stat("bytes", &crate::alloc::used_memory());
        stat("curr_items", &self.shared.store.dbsize(0));
        stat("total_items", &g(&s.total_items));
        stat(
            "evictions",
            &self.shared.store.stats.evicted_keys.load(Ordering::Relaxed),
        );
        o
    }

    /// The `stats settings` lines (without END).
    pub fn settings_stats(&self) -> String {
        let c = self.shared.config.read();
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
        stat("maxmemory_policy", &c.maxmemory_policy.name());
        o
    }
}

/// Binds the memcached listeners (none when `memcached-port` is 0).
pub async fn bind(settings: &Settings) -> Result<Vec<TcpListener>, StartError> {
    if settings.memcached_port == 0 {
        return Ok(Vec::new());
    }
    crate::server::bind_port(&settings.bind, settings.memcached_port).await
}

/// Spawns the accept loops of already-bound memcached listeners.
pub fn spawn(shared: Arc<Shared>, listeners: Vec<TcpListener>) {
    if listeners.is_empty() {
        return;
    }
    let node = McNode::new(shared);
    for l in listeners {
        let node = node.clone();
        tokio::spawn(async move { accept_loop(node, l).await });
    }
}

async fn accept_loop(node: Arc<McNode>, listener: TcpListener) {
    let mut stop = node.shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((sock, _)) => {
                let node = node.clone();
                tokio::spawn(async move {
                    node.stats.total_connections.fetch_add(1, Ordering::Relaxed);
                    node.stats.curr_connections.fetch_add(1, Ordering::Relaxed);
                    handle(&node, sock).await;
                    node.stats.curr_connections.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) => {
                warn!("memcached accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What the batch asks the shell to do.
enum Next {
    Read,
    Flush,
    Close,
}

/// Serves one memcached connection.
async fn handle(node: &McNode, mut sock: TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut inbuf = BytesMut::with_capacity(16 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut swallow = 0usize;
    let mut stop = node.shared.shutdown.subscribe();
    loop {
        let next = process(node, &mut inbuf, &mut out, &mut swallow);
        if !out.is_empty() {
            node.stats
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
            Next::Read => {}
        }
        let read = tokio::select! {
            r = sock.read_buf(&mut inbuf) => r,
            _ = stop.changed() => return,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                node.stats.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Executes every complete request in `inbuf` (sans-I/O core of `handle`).
fn process(node: &McNode, inbuf: &mut BytesMut, out: &mut Vec<u8>, swallow: &mut usize) -> Next {
    let limits = {
        let c = node.shared.config.read();
        Limits {
            item_size_max: c.memcached_max_item_size as usize,
            max_line: c.client_query_buffer_limit as usize,
        }
    };
    let now = now_ms();
    let _gate = node.shared.gate.read();
    loop {
        if *swallow > 0 {
            let n = (*swallow).min(inbuf.len());
            inbuf.advance(n);
            *swallow -= n;
            if *swallow > 0 {
                return Next::Read;
            }
        }
        let (outcome, consumed) = match parse::parse(inbuf, limits) {
            Parsed::NeedMore => return Next::Read,
            Parsed::Close => return Next::Close,
            Parsed::Request(req, consumed) => {
                let mut ex = Exec {
                    node,
                    out: &mut *out,
                    now_ms: now,
                };
                (ex.run(req), consumed)
            }
        };
        inbuf.advance(consumed);
        match outcome {
            Outcome::Continue => {}
            Outcome::Swallow(n) => *swallow = n,
            Outcome::Close => return Next::Close,
        }
        if out.len() >= FLUSH_AT {
            return Next::Flush;
        }
    }
}
