//! The memcached listener: text and meta protocol over the node's store.
//!
//! A memcached key is an ordinary key of database 0 (its slot is `key_slot`),
//! stored as a Redis string; client flags and the CAS unique live in the entry
//! (`Entry::mc_flags`, `Entry::mc_cas`). Eviction and expiry are the Redis
//! side's. The connection shell here only moves bytes: `parse` is sans-I/O,
//! `cmd` executes one request synchronously, and `proxy` routes requests for
//! keys of other cluster nodes to their owner (carried out by the server's
//! forwarding shell, `server::forward`). Connections are served on
//! [`Workers`], memcached-style worker threads of their own
//! (`memcached-threads`).
//!
//! memcached connections are registered as clients of the node: they count
//! against `maxclients` (memcached's `ERROR Too many open connections` when
//! full), show in `INFO clients` / `CLIENT LIST`, obey `CLIENT KILL` and the
//! idle `timeout`.
//!
//! The listener obeys the RESP side's access rules: protected mode refuses
//! non-loopback peers (`server::access`), and with `requirepass` set a
//! connection must authenticate first ([`auth`]).

pub mod auth;
pub mod cas;
pub mod cmd;
pub mod parse;
pub mod proxy;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use crate::cmd::{Dispatcher, McOrigin, Shared};
use crate::config::Settings;
use crate::error::CmdError;
use crate::node::mc_stats::McCounters;
use crate::store::now_ms;
use cmd::{Exec, Outcome, Ttl};
use parse::{McParsed, Request, RequestLimits};

/// The `version` we report: memcached's protocol level plus our own.
pub const VERSION: &str = concat!("1.6.18 ringcache-", env!("CARGO_PKG_VERSION"));

/// Output flushed mid-batch once it grows past this.
pub const FLUSH_AT: usize = 64 * 1024;

/// `flush_all [delay]`: drops database 0 now or when the delay passes.
pub fn flush(shared: &Arc<Shared>, when: Ttl, now_ms: u64) {
    match when {
        Ttl::At(at) if at > now_ms => {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(at - now_ms)).await;
                let _gate = shared.gate.read();
                flush_now(&shared);
            });
        }
        _ => flush_now(shared),
    }
}

/// Drops database 0, as a FLUSHDB of database 0 in the replication stream.
fn flush_now(shared: &Shared) {
    shared.tracking.flushed(&shared.node);
    let flushdb = [bytes::Bytes::from_static(b"FLUSHDB")];
    crate::cmd::propagate::record(&shared.node, Some((0, &flushdb)), || {
        shared.store.flush_db(0)
    });
    shared.watches.touch_db(Some(0));
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

/// What the batch asks the connection shell to do.
#[derive(Debug)]
pub enum Next {
    /// Read more input.
    Read,
    /// Write the output, then go on with what is buffered.
    Flush,
    /// Write the output and close.
    Close,
    /// Send a request to its owner node, then go on.
    Proxy(proxy::McPlan),
}

/// The parser limits from the settings.
pub fn limits(c: &Settings) -> RequestLimits {
    RequestLimits {
        item_size_max: c.memcached_max_item_size as usize,
        max_line: c.client_query_buffer_limit as usize,
    }
}

/// Executes every complete request in `inbuf` (the sans-I/O core of the
/// connection shell, `server::mc_conn`) for the client at `addr`.
pub fn process(
    shared: &Arc<Shared>,
    stats: &McCounters,
    limits: RequestLimits,
    addr: &str,
    inbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    swallow: &mut usize,
) -> Next {
    let now = now_ms();
    let origin = McOrigin { addr, now_ms: now };
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
            McParsed::NeedMore => return Next::Read,
            McParsed::Close => return Next::Close,
            McParsed::Request(_, consumed) if !entered => {
                inbuf.advance(consumed);
                busy_reply(shared, out);
                continue;
            }
            McParsed::Request(req, consumed)
                if req.writes() && crate::cmd::replication::refuses_writes(shared) =>
            {
                inbuf.advance(consumed);
                out.extend_from_slice(b"SERVER_ERROR ");
                out.extend_from_slice(crate::cmd::replication::READONLY.as_bytes());
                out.extend_from_slice(b"\r\n");
                continue;
            }
            McParsed::Request(mut req, consumed) => {
                let mut ex = Exec {
                    shared,
                    out: &mut *out,
                    stats,
                    now_ms: now,
                };
                if let Some(c) = cluster {
                    match proxy::route(c, &mut req, &inbuf[..consumed], &mut ex) {
                        proxy::McRoute::Local => {}
                        proxy::McRoute::Answered => {
                            inbuf.advance(consumed);
                            continue;
                        }
                        proxy::McRoute::Remote(plan) => {
                            inbuf.advance(consumed);
                            return Next::Proxy(plan);
                        }
                        proxy::McRoute::LocalThen(plan) => after = Some(plan),
                    }
                }
                let raw = &inbuf[..consumed];
                (
                    dispatcher.run_memcached(raw, origin, || ex.run(req)),
                    consumed,
                )
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
    origin: McOrigin<'_>,
    check: impl FnOnce(&Request<'_>) -> Result<(), CmdError>,
) -> Result<Vec<u8>, CmdError> {
    let limits = limits(&shared.config.read());
    let McParsed::Request(req, _) = parse::parse(raw, limits) else {
        return Err(CmdError::err("incomplete memcached request"));
    };
    check(&req)?;
    let mut out = Vec::new();
    let mut ex = Exec {
        shared,
        out: &mut out,
        stats: shared.memcache.block(0),
        now_ms: origin.now_ms,
    };
    let mut dispatcher = Dispatcher::new(shared);
    dispatcher.run_memcached(raw, origin, || ex.run(req));
    Ok(out)
}
