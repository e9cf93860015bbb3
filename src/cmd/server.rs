//! Server commands: INFO, CONFIG, FLUSH*, SWAPDB, TIME, SLOWLOG, MONITOR, DEBUG,
//! SHUTDOWN, WAIT, MEMORY USAGE and COMMAND introspection.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use super::command::{self, flags, Command};
use super::ctx::{arg_i64, help_reply, is, After, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::slowlog::SlowEntry;

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

fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the provided struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_stime), t(ru.ru_utime))
}

/// Builds the INFO text for the requested sections.
pub fn info_text(ctx: &Ctx<'_>, sections: &[String]) -> String {
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
            "redis_version:{}\r\nringcache_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:{}\r\nos:{} {}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:ringcache\r\nconfig_file:\r\nio_threads_active:0\r\n",
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
        );
    }
    if wanted("clients") {
        section(&mut out, "Clients");
        let _ = write!(
            out,
            "connected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:0\r\n",
            sh.clients.len(),
            cfg.maxclients,
            sh.blocked_clients.load(Ordering::Relaxed),
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
        let ops = {
            let s = sh.ops_samples.lock();
            match (s.front(), s.back()) {
                (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
                _ => 0,
            }
        };
        let _ = write!(
            out,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\nclient_query_buffer_limit_disconnections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\ntotal_error_replies:{}\r\n",
            st.connections_received.load(Ordering::Relaxed),
            st.commands_processed.load(Ordering::Relaxed),
            ops,
            st.net_input_bytes.load(Ordering::Relaxed),
            st.net_output_bytes.load(Ordering::Relaxed),
            st.rejected_connections.load(Ordering::Relaxed),
            ks.expired_keys.load(Ordering::Relaxed),
            ks.evicted_keys.load(Ordering::Relaxed),
            ks.keyspace_hits.load(Ordering::Relaxed),
            ks.keyspace_misses.load(Ordering::Relaxed),
            sh.pubsub.count(crate::node::pubsub::Kind::Channel),
            sh.pubsub.count(crate::node::pubsub::Kind::Pattern),
            st.client_query_buffer_limit_disconnections.load(Ordering::Relaxed),
            st.client_output_limit_disconnections.load(Ordering::Relaxed),
            st.error_replies.load(Ordering::Relaxed),
        );
    }
    if wanted("replication") {
        section(&mut out, "Replication");
        let _ = write!(out, "role:master\r\nconnected_slaves:0\r\nmaster_replid:{}\r\nmaster_repl_offset:0\r\nrepl_backlog_active:0\r\n", sh.run_id);
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
        for (i, c) in command::all_commands().iter().enumerate() {
            let s = &sh.cmd_stats[i];
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
                c.name
            );
        }
    }
    if wanted("errorstats") {
        section(&mut out, "Errorstats");
        for (code, n) in sh.stats.error_codes.lock().iter() {
            let _ = write!(out, "errorstat_{code}:count={n}\r\n");
        }
    }
    if wanted("cluster") {
        section(&mut out, "Cluster");
        let _ = write!(out, "cluster_enabled:{}\r\n", cfg.cluster_enabled as u8);
        if let Some(c) = sh.cluster.get() {
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

/// CONFIG GET parameter [parameter ...]
pub fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cfg = ctx.shared.config.read().clone();
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    for pat in &args[2..] {
        for (n, v) in cfg.get_matching(pat) {
            if !pairs.iter().any(|(x, _)| *x == n) {
                pairs.push((n, v));
            }
        }
    }
    ctx.out.map_len(pairs.len());
    for (n, v) in pairs {
        ctx.out.bulk(n.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value ...]
pub fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Arity("config|set".into()));
    }
    let mut cfg = ctx.shared.config.write();
    let mut next = cfg.clone();
    for (i, pair) in args[2..].chunks(2).enumerate() {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if args[2..2 + 2 * i]
            .iter()
            .step_by(2)
            .any(|earlier| earlier.eq_ignore_ascii_case(&pair[0]))
        {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        next.set(&name, &value, false)
            .map_err(|e| CmdError::err(e.to_string()))?;
    }
    let shrunk = next.maxmemory != 0 && (cfg.maxmemory == 0 || next.maxmemory < cfg.maxmemory);
    *cfg = next;
    crate::node::apply_hot_settings(&cfg);
    drop(cfg);
    if shrunk {
        // Like Redis, a lowered limit evicts right away rather than at the
        // next write; under noeviction nothing happens until writes get -OOM.
        let _ = ctx.shared.ensure_memory();
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT
pub fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = ctx.shared;
    for s in sh.cmd_stats.iter() {
        s.calls.store(0, Ordering::Relaxed);
        s.usec.store(0, Ordering::Relaxed);
        s.rejected.store(0, Ordering::Relaxed);
        s.failed.store(0, Ordering::Relaxed);
    }
    let st = &sh.stats;
    for c in [
        &st.commands_processed,
        &st.connections_received,
        &st.rejected_connections,
        &st.net_input_bytes,
        &st.net_output_bytes,
        &st.error_replies,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    st.error_codes.lock().clear();
    let ks = &sh.store.stats;
    for c in [
        &ks.expired_keys,
        &ks.evicted_keys,
        &ks.keyspace_hits,
        &ks.keyspace_misses,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    sh.slowlog.lock().reset();
    ctx.out.ok();
    Ok(())
}

/// CONFIG HELP
pub fn config_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
        ],
    );
    Ok(())
}

fn flush_mode(args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => Ok(()),
        2 if is(&args[1], "async") || is(&args[1], "sync") => Ok(()),
        _ => Err(CmdError::Syntax),
    }
}

/// FLUSHALL [ASYNC|SYNC]
pub fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    for db in 0..ctx.store().db_count() {
        ctx.store().flush_db(db);
    }
    ctx.shared.watches.touch_db(None);
    ctx.out.ok();
    Ok(())
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    ctx.store().flush_db(ctx.client.db);
    ctx.shared.watches.touch_db(Some(ctx.client.db));
    ctx.out.ok();
    Ok(())
}

