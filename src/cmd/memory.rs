//! MEMORY STATS / DOCTOR / MALLOC-STATS / PURGE / USAGE / HELP: Redis 7.0's
//! memory report from the node's own accounting (the counting allocator of
//! `alloc.rs`, per-client memory of `node::clients`, the slot tables'
//! overhead, the peer links' buffers, the Lua VMs) and glibc's counters.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::{is, Ctx};
use crate::error::{CmdError, CmdResult};

/// MEMORY DOCTOR's "empty instance" bound on memory used beyond start-up.
const DOCTOR_MIN_BYTES: u64 = 5 << 20;

/// The figures of MEMORY STATS and MEMORY DOCTOR (Redis' `redisMemOverhead`).
#[derive(Debug, Clone, Default)]
struct MemOverhead {
    peak_allocated: u64,
    total_allocated: u64,
    startup_allocated: u64,
    clients_normal: u64,
    cluster_links: u64,
    lua_caches: u64,
    functions_caches: u64,
    /// (db, main table overhead) of every database holding keys.
    dbs: Vec<(usize, u64)>,
    overhead_total: u64,
    keys: u64,
    bytes_per_key: u64,
    dataset: u64,
    dataset_perc: f32,
    peak_perc: f32,
    allocator_allocated: u64,
    allocator_active: u64,
    allocator_resident: u64,
    process_rss: u64,
    clients: u64,
    cached_scripts: usize,
}

/// `a / b` as Redis' float ratios (0 when `b` is 0).
fn ratio(a: u64, b: u64) -> f32 {
    if b == 0 {
        0.0
    } else {
        a as f32 / b as f32
    }
}

/// Anonymous resident memory of the process (`RssAnon` of /proc/self/status,
/// the pages of the allocator's heaps and mappings): the closest figure to
/// jemalloc's `resident` glibc offers. Falls back to the whole RSS.
fn anon_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(crate::alloc::rss_bytes() as u64, |kb| kb * 1024)
}

/// Gathers the node's memory figures (Redis' `getMemoryOverheadData`).
fn overhead(ctx: &Ctx<'_>) -> MemOverhead {
    let sh = ctx.shared;
    let (used, peak) = super::info::sample_memory_peak();
    let startup = crate::alloc::startup_allocated() as u64;
    let clients = sh.clients.all();
    let clients_normal: u64 = clients
        .iter()
        .map(|c| c.mem.total.load(Ordering::Relaxed) as u64)
        .sum();
    let cluster_links = sh.cluster.get().map_or(0, |c| {
        c.pool
            .link_infos()
            .iter()
            .map(|l| l.send_buffer_allocated as u64)
            .sum()
    });
    // `lua.caches` / `functions.caches`: the memory of the EVAL and of the
    // FUNCTION Lua VMs, where the compiled scripts and libraries live (Redis
    // counts its script dictionaries; here the VM holds them). A script
    // running right now holds its VM's lock: its VM is then left out of this
    // report (0) rather than waited for.
    let (lua_caches, cached_scripts) = sh.scripts.engine.try_lock().map_or((0, 0), |g| {
        g.as_ref().map_or((0, 0), |e| {
            (e.lua().used_memory() as u64, e.cached_scripts())
        })
    });
    let functions_caches = sh.scripts.functions.try_lock().map_or(0, |mut g| {
        g.as_mut()
            .map_or(0, |r| r.engine().lua().used_memory() as u64)
    });
    let keyspace = sh.store.keyspace();
    let dbs: Vec<(usize, u64)> = keyspace
        .iter()
        .map(|&(db, _, _)| (db, sh.store.db_overhead(db) as u64))
        .collect();
    let keys: u64 = keyspace.iter().map(|&(_, k, _)| k as u64).sum();
    // No replication backlog, replica buffers or AOF buffer exist on this
    // node: those terms are 0.
    let overhead_total = startup
        + clients_normal
        + cluster_links
        + lua_caches
        + functions_caches
        + dbs.iter().map(|d| d.1).sum::<u64>();
    let net_usage = if used > startup { used - startup } else { 1 };
    let dataset = used.saturating_sub(overhead_total);
    let alloc = crate::alloc::allocator_info();
    let resident = anon_rss();
    // glibc takes heap space 16 MiB ahead of need (`alloc::tune_malloc`'s
    // top pad) and never touches most of it: that space is reserved, not
    // active in jemalloc's sense (pages backing allocations). The active
    // figure is therefore capped at the anonymous resident memory.
    let active = (alloc.active as u64).min(resident.max(alloc.allocated as u64));
    MemOverhead {
        peak_allocated: peak,
        total_allocated: used,
        startup_allocated: startup,
        clients_normal,
        cluster_links,
        lua_caches,
        functions_caches,
        dbs,
        overhead_total,
        keys,
        bytes_per_key: net_usage.checked_div(keys).unwrap_or(0),
        dataset,
        dataset_perc: dataset as f32 * 100.0 / net_usage as f32,
        peak_perc: ratio(used, peak) * 100.0,
        allocator_allocated: alloc.allocated as u64,
        allocator_active: active,
        allocator_resident: resident,
        process_rss: crate::alloc::rss_bytes() as u64,
        clients: clients.len() as u64,
        cached_scripts,
    }
}

