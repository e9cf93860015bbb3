//! INFO: the server report of every section Redis' INFO has (server,
//! clients, memory, persistence, stats, replication, CPU, modules,
//! commandstats, errorstats, latencystats, cluster, keyspace), and the
//! memory peak the server cron samples for it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use super::command;
use super::ctx::Ctx;
use crate::error::CmdResult;

/// Highest `used_memory` seen (process-wide, like the allocator counter).
static PEAK_MEMORY: AtomicU64 = AtomicU64::new(0);

/// Samples `used_memory` into the peak (called by the cron and by INFO, like
/// Redis' `cronUpdateMemoryStats`); returns (used, peak).
pub fn sample_memory_peak() -> (u64, u64) {
    let used = crate::alloc::used_memory() as u64;
    let peak = PEAK_MEMORY.fetch_max(used, Ordering::Relaxed).max(used);
    (used, peak)
}

/// Estimated average remaining TTL (ms) of the volatile keys of `db`, from
/// up to 64 keys found walking the slots from a random one (Redis estimates
/// `avg_ttl` by sampling too).
fn sample_avg_ttl(store: &crate::store::Store, db: usize, now_ms: u64) -> u64 {
    use rand::Rng;
    let slots = crate::store::SLOTS;
    let start = rand::rng().random_range(0..slots);
    let (mut sum, mut n) = (0u64, 0u64);
    for i in 0..slots {
        let mut l = store.lock_slot(db, ((start + i) % slots) as u16, now_ms);
        let t = l.table();
        if t.volatile() == 0 {
            continue;
        }
        for at in t.iter().filter_map(|e| e.expire_at()).take(64) {
            sum = sum.saturating_add(at.saturating_sub(now_ms));
            n += 1;
        }
        if n >= 64 {
            break;
        }
    }
    sum.checked_div(n).unwrap_or(0)
}

/// Physical memory of the machine (INFO `total_system_memory`).
fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        0
    }
}

/// Redis' `bytesToHuman`: `512B`, `1.50K`, `2.00M`, `3.10G`.
fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if f < 1024.0 * 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else if f < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", f / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", f / 1024.0 / 1024.0 / 1024.0)
    }
}

/// The sections of a plain INFO (and of INFO DEFAULT).
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];

/// System and user CPU seconds of the process (INFO `used_cpu_sys`/`used_cpu_user`).
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the provided struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// INFO latencystats: `latency_percentiles_usec_<command>:p50=..,p99=..`
/// for every command with samples, at the percentiles of
/// `latency-tracking-info-percentiles` (Redis' `%f` trimmed labels and
/// `%.3f` microsecond values).
fn latency_stats(ctx: &Ctx<'_>, percentiles: &str) -> String {
    let percentiles: Vec<f64> = percentiles
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let mut out = String::new();
    for (cmd, stat) in command::all_commands()
        .iter()
        .zip(ctx.shared.cmd_stats.iter())
    {
        let Some(snap) = stat.latency.snapshot() else {
            continue;
        };
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let label = format!("{p:.6}");
                let label = label.trim_end_matches('0').trim_end_matches('.');
                format!(
                    "p{label}={:.3}",
                    snap.value_at_percentile(p) as f64 / 1000.0
                )
            })
            .collect();
        let _ = write!(
            out,
            "latency_percentiles_usec_{}:{}\r\n",
            cmd.name,
            values.join(",")
        );
    }
    out
}

