//! LATENCY LATEST / HISTORY / RESET / DOCTOR / GRAPH over the node's
//! latency monitor (`node::latency`), LATENCY HISTOGRAM over the
//! per-command histograms (`node::latency_histogram`), and HELP, with Redis
//! 7.0's texts.

use std::fmt::Write as _;

use bytes::Bytes;

use super::command::{self, Command, Found};
use super::ctx::{help_reply, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::latency::EventStats;

/// LATENCY LATEST
pub fn latency_latest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let latest = ctx.shared.latency.lock().latest();
    ctx.out.array_len(latest.len());
    for l in latest {
        ctx.out.array_len(4);
        ctx.out.bulk(l.event.as_bytes());
        ctx.out.int(l.time as i64);
        ctx.out.int(l.latency as i64);
        ctx.out.int(l.max as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event
pub fn latency_history(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let event = String::from_utf8_lossy(&args[2]);
    let samples = ctx.shared.latency.lock().history(&event);
    ctx.out.array_len(samples.len());
    for (time, latency) in samples {
        ctx.out.array_len(2);
        ctx.out.int(time as i64);
        ctx.out.int(latency as i64);
    }
    Ok(())
}

/// LATENCY RESET [event ...]
pub fn latency_reset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let events: Vec<String> = args[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let n = ctx.shared.latency.lock().reset(&events);
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY HELP
pub fn latency_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

/// The advices LATENCY DOCTOR gives, in Redis' order, with the events that
/// call for each (Redis' `createLatencyReport`). Events ringcache never
/// records (fork, AOF, eviction) keep their rules: the report reads the same
/// events Redis would.
struct Advices {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    local_disk: bool,
    ssd: bool,
    data_writeback: bool,
    disk_contention: bool,
    no_appendfsync: bool,
    relax_fsync: bool,
    write_load_info: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    disable_thp: bool,
    count: usize,
}

/// Bytes of transparent huge pages the process uses (`AnonHugePages` of
/// /proc/self/smaps; 0 where unavailable).
fn anon_huge_pages() -> u64 {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    smaps
        .lines()
        .filter_map(|l| l.strip_prefix("AnonHugePages:"))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

/// Settings the report reads.
struct DoctorSettings {
    threshold_ms: u64,
    slowlog_slower_than: i64,
    hz: u64,
    fsync_always: bool,
}

/// LATENCY DOCTOR's text for `events` (Redis' `createLatencyReport`).
fn latency_report(events: &[EventStats], cfg: &DoctorSettings, thp_bytes: u64) -> String {
    if events.is_empty() && cfg.threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let mut a = Advices {
        slowlog_enabled: false,
        slowlog_tuning: false,
        slowlog_inspect: false,
        scheduler: false,
        local_disk: false,
        ssd: false,
        data_writeback: false,
        disk_contention: false,
        no_appendfsync: false,
        relax_fsync: false,
        write_load_info: false,
        hz: false,
        large_objects: false,
        mass_eviction: false,
        disable_thp: false,
        count: 0,
    };
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        if i == 0 {
            out.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let _ = write!(
            out,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            e.event,
            e.samples,
            e.avg,
            e.mad,
            e.period as f64 / e.samples.max(1) as f64,
            e.all_time_high
        );
        match e.event.to_ascii_lowercase().as_str() {
            "command" => {
                if cfg.slowlog_slower_than < 0 {
                    a.slowlog_enabled = true;
                    a.count += 1;
                } else if cfg.slowlog_slower_than as u64 / 1000 > cfg.threshold_ms {
                    a.slowlog_tuning = true;
                    a.count += 1;
                }
                a.slowlog_inspect = true;
                a.large_objects = true;
                a.count += 2;
            }
            "fast-command" => {
                a.scheduler = true;
                a.count += 1;
            }
            "aof-write-pending-fsync" => {
                (a.local_disk, a.disk_contention, a.ssd, a.data_writeback) =
                    (true, true, true, true);
                a.count += 4;
            }
            "aof-write-active-child" => {
                (a.no_appendfsync, a.data_writeback, a.ssd) = (true, true, true);
                a.count += 3;
            }
            "aof-write-alone" => {
                (a.local_disk, a.data_writeback, a.ssd) = (true, true, true);
                a.count += 3;
            }
            "aof-fsync-always" => {
                a.relax_fsync = true;
                a.count += 1;
            }
            "aof-fstat" | "rdb-unlink-temp-file" => {
                (a.disk_contention, a.local_disk) = (true, true);
                a.count += 2;
            }
            "aof-rewrite-diff-write" | "aof-rename" => {
                (a.write_load_info, a.data_writeback, a.ssd, a.local_disk) =
                    (true, true, true, true);
                a.count += 4;
            }
            "expire-cycle" => {
                (a.hz, a.large_objects) = (true, true);
                a.count += 2;
            }
            "eviction-del" => {
                a.large_objects = true;
                a.count += 1;
            }
            "eviction-cycle" => {
                a.mass_eviction = true;
                a.count += 1;
            }
            _ => {}
        }
        out.push('\n');
    }
    if thp_bytes > 0 {
        a.disable_thp = true;
        a.count += 1;
    }
    if events.is_empty() && a.count == 0 {
        out.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return out;
    }
    if !events.is_empty() && a.count == 0 {
        out.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return out;
    }
    out.push_str("\nI have a few advices for you:\n\n");
    let threshold_us = cfg.threshold_ms * 1000;
    if a.slowlog_enabled {
        let _ = writeln!(out, "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {threshold_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.");
    }
    if a.slowlog_tuning {
        let _ = writeln!(out, "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {threshold_us}'.");
    }
    let fixed: [(bool, &str); 13] = [
        (a.slowlog_inspect, "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n"),
        (a.scheduler, "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n"),
        (a.local_disk, "- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n"),
        (a.ssd, "- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n"),
        (a.data_writeback, "- Mounting ext3/4 filesystems with data=writeback can provide a performance boost compared to data=ordered, however this mode of operation provides less guarantees, and sometimes it can happen that after a hard crash the AOF file will have a half-written command at the end and will require to be repaired before Redis restarts.\n"),
        (a.disk_contention, "- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n"),
        (a.no_appendfsync, "- Assuming from the point of view of data safety this is viable in your environment, you could try to enable the 'no-appendfsync-on-rewrite' option, so that fsync will not be performed while there is a child rewriting the AOF file or producing an RDB file (the moment where there is high disk contention).\n"),
        (a.relax_fsync && cfg.fsync_always, "- Your fsync policy is set to 'always'. It is very hard to get good performances with such a setup, if possible try to relax the fsync policy to 'onesec'.\n"),
        (a.write_load_info, "- Latency during the AOF atomic rename operation or when the final difference is flushed to the AOF file at the end of the rewrite, sometimes is caused by very high write load, causing the AOF buffer to get very large. If possible try to send less commands to accomplish the same work, or use Lua scripts to group multiple operations into a single EVALSHA call.\n"),
        (a.hz && cfg.hz < 100, "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n"),
        (a.large_objects, "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n"),
        (a.mass_eviction, "- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n"),
        (a.disable_thp, "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n"),
    ];
    for (on, text) in fixed {
        if on {
            out.push_str(text);
        }
    }
    out
}

/// LATENCY DOCTOR
pub fn latency_doctor(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let cfg = {
        let c = ctx.shared.config.read();
        DoctorSettings {
            threshold_ms: crate::node::latency::threshold_ms(),
            slowlog_slower_than: c.slowlog_log_slower_than,
            hz: c.hz,
            fsync_always: c.stored_value("appendfsync") == "always",
        }
    };
    let events = ctx.shared.latency.lock().analyze(ctx.now_ms / 1000);
    let report = latency_report(&events, &cfg, anon_huge_pages());
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// Rows of a LATENCY GRAPH.
const GRAPH_ROWS: usize = 4;
/// Columns of a LATENCY GRAPH (a longer history wraps).
const GRAPH_COLS: usize = 80;

/// "How long ago" label of a sample (Redis: `12s`, `3m`, `2h`, `1d`).
fn ago_label(elapsed: u64) -> String {
    match elapsed {
        e if e < 60 => format!("{e}s"),
        e if e < 3600 => format!("{}m", e / 60),
        e if e < 86400 => format!("{}h", e / 3600),
        e => format!("{}d", e / 86400),
    }
}

/// Renders samples (value, label) as Redis' filled ASCII sparkline
/// (`sparklineRender` with `SPARKLINE_FILL`): `GRAPH_ROWS` rows of `_o#|`,
/// then the labels written vertically under a blank row.
fn sparkline(samples: &[(u64, String)]) -> String {
    const FILL: [u8; 3] = *b"_o#";
    let min = samples.iter().map(|s| s.0).min().unwrap_or(0) as f64;
    let max = samples.iter().map(|s| s.0).max().unwrap_or(0) as f64;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let mut out = String::new();
    for (n, chunk) in samples.chunks(GRAPH_COLS).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let step = |v: u64| {
            // C's `(int)(relval*steps)/relmax`, truncated into an int.
            let s = (((v as f64 - min) * steps as f64) as i64 as f64 / relmax) as i64;
            s.clamp(0, steps - 1)
        };
        for row in 0..GRAPH_ROWS as i64 {
            let line: String = chunk
                .iter()
                .map(|(v, _)| {
                    let idx = step(*v) - (GRAPH_ROWS as i64 - row - 1) * FILL.len() as i64;
                    if (0..FILL.len() as i64).contains(&idx) {
                        FILL[idx as usize] as char
                    } else if idx >= FILL.len() as i64 {
                        '|'
                    } else {
                        ' '
                    }
                })
                .collect();
            out.push_str(&line);
            out.push('\n');
        }
        // One blank row, then the labels' characters row by row.
        out.push_str(&" ".repeat(chunk.len()));
        out.push('\n');
        let longest = chunk.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
        for i in 0..longest {
            let line: String = chunk
                .iter()
                .map(|(_, l)| l.as_bytes().get(i).map_or(' ', |&b| b as char))
                .collect();
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// LATENCY GRAPH event
pub fn latency_graph(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let event = String::from_utf8_lossy(&args[2]).into_owned();
    let (history, all_time) = {
        let m = ctx.shared.latency.lock();
        (m.history(&event), m.max_of(&event))
    };
    let Some(all_time) = all_time else {
        return Err(CmdError::err(format!(
            "No samples available for event '{event}'"
        )));
    };
    let now = ctx.now_ms / 1000;
    let high = history.iter().map(|s| s.1).max().unwrap_or(0);
    let low = history.iter().map(|s| s.1).min().unwrap_or(0);
    let samples: Vec<(u64, String)> = history
        .iter()
        .map(|&(t, l)| (l, ago_label(now.saturating_sub(t))))
        .collect();
    let mut graph =
        format!("{event} - high {high} ms, low {low} ms (all time high {all_time} ms)\n");
    graph.push_str(&"-".repeat(GRAPH_COLS));
    graph.push('\n');
    graph.push_str(&sparkline(&samples));
    ctx.out.verbatim(graph.as_bytes());
    Ok(())
}

/// Writes one command's histogram (Redis' `fillCommandCDF`) when it has
/// samples; returns whether it did.
fn histogram_entry(ctx: &mut Ctx<'_>, found: Found) -> bool {
    let Some(snap) = ctx.shared.cmd_stats[found.stat].latency.snapshot() else {
        return false;
    };
    ctx.out.bulk(found.cmd.name.as_bytes());
    ctx.out.map_len(2);
    ctx.out.bulk(b"calls");
    ctx.out.int(snap.total as i64);
    ctx.out.bulk(b"histogram_usec");
    let buckets = snap.log_buckets();
    ctx.out.map_len(buckets.len());
    for (usec, count) in buckets {
        ctx.out.int(usec as i64);
        ctx.out.int(count as i64);
    }
    true
}

/// The commands a LATENCY HISTOGRAM argument names: a command, a
/// `container|sub` subcommand, or a container and all its subcommands
/// (Redis' order: the container row first).
fn named_commands(name: &[u8]) -> Vec<Found> {
    let found = match name.iter().position(|&b| b == b'|') {
        Some(bar) => {
            command::lookup(&name[..bar]).and_then(|c| command::lookup_sub(c.cmd, &name[bar + 1..]))
        }
        None => command::lookup(name),
    };
    let Some(found) = found else {
        return Vec::new();
    };
    let subs: &[Command] = found.cmd.subcommands;
    std::iter::once(found)
        .chain((0..subs.len()).filter_map(|i| command::by_stat(found.stat + 1 + i)))
        .collect()
}

/// LATENCY HISTOGRAM [command ...]
pub fn latency_histogram(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let wanted: Vec<Found> = if args.len() == 2 {
        (0..command::stat_slots())
            .filter_map(command::by_stat)
            .collect()
    } else {
        args[2..].iter().flat_map(|a| named_commands(a)).collect()
    };
    let with_data: Vec<Found> = wanted
        .into_iter()
        .filter(|f| ctx.shared.cmd_stats[f.stat].latency.snapshot().is_some())
        .collect();
    ctx.out.map_len(with_data.len());
    for f in with_data {
        histogram_entry(ctx, f);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DoctorSettings {
        DoctorSettings {
            threshold_ms: 1,
            slowlog_slower_than: 10000,
            hz: 10,
            fsync_always: false,
        }
    }

    #[test]
    fn doctor_texts() {
        let off = DoctorSettings {
            threshold_ms: 0,
            ..settings()
        };
        assert!(latency_report(&[], &off, 0).starts_with("I'm sorry, Dave"));
        assert!(latency_report(&[], &settings(), 0).starts_with("Dave, no latency spike"));
        let e = EventStats {
            event: "command".into(),
            samples: 2,
            avg: 150,
            mad: 50,
            period: 3,
            all_time_high: 200,
        };
        let r = latency_report(&[e], &settings(), 0);
        assert!(r.starts_with("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 2 latency spikes (average 150ms, mean deviation 50ms, period 1.50 sec). Worst all time event 200ms.\n\nI have a few advices for you:\n\n- Your current Slow Log configuration"), "{r}");
        assert!(r.contains("'CONFIG SET slowlog-log-slower-than 1000'"));
        assert!(r.ends_with("try to fragment those objects into multiple smaller objects.\n"));
    }

    #[test]
    fn sparkline_shape() {
        let g = sparkline(&[(1, "3s".into()), (9, "2s".into()), (5, "1s".into())]);
        // Redis: the highest sample fills the top row with '#', lower ones
        // show '_' / 'o' at their level and '|' below it.
        assert_eq!(g, " # \n |_\n ||\n_||\n   \n321\nsss\n");
    }
}