/// `a - b` as Redis' signed byte differences.
fn diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

/// MEMORY STATS
pub fn memory_stats(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let m = overhead(ctx);
    let ints: [(&str, u64); 10] = [
        ("peak.allocated", m.peak_allocated),
        ("total.allocated", m.total_allocated),
        ("startup.allocated", m.startup_allocated),
        ("replication.backlog", 0),
        ("clients.slaves", 0),
        ("clients.normal", m.clients_normal),
        ("cluster.links", m.cluster_links),
        ("aof.buffer", 0),
        ("lua.caches", m.lua_caches),
        ("functions.caches", m.functions_caches),
    ];
    let out = &mut *ctx.out;
    out.map_len(27 + m.dbs.len());
    for (name, v) in ints {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    for &(db, main) in &m.dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map_len(3);
        out.bulk(b"overhead.hashtable.main");
        out.int(main as i64);
        // A key's TTL is a field of its entry and the tables are per slot
        // already: no separate expires table or slot-to-keys index exists.
        out.bulk(b"overhead.hashtable.expires");
        out.int(0);
        out.bulk(b"overhead.hashtable.slot-to-keys");
        out.int(0);
    }
    let (alloc, active, resident, rss) = (
        m.allocator_allocated,
        m.allocator_active,
        m.allocator_resident,
        m.process_rss,
    );
    let int = |out: &mut crate::resp::Reply, name: &str, v: i64| {
        out.bulk(name.as_bytes());
        out.int(v);
    };
    let float = |out: &mut crate::resp::Reply, name: &str, v: f32| {
        out.bulk(name.as_bytes());
        out.double(f64::from(v));
    };
    int(out, "overhead.total", m.overhead_total as i64);
    int(out, "keys.count", m.keys as i64);
    int(out, "keys.bytes-per-key", m.bytes_per_key as i64);
    int(out, "dataset.bytes", m.dataset as i64);
    float(out, "dataset.percentage", m.dataset_perc);
    float(out, "peak.percentage", m.peak_perc);
    int(out, "allocator.allocated", alloc as i64);
    int(out, "allocator.active", active as i64);
    int(out, "allocator.resident", resident as i64);
    float(out, "allocator-fragmentation.ratio", ratio(active, alloc));
    int(out, "allocator-fragmentation.bytes", diff(active, alloc));
    float(out, "allocator-rss.ratio", ratio(resident, active));
    int(out, "allocator-rss.bytes", diff(resident, active));
    float(out, "rss-overhead.ratio", ratio(rss, resident));
    int(out, "rss-overhead.bytes", diff(rss, resident));
    float(out, "fragmentation", ratio(rss, m.total_allocated));
    int(out, "fragmentation.bytes", diff(rss, m.total_allocated));
    Ok(())
}