/// Builds the INFO text for the requested sections.
fn info_text(ctx: &Ctx<'_>, sections: &[String]) -> String {
    let sh = ctx.shared;
    let all = sections.iter().any(|s| s == "all" || s == "everything");
    let default = sections.is_empty() || sections.iter().any(|s| s == "default");
    let wanted = |name: &str| {
        all || (default && DEFAULT_SECTIONS.contains(&name)) || sections.iter().any(|s| s == name)
    };
    let cfg = sh.config.read().clone();
    let mut out = String::new();
    let section = |out: &mut String, title: &str| {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let _ = write!(out, "# {title}\r\n");
    };
    let uptime = sh.started.elapsed().as_secs();
    if wanted("server") {
        section(&mut out, "Server");
        let _ = write!(
            out,
            "redis_version:{}\r\nringcache_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:ringcache\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
            super::connection::REDIS_VERSION,
            env!("CARGO_PKG_VERSION"),
            if cfg.cluster_enabled { "cluster" } else { "standalone" },
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            sh.run_id,
            sh.bound_port.load(Ordering::Relaxed),
            ctx.now_ms * 1000,
            uptime,
            uptime / 86400,
            cfg.hz,
            cfg.hz,
            (ctx.now_ms / 1000) & 0xFFFFFF,
            cfg.config_file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        );
    }
    if wanted("clients") {
        section(&mut out, "Clients");
        let _ = write!(
            out,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n",
            sh.clients.len(),
            cfg.maxclients,
            sh.blocked_clients.load(Ordering::Relaxed),
            sh.tracking.figures().clients,
        );
    }
    if wanted("memory") {
        section(&mut out, "Memory");
        let (used, peak) = sample_memory_peak();
        let rss = crate::alloc::rss_bytes() as u64;
        let system = total_system_memory();
        let _ = write!(
            out,
            "used_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
            human_bytes(used),
            human_bytes(rss),
            human_bytes(peak),
            if peak > 0 { used as f64 * 100.0 / peak as f64 } else { 0.0 },
            human_bytes(system),
            cfg.maxmemory,
            human_bytes(cfg.maxmemory),
            cfg.maxmemory_policy.name(),
            if used > 0 { rss as f64 / used as f64 } else { 0.0 },
            rss as i64 - used as i64,
        );
    }
    if wanted("persistence") {
        section(&mut out, "Persistence");
        out.push_str("loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_last_write_status:ok\r\n");
    }
    if wanted("stats") {
        section(&mut out, "Stats");
        let st = &sh.stats;
        let ks = &sh.store.stats;
        let tracking = sh.tracking.figures();
        let ops = {
            let s = sh.ops_samples.lock();
            match (s.front(), s.back()) {
                (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
                _ => 0,
            }
        };
        let _ = write!(
            out,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\ntotal_error_replies:{}\r\n",
            st.connections_received.load(Ordering::Relaxed),
            st.commands_processed.load(Ordering::Relaxed),
            ops,
            st.net_input_bytes.load(Ordering::Relaxed),
            st.net_output_bytes.load(Ordering::Relaxed),
            st.rejected_connections.load(Ordering::Relaxed),
            sh.repl.sync_full.load(Ordering::Relaxed),
            sh.repl.sync_partial_ok.load(Ordering::Relaxed),
            sh.repl.sync_partial_err.load(Ordering::Relaxed),
            ks.expired_keys.load(Ordering::Relaxed),
            ks.evicted_keys.load(Ordering::Relaxed),
            ks.keyspace_hits.load(Ordering::Relaxed),
            ks.keyspace_misses.load(Ordering::Relaxed),
            sh.pubsub.count(crate::node::pubsub::Kind::Channel),
            sh.pubsub.count(crate::node::pubsub::Kind::Pattern),
            tracking.keys,
            tracking.items,
            tracking.prefixes,
            st.client_query_buffer_limit_disconnections.load(Ordering::Relaxed),
            st.client_output_limit_disconnections.load(Ordering::Relaxed),
            st.error_replies.load(Ordering::Relaxed),
        );
    }
    if wanted("replication") {
        section(&mut out, "Replication");
        out.push_str(&super::replication::info_section(
            sh,
            crate::store::now_ms(),
        ));
    }
    if wanted("cpu") {
        section(&mut out, "CPU");
        let (sys, user) = cpu_times();
        let _ = write!(out, "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n");
    }
    if wanted("modules") {
        section(&mut out, "Modules");
    }
    if all || sections.iter().any(|s| s == "commandstats") {
        section(&mut out, "Commandstats");
        let table_stats = command::all_commands()
            .iter()
            .zip(sh.cmd_stats.iter())
            .map(|(c, s)| (c.name, s));
        let mc_stats = super::dispatch_mc::mc_command_stats(&sh.node);
        for (name, s) in table_stats.chain(mc_stats) {
            let calls = s.calls.load(Ordering::Relaxed);
            let (rej, fail) = (
                s.rejected.load(Ordering::Relaxed),
                s.failed.load(Ordering::Relaxed),
            );
            if calls == 0 && rej == 0 && fail == 0 {
                continue;
            }
            let usec = s.usec.load(Ordering::Relaxed);
            let per = if calls > 0 {
                usec as f64 / calls as f64
            } else {
                0.0
            };
            let _ = write!(
                out,
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per:.2},rejected_calls={rej},failed_calls={fail}\r\n",
                name
            );
        }
    }
    if wanted("errorstats") {
        section(&mut out, "Errorstats");
        for (code, n) in sh.stats.error_codes.lock().iter() {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }
    if all || sections.iter().any(|s| s == "latencystats") {
        section(&mut out, "Latencystats");
        out.push_str(&latency_stats(
            ctx,
            cfg.stored_value("latency-tracking-info-percentiles"),
        ));
    }
    if wanted("cluster") {
        section(&mut out, "Cluster");
        let _ = write!(out, "cluster_enabled:{}\r\n", cfg.cluster_enabled as u8);
        if let Some(c) = sh.cluster.get() {
            let epoch = c.view().membership.epoch;
            out.push_str(&super::cluster::lease_lines(c.lease.holds(), epoch));
            out.push_str(&crate::cluster::migrate::status(c));
        }
    }
    if wanted("keyspace") {
        section(&mut out, "Keyspace");
        for (db, keys, expires) in sh.store.keyspace() {
            let avg = if expires > 0 {
                sample_avg_ttl(&sh.store, db, ctx.now_ms)
            } else {
                0
            };
            let _ = write!(
                out,
                "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n"
            );
        }
    }
    out
}

/// INFO [section ...]
pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let text = info_text(ctx, &sections);
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}