/// SWAPDB index1 index2
pub fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.cluster_enabled() {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    let a =
        crate::util::parse_i64(&args[1]).ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let b =
        crate::util::parse_i64(&args[2]).ok_or_else(|| CmdError::err("invalid second DB index"))?;
    let n = ctx.store().db_count() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.store().swap_dbs(a as usize, b as usize);
    ctx.shared.watches.touch_db(Some(a as usize));
    ctx.shared.watches.touch_db(Some(b as usize));
    ctx.shared.blocking.signal_dbs(&[a as usize, b as usize]);
    ctx.out.ok();
    Ok(())
}

/// TIME
pub fn time(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array_len(2);
    ctx.out.bulk_int(d.as_secs() as i64);
    ctx.out.bulk_int(d.subsec_micros() as i64);
    Ok(())
}

/// LASTSAVE (the node does not persist; the start time is the last "save")
pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let started = ctx.now_ms / 1000 - ctx.shared.started.elapsed().as_secs();
    ctx.out.int(started as i64);
    Ok(())
}

/// SLOWLOG GET [count]
pub fn slowlog_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = match args.get(2) {
        Some(a) => {
            let n = arg_i64(a)?;
            if n < -1 {
                return Err(CmdError::err("count should be greater than or equal to -1"));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
        None => 10,
    };
    let entries: Vec<SlowEntry> = ctx
        .shared
        .slowlog
        .lock()
        .entries
        .iter()
        .take(count)
        .cloned()
        .collect();
    ctx.out.array_len(entries.len());
    for e in entries {
        ctx.out.array_len(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.bulks(e.args.iter());
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

/// SLOWLOG LEN
pub fn slowlog_len(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = ctx.shared.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

/// SLOWLOG RESET
pub fn slowlog_reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.shared.slowlog.lock().reset();
    ctx.out.ok();
    Ok(())
}

/// SLOWLOG HELP
pub fn slowlog_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

/// MONITOR
pub fn monitor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.after = Some(After::Monitor);
    Ok(())
}

/// DEBUG SLEEP seconds
pub fn debug_sleep(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let secs = c_number_prefix(&args[2]).max(0.0);
    ctx.after = Some(After::Sleep(Duration::from_secs_f64(secs.min(86400.0))));
    ctx.out.ok();
    Ok(())
}

/// The numeric prefix of an argument, 0 when there is none: DEBUG reads its
/// numbers with C's `atoi`/`strtod`, which never fail.
fn c_number_prefix(arg: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(arg);
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E')))
        .unwrap_or(text.len());
    (0..=end)
        .rev()
        .find_map(|n| text[..n].parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// DEBUG SET-ACTIVE-EXPIRE 0|1
pub fn debug_set_active_expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let on = c_number_prefix(&args[2]).trunc() != 0.0;
    ctx.shared.active_expire.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]
pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    for a in &args[1..] {
        if is(a, "abort") {
            return Err(CmdError::err("No shutdown in progress."));
        }
        if !(is(a, "nosave") || is(a, "save") || is(a, "now") || is(a, "force")) {
            return Err(CmdError::Syntax);
        }
    }
    tracing::info!("User requested shutdown...");
    ctx.shared.shutdown_gracefully();
    ctx.after = Some(After::Close);
    Ok(())
}

/// WAIT numreplicas timeout: a standalone node has no replicas, so it answers 0
/// at once when none are asked for, else after the timeout, like Redis.
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let want = arg_i64(&args[1])?;
    let timeout = arg_i64(&args[2])?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    if want > 0 && ctx.client.multi.is_none() {
        let d = if timeout == 0 {
            Duration::from_secs(30 * 86400)
        } else {
            Duration::from_millis(timeout as u64)
        };
        ctx.after = Some(After::Sleep(d));
    }
    ctx.out.int(0);
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

fn acl_categories(c: &Command) -> Vec<String> {
    let mut v = Vec::new();
    if c.has(flags::WRITE) {
        v.push("@write".to_string());
    }
    if c.has(flags::READONLY) {
        v.push("@read".into());
    }
    let group = match c.group {
        "generic" => Some("@keyspace"),
        "string" => Some("@string"),
        "hash" => Some("@hash"),
        "list" => Some("@list"),
        "set" => Some("@set"),
        "sorted_set" => Some("@sortedset"),
        "pubsub" => Some("@pubsub"),
        "transactions" => Some("@transaction"),
        "connection" => Some("@connection"),
        "scripting" => Some("@scripting"),
        _ => None,
    };
    if c.has(flags::ADMIN) {
        v.push("@admin".into());
        v.push("@dangerous".into());
    }
    if let Some(g) = group {
        v.push(g.into());
    }
    v.push(if c.has(flags::FAST) {
        "@fast".into()
    } else {
        "@slow".into()
    });
    if c.has(flags::BLOCKING) {
        v.push("@blocking".into());
    }
    v
}

fn write_command_info(ctx: &mut Ctx<'_>, c: &Command) {
    ctx.out.array_len(10);
    ctx.out.bulk(c.name.as_bytes());
    ctx.out.int(c.arity as i64);
    let names: Vec<&str> = flags::FLAG_NAMES
        .iter()
        .filter(|(f, _)| c.has(*f))
        .map(|(_, n)| *n)
        .collect();
    ctx.out.set_len(names.len());
    for n in names {
        ctx.out.simple(n);
    }
    ctx.out.int(c.first_key as i64);
    ctx.out.int(c.last_key as i64);
    ctx.out.int(c.step as i64);
    let cats = acl_categories(c);
    ctx.out.set_len(cats.len());
    for cat in cats {
        ctx.out.simple(&cat);
    }
    ctx.out.array_len(0);
    if c.first_key > 0 {
        ctx.out.array_len(1);
        ctx.out.map_len(3);
        ctx.out.bulk(b"flags");
        ctx.out.set_len(1);
        ctx.out
            .simple(if c.has(flags::WRITE) { "RW" } else { "RO" });
        ctx.out.bulk(b"begin_search");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"index");
        ctx.out.bulk(b"spec");
        ctx.out.map_len(1);
        ctx.out.bulk(b"index");
        ctx.out.int(c.first_key as i64);
        ctx.out.bulk(b"find_keys");
        ctx.out.map_len(2);
        ctx.out.bulk(b"type");
        ctx.out.bulk(b"range");
        ctx.out.bulk(b"spec");
        ctx.out.map_len(3);
        ctx.out.bulk(b"lastkey");
        ctx.out.int(if c.last_key < 0 {
            c.last_key as i64
        } else {
            (c.last_key - c.first_key) as i64
        });
        ctx.out.bulk(b"keystep");
        ctx.out.int(c.step as i64);
        ctx.out.bulk(b"limit");
        ctx.out.int(0);
    } else {
        ctx.out.array_len(0);
    }
    ctx.out.array_len(c.subcommands.len());
    for s in c.subcommands {
        write_command_info(ctx, s);
    }
}

/// COMMAND (no subcommand): info of every command.
fn command_all(ctx: &mut Ctx<'_>) -> CmdResult {
    ctx.out.array_len(command::top_level().len());
    for c in command::top_level() {
        write_command_info(ctx, c);
    }
    Ok(())
}

/// COMMAND COUNT
pub fn command_count(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(command::top_level().len() as i64);
    Ok(())
}

fn find_any(name: &[u8]) -> Option<&'static Command> {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    command::all_commands()
        .iter()
        .copied()
        .find(|c| c.name == lower)
}

/// COMMAND INFO [name ...]
pub fn command_info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return command_all(ctx);
    }
    ctx.out.array_len(args.len() - 2);
    for a in &args[2..] {
        match find_any(a) {
            Some(c) => write_command_info(ctx, c),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn write_docs(ctx: &mut Ctx<'_>, c: &Command) {
    ctx.out.bulk(c.name.as_bytes());
    let has_subs = !c.subcommands.is_empty();
    ctx.out.map_len(3 + has_subs as usize);
    // Redis' one-line summary: the table carries none, so it is empty.
    ctx.out.bulk(b"summary");
    ctx.out.bulk(b"");
    ctx.out.bulk(b"since");
    ctx.out.bulk(b"1.0.0");
    ctx.out.bulk(b"group");
    ctx.out.bulk(c.group.as_bytes());
    if has_subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map_len(c.subcommands.len());
        for s in c.subcommands {
            write_docs(ctx, s);
        }
    }
}

/// COMMAND DOCS [name ...]
pub fn command_docs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cmds: Vec<&'static Command> = if args.len() == 2 {
        command::top_level().iter().collect()
    } else {
        args[2..].iter().filter_map(|a| find_any(a)).collect()
    };
    ctx.out.map_len(cmds.len());
    for c in cmds {
        write_docs(ctx, c);
    }
    Ok(())
}