/// MEMORY DOCTOR's text for the figures `m` (Redis' `getMemoryDoctorReport`).
/// "Empty" is judged on the memory used beyond start-up (Redis: on all
/// of it, under 5 MB), since this node's start-up footprint differs from
/// Redis'.
fn doctor_report(m: &MemOverhead) -> String {
    if m.total_allocated.saturating_sub(m.startup_allocated) < DOCTOR_MIN_BYTES {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let big = |ratio: f32, bytes: i64, bound: f32| ratio > bound && bytes > 10 << 20;
    let (alloc, active, resident, rss) = (
        m.allocator_allocated,
        m.allocator_active,
        m.allocator_resident,
        m.process_rss,
    );
    let reports: [(bool, &str); 7] = [
        (
            ratio(m.peak_allocated, m.total_allocated) > 1.5,
            " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n",
        ),
        (
            big(ratio(rss, m.total_allocated), diff(rss, m.total_allocated), 1.4),
            " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"libc\".\n\n",
        ),
        (
            big(ratio(active, alloc), diff(active, alloc), 1.1),
            " * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n",
        ),
        (
            big(ratio(resident, active), diff(resident, active), 1.1),
            " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n",
        ),
        (
            big(ratio(rss, resident), diff(rss, resident), 1.1),
            " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n",
        ),
        (
            m.clients_normal / m.clients.max(1) > 200 * 1024,
            " * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n",
        ),
        (
            m.cached_scripts > 1000,
            " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), `SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may end up consuming most of your memory.\n\n",
        ),
    ];
    if !reports.iter().any(|r| r.0) {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n".into();
    }
    let mut out =
        String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    for (_, text) in reports.iter().filter(|r| r.0) {
        out.push_str(text);
    }
    out.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    out
}

/// MEMORY DOCTOR
pub fn memory_doctor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let report = doctor_report(&overhead(ctx));
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// MEMORY MALLOC-STATS: glibc's `malloc_info` report, or Redis' text for
/// an allocator without one.
pub fn memory_malloc_stats(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let text = crate::alloc::allocator_stats_text()
        .unwrap_or_else(|| "Stats not supported for the current allocator".into());
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// MEMORY PURGE: hands the allocator's free pages back to the kernel.
pub fn memory_purge(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    crate::alloc::purge();
    ctx.out.ok();
    Ok(())
}

/// MEMORY HELP
pub fn memory_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::ctx::help_reply(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

/// MEMORY USAGE key [SAMPLES n]
pub fn memory_usage(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() != 3 && !(args.len() == 5 && is(&args[3], "samples")) {
        return Err(CmdError::Syntax);
    }
    let key = ctx.key(&args[2]);
    let usage = ctx.lock(&key).get(&key).map(|e| e.mem_usage());
    match usage {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(total: u64, startup: u64) -> MemOverhead {
        MemOverhead {
            peak_allocated: total,
            total_allocated: total,
            startup_allocated: startup,
            allocator_allocated: total,
            allocator_active: total,
            allocator_resident: total,
            process_rss: total,
            clients: 1,
            ..MemOverhead::default()
        }
    }

    #[test]
    fn doctor_texts() {
        assert!(doctor_report(&figures(40 << 20, 38 << 20))
            .starts_with("Hi Sam, this instance is empty"));
        assert!(doctor_report(&figures(40 << 20, 8 << 20))
            .starts_with("Hi Sam, I can't find any memory issue"));
        let mut m = figures(40 << 20, 8 << 20);
        m.peak_allocated = 100 << 20;
        m.process_rss = 100 << 20;
        m.allocator_resident = 100 << 20;
        let r = doctor_report(&m);
        assert!(r.starts_with("Sam, I detected a few issues in this Redis instance memory implants:\n\n * Peak memory:"), "{r}");
        assert!(r.contains(" * High total RSS:") && r.contains(" * High allocator RSS overhead:"));
        assert!(!r.contains("High process RSS"));
        assert!(r.ends_with("I'm here to keep you safe, Sam. I want to help you.\n"));
    }
}
