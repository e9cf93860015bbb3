//! Server commands: FLUSHALL/FLUSHDB, SWAPDB, TIME, LASTSAVE, SLOWLOG,
//! MONITOR, DEBUG, SHUTDOWN and WAIT. INFO is `cmd/info.rs`, MEMORY
//! `cmd/memory.rs`, CONFIG `cmd/config_cmd.rs`, COMMAND introspection
//! `cmd/introspect.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::ctx::{arg_i64, help_reply, is, After, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::slowlog::SlowEntry;

/// Checks FLUSHALL/FLUSHDB's optional ASYNC|SYNC (both flush at once here).
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
    ctx.shared.tracking.flushed(&ctx.shared.node);
    for db in 0..ctx.store().db_count() {
        ctx.store().flush_db(db);
    }
    ctx.shared.watches.touch_db(None);
    // Blocked stream group readers learn that their stream is gone.
    let all: Vec<usize> = (0..ctx.store().db_count()).collect();
    ctx.shared.blocking.signal_dbs(&all);
    ctx.out.ok();
    Ok(())
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    flush_mode(args)?;
    ctx.shared.tracking.flushed(&ctx.shared.node);
    ctx.store().flush_db(ctx.client.db);
    ctx.shared.watches.touch_db(Some(ctx.client.db));
    ctx.shared.blocking.signal_dbs(&[ctx.client.db]);
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
