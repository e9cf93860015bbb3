//! Consumer group commands: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER,
//! DELCONSUMER), XACK, XPENDING, XCLAIM and XAUTOCLAIM. Reading through a
//! group (XREADGROUP) is `cmd/stream_read.rs`.

use bytes::Bytes;

use super::ctx::{arg_i64, help_reply, is, Ctx};
use super::stream::{
    parse_id, parse_range_end, parse_range_start, parse_strict_id, reply_entry, reply_id,
    stream_mut, stream_ref,
};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::store::notify::STREAM;
use crate::store::stream::{Group, Stream, StreamId};
use crate::store::Value;

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// `NOGROUP No such key '<key>' or consumer group '<group>'`.
fn no_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        lossy(key),
        lossy(group)
    ))
}

fn xgroup_syntax(args: &[Bytes]) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        lossy(&args[1])
    ))
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER key group ...
/// (one handler for all, as Redis' `xgroupCommand`).
pub fn xgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let (create, setid) = (is(sub, "create"), is(sub, "setid"));
    let mut mkstream = false;
    let mut entries_read: Option<u64> = None;
    if create || setid {
        let mut i = 5;
        while i < args.len() {
            if create && is(&args[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(&args[i], "entriesread") && i + 1 < args.len() {
                let n = arg_i64(&args[i + 1])?;
                if n < -1 {
                    return Err(CmdError::err(
                        "value for ENTRIESREAD must be positive or -1",
                    ));
                }
                entries_read = (n >= 0).then_some(n as u64);
                i += 2;
            } else {
                return Err(xgroup_syntax(args));
            }
        }
    }
    let key = ctx.key(&args[2]);
    let lru = ctx.lru_stamp();
    let now = ctx.now_ms;
    let group = &args[3][..];
    let mut slot = ctx.lock(&key);
    let stream = stream_mut(&mut slot, &key)?;
    if !mkstream {
        let Some(s) = &stream else {
            return Err(CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        };
        let needs_group = setid || is(sub, "createconsumer") || is(sub, "delconsumer");
        if needs_group && !s.groups.contains_key(group) {
            return Err(CmdError::Other(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                lossy(group),
                lossy(&args[2])
            )));
        }
    }
    let n = args.len();
    if create && (5..=8).contains(&n) {
        let id = match &args[4][..] {
            b"$" => stream.as_ref().map_or(StreamId::MIN, |s| s.last_id),
            other => parse_strict_id(other, 0)?,
        };
        let added = match stream {
            Some(s) => add_group(s, group, id, entries_read),
            None => {
                let mut s = Stream::default();
                add_group(&mut s, group, id, entries_read);
                slot.set(&key, Value::Stream(Box::new(s)), false, lru);
                true
            }
        };
        if !added {
            return Err(CmdError::Other(
                "BUSYGROUP Consumer Group name already exists".into(),
            ));
        }
        slot.signal_modified(&key);
        slot.notify(STREAM, "xgroup-create", key.bytes);
        drop(slot);
        ctx.out.ok();
        return Ok(());
    }
    // Every other subcommand found the stream above.
    let Some(s) = stream else {
        return Err(xgroup_syntax(args));
    };
    if setid && (n == 5 || n == 7) {
        let id = match &args[4][..] {
            b"$" => s.last_id,
            other => parse_id(other, 0)?,
        };
        if let Some(g) = s.groups.get_mut(group) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        slot.signal_modified(&key);
        slot.notify(STREAM, "xgroup-setid", key.bytes);
        drop(slot);
        ctx.out.ok();
    } else if is(sub, "destroy") && n == 4 {
        let gone = s.groups.remove(group).is_some();
        if gone {
            slot.signal_modified(&key);
            slot.notify(STREAM, "xgroup-destroy", key.bytes);
        }
        drop(slot);
        ctx.out.int(i64::from(gone));
    } else if is(sub, "createconsumer") && n == 5 {
        let made = s
            .groups
            .get_mut(group)
            .is_some_and(|g| g.create_consumer(&args[4], now));
        if made {
            slot.signal_modified(&key);
            slot.notify(STREAM, "xgroup-createconsumer", key.bytes);
        }
        drop(slot);
        ctx.out.int(i64::from(made));
    } else if is(sub, "delconsumer") && n == 5 {
        let g = s.groups.get_mut(group);
        let existed = g
            .as_ref()
            .is_some_and(|g| g.consumers.contains_key(&args[4][..]));
        let pending = g.map_or(0, |g| g.delete_consumer(&args[4]));
        slot.signal_modified(&key);
        if existed {
            slot.notify(STREAM, "xgroup-delconsumer", key.bytes);
        }
        drop(slot);
        ctx.out.int(pending as i64);
    } else {
        return Err(xgroup_syntax(args));
    }
    Ok(())
}

/// Adds group `name` starting after `id`; false when it exists.
fn add_group(s: &mut Stream, name: &[u8], id: StreamId, entries_read: Option<u64>) -> bool {
    if s.groups.contains_key(name) {
        return false;
    }
    s.groups.insert(name.into(), Group::new(id, entries_read));
    true
}

/// XGROUP HELP
pub fn xgroup_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

/// XACK key group id [id ...]
pub fn xack(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let Some(g) = stream_mut(&mut slot, &key)?.and_then(|s| s.groups.get_mut(&args[2][..])) else {
        drop(slot);
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args[3..]
        .iter()
        .map(|a| parse_strict_id(a, 0))
        .collect::<Result<Vec<_>, _>>()?;
    let acked = ids.into_iter().filter(|&id| g.ack(id)).count();
    if acked > 0 {
        slot.signal_modified(&key);
    }
    drop(slot);
    ctx.out.int(acked as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = args.len();
    if n != 3 && !(6..=9).contains(&n) {
        return Err(CmdError::Syntax);
    }
    struct Extended {
        min_idle: i64,
        start: StreamId,
        end: StreamId,
        count: usize,
        consumer: Option<Bytes>,
    }
    let ext = if n >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&args[3], "idle") {
            min_idle = arg_i64(&args[4])?;
            if n < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = arg_i64(&args[at + 2])?.max(0) as usize;
        let start = parse_range_start(&args[at])?;
        let end = parse_range_end(&args[at + 1])?;
        Some(Extended {
            min_idle,
            start,
            end,
            count,
            consumer: args.get(at + 3).cloned(),
        })
    } else {
        None
    };
    let key = ctx.key(&args[1]);
    let now = ctx.now_ms;
    let mut slot = ctx.lock(&key);
    let g = stream_ref(ctx, &mut slot, &key)?
        .and_then(|s| s.groups.get(&args[2][..]))
        .ok_or_else(|| no_key_or_group(&args[1], &args[2]))?;
    let out = &mut *ctx.out;
    let Some(x) = ext else {
        out.array_len(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                reply_id(out, *first);
                reply_id(out, *last);
                let owners: Vec<(&Box<[u8]>, usize)> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .map(|(name, c)| (name, c.pel.len()))
                    .collect();
                out.array_len(owners.len());
                for (name, count) in owners {
                    out.array_len(2);
                    out.bulk(name);
                    out.bulk_int(count as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match &x.consumer {
        Some(name) => match g.consumers.get(&name[..]) {
            Some(c) if x.start <= x.end => c.pel.range(x.start..=x.end).copied().collect(),
            Some(_) => Vec::new(),
            None => {
                out.array_len(0);
                return Ok(());
            }
        },
        None if x.start <= x.end => g.pel.range(x.start..=x.end).map(|(id, _)| *id).collect(),
        None => Vec::new(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if rows.len() >= x.count {
            break;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        let idle = now as i64 - p.delivery_time as i64;
        if x.min_idle != 0 && idle < x.min_idle {
            continue;
        }
        rows.push((id, p, idle.max(0)));
    }
    out.array_len(rows.len());
    for (id, p, idle) in rows {
        out.array_len(4);
        reply_id(out, id);
        out.bulk(&p.consumer);
        out.int(idle);
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

/// One entry of a claim reply: its ID (JUSTID) or the entry (nil when gone).
fn reply_claimed(out: &mut Reply, s: &Stream, id: StreamId, justid: bool) {
    if justid {
        reply_id(out, id);
    } else {
        match s.get(id) {
            Some(e) => reply_entry(out, &e),
            None => out.null(),
        }
    }
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
pub fn xclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let now = ctx.now_ms as i64;
    let mut slot = ctx.lock(&key);
    let s = stream_mut(&mut slot, &key)?
        .filter(|s| s.groups.contains_key(&args[2][..]))
        .ok_or_else(|| no_key_or_group(&args[1], &args[2]))?;
    let min_idle = crate::util::parse_i64(&args[4])
        .ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match parse_strict_id(&args[j], 0) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<i64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = StreamId::MIN;
    let opt_int = |b: &[u8], what: &str| {
        crate::util::parse_i64(b)
            .ok_or_else(|| CmdError::err(format!("Invalid {what} option argument for XCLAIM")))
    };
    while j < args.len() {
        let more = j + 1 < args.len();
        let o = &args[j];
        if is(o, "force") {
            force = true;
        } else if is(o, "justid") {
            justid = true;
        } else if is(o, "idle") && more {
            j += 1;
            delivery = Some(now.saturating_sub(opt_int(&args[j], "IDLE")?));
        } else if is(o, "time") && more {
            j += 1;
            delivery = Some(opt_int(&args[j], "TIME")?);
        } else if is(o, "retrycount") && more {
            j += 1;
            retry = Some(opt_int(&args[j], "RETRYCOUNT")?);
        } else if is(o, "lastid") && more {
            j += 1;
            last_id = parse_strict_id(&args[j], 0)?;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized XCLAIM option '{}'",
                lossy(o)
            )));
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(t) if (0..=now).contains(&t) => t,
        _ => now,
    } as u64;
    let group_name = &args[2][..];
    let consumer = &args[3][..];
    let mut claimed = Vec::new();
    let (mut changed, mut created) = (false, false);
    {
        let exists: Vec<bool> = ids.iter().map(|&id| s.contains(id)).collect();
        let Some(g) = s.groups.get_mut(group_name) else {
            return Err(no_key_or_group(&args[1], &args[2]));
        };
        if last_id > g.last_id {
            g.last_id = last_id;
            changed = true;
        }
        for (&id, &present) in ids.iter().zip(&exists) {
            if !present {
                changed |= g.ack(id);
                continue;
            }
            let mut forced = false;
            if force && !g.pel.contains_key(&id) {
                g.pel.insert(
                    id,
                    crate::store::stream::Pending {
                        consumer: Box::default(),
                        delivery_time: now as u64,
                        delivery_count: 1,
                    },
                );
                forced = true;
            }
            let Some(p) = g.pel.get(&id) else { continue };
            if !forced && min_idle != 0 && now - (p.delivery_time as i64) < min_idle {
                continue;
            }
            created |= !g.consumers.contains_key(consumer);
            g.consumer(consumer, now as u64);
            let Some(p) = g.claim(id, consumer, now as u64) else {
                continue;
            };
            p.delivery_time = delivery;
            match retry {
                Some(n) if n >= 0 => p.delivery_count = n as u64,
                _ if !justid => p.delivery_count += 1,
                _ => {}
            }
            claimed.push(id);
            changed = true;
        }
    }
    let out = &mut *ctx.out;
    out.array_len(claimed.len());
    for &id in &claimed {
        reply_claimed(out, s, id, justid);
    }
    if changed {
        slot.signal_modified(&key);
    }
    if created {
        slot.notify(STREAM, "xgroup-createconsumer", key.bytes);
    }
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let min_idle = crate::util::parse_i64(&args[4])
        .ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = parse_range_start(&args[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            let max = i64::MAX / 16;
            count = match crate::util::parse_i64(&args[j + 1]) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
            j += 1;
        } else if is(&args[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let key = ctx.key(&args[1]);
    let now = ctx.now_ms;
    let mut slot = ctx.lock(&key);
    let s = stream_mut(&mut slot, &key)?
        .filter(|s| s.groups.contains_key(&args[2][..]))
        .ok_or_else(|| no_key_or_group(&args[1], &args[2]))?;
    let consumer = &args[3][..];
    let mut attempts = count.saturating_mul(10);
    let mut left = count;
    let pel: Vec<StreamId> = s
        .groups
        .get(&args[2][..])
        .map(|g| g.pel.range(start..).map(|(id, _)| *id).collect())
        .unwrap_or_default();
    let exists: Vec<bool> = pel.iter().map(|&id| s.contains(id)).collect();
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut created = false;
    let mut next = StreamId::MIN;
    let Some(g) = s.groups.get_mut(&args[2][..]) else {
        return Err(no_key_or_group(&args[1], &args[2]));
    };
    let mut it = pel.iter().zip(&exists);
    loop {
        if attempts == 0 || left == 0 {
            if let Some((&id, _)) = it.next() {
                next = id;
            }
            break;
        }
        attempts -= 1;
        let Some((&id, &present)) = it.next() else {
            break;
        };
        if !present {
            g.ack(id);
            deleted.push(id);
            left -= 1;
            continue;
        }
        let idle_ok = g
            .pel
            .get(&id)
            .is_some_and(|p| min_idle == 0 || now as i64 - p.delivery_time as i64 >= min_idle);
        if !idle_ok {
            continue;
        }
        created |= !g.consumers.contains_key(consumer);
        g.consumer(consumer, now);
        if let Some(p) = g.claim(id, consumer, now) {
            p.delivery_time = now;
            if !justid {
                p.delivery_count += 1;
            }
        }
        claimed.push(id);
        left -= 1;
    }
    if !claimed.is_empty() || !deleted.is_empty() {
        slot.signal_modified(&key);
    }
    if created {
        slot.notify(STREAM, "xgroup-createconsumer", key.bytes);
    }
    let Ok(Some(s)) = stream_mut(&mut slot, &key) else {
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.array_len(3);
    reply_id(out, next);
    out.array_len(claimed.len());
    for &id in &claimed {
        reply_claimed(out, s, id, justid);
    }
    out.array_len(deleted.len());
    for &id in &deleted {
        reply_id(out, id);
    }
    Ok(())
}