/// COMMAND GETKEYS command [arg ...]
pub fn command_getkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let inner = &args[2..];
    let found = super::dispatch::resolve(inner).map_err(|e| match e {
        CmdError::Arity(_) => CmdError::err("Invalid number of arguments specified for command"),
        _ => CmdError::err("Invalid command specified"),
    })?;
    let pos = found.cmd.key_positions(inner);
    if pos.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    ctx.out.array_len(pos.len());
    for p in pos {
        ctx.out.bulk(&inner[p]);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]
pub fn command_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut names: Vec<&str> = command::all_commands().iter().map(|c| c.name).collect();
    if args.len() > 2 {
        if args.len() != 5 || !is(&args[2], "filterby") {
            return Err(CmdError::Syntax);
        }
        let v = &args[4];
        if is(&args[3], "pattern") {
            names.retain(|n| crate::util::glob_match(v, n.as_bytes(), true));
        } else if is(&args[3], "aclcat") {
            let want = format!("@{}", String::from_utf8_lossy(v).to_ascii_lowercase());
            names = command::all_commands()
                .iter()
                .filter(|c| acl_categories(c).contains(&want))
                .map(|c| c.name)
                .collect();
        } else if is(&args[3], "module") {
            names.clear();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    ctx.out.bulks(names.iter());
    Ok(())
}

/// COMMAND HELP
pub fn command_help(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let _ = args;
    help_reply(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}

/// COMMAND with no subcommand (the container's own handler).
pub fn command(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    command_all(ctx)
}
