//! XREAD and XREADGROUP: served at once when a stream has entries past the
//! requested ID, otherwise (with BLOCK) the client waits in the blocking
//! registry (`node::blocking`) and `attempt_stream_read` serves it after an
//! XADD, exactly like the list waiters.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::ctx::{arg_i64, is, After, Ctx};
use super::stream::{parse_strict_id, reply_entry, reply_id, stream_mut};
use crate::error::{CmdError, CmdResult};
use crate::node::blocking::{BlockOp, BlockSpec, Refusal, StreamWait};
use crate::resp::reply::Proto;
use crate::resp::Reply;
use crate::store::notify::STREAM;
use crate::store::stream::{Stream, StreamId};
use crate::store::{Store, Value};

/// Key positions of XREAD/XREADGROUP: the first half of the arguments after
/// STREAMS (searched from `from`).
fn streams_keys(args: &[Bytes], from: usize) -> Vec<usize> {
    let Some(at) = (from..args.len()).find(|&i| is(&args[i], "streams")) else {
        return Vec::new();
    };
    let n = (args.len() - at - 1) / 2;
    (at + 1..at + 1 + n).collect()
}

/// Key positions of XREAD.
pub fn xread_keys(args: &[Bytes]) -> Vec<usize> {
    streams_keys(args, 1)
}

/// Key positions of XREADGROUP.
pub fn xreadgroup_keys(args: &[Bytes]) -> Vec<usize> {
    streams_keys(args, 4)
}

/// Parsed XREAD/XREADGROUP arguments.
struct ReadArgs {
    /// BLOCK's timeout (inner None: forever); None without BLOCK.
    block: Option<Option<Duration>>,
    count: usize,
    group: Option<(Bytes, Bytes)>,
    noack: bool,
    /// Index of the first key.
    keys_at: usize,
    /// Number of streams.
    n: usize,
}

fn parse_read(args: &[Bytes], xreadgroup: bool) -> Result<ReadArgs, CmdError> {
    let mut r = ReadArgs {
        block: None,
        count: 0,
        group: None,
        noack: false,
        keys_at: 0,
        n: 0,
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let o = &args[i];
        if is(o, "block") && more > 0 {
            i += 1;
            let ms = crate::util::parse_i64(&args[i])
                .ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            r.block = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
        } else if is(o, "count") && more > 0 {
            i += 1;
            r.count = arg_i64(&args[i])?.max(0) as usize;
        } else if is(o, "streams") && more > 0 {
            let rest = args.len() - i - 1;
            if !rest.is_multiple_of(2) {
                // Redis 7.0 names XREAD and '$' for XREADGROUP too.
                return Err(CmdError::err("Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            r.keys_at = i + 1;
            r.n = rest / 2;
            break;
        } else if is(o, "group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !xreadgroup {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if r.keys_at == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && r.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// What one stream of a read asks for.
#[derive(Clone, Copy)]
enum Want {
    /// Entries after this ID (XREAD; `$` resolved).
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
    /// XREADGROUP with an ID: the consumer's pending entries after it.
    History(StreamId),
}

/// Delivers the entries after `gt` to `consumer` of `group` (creating the
/// consumer), writing them as an array: Redis' `streamReplyWithRange` with a
/// group. The group must exist.
#[allow(clippy::too_many_arguments)]
fn deliver_new(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    gt: StreamId,
    count: usize,
    noack: bool,
    now: u64,
    out: &mut Reply,
) {
    if let Some(g) = s.groups.get_mut(group) {
        g.consumer(consumer, now);
    }
    let start = gt.next().unwrap_or(StreamId::MIN);
    let ids: Vec<StreamId> = {
        let es = s.collect(start, StreamId::MAX, false, count);
        out.array_len(es.len());
        for e in &es {
            reply_entry(out, e);
        }
        es.iter().map(|e| e.id).collect()
    };
    for id in ids {
        s.advance_group(group, id);
        if !noack {
            if let Some(g) = s.groups.get_mut(group) {
                g.deliver(id, consumer, now);
            }
        }
    }
}

/// True when `group` exists and has no consumer `consumer` yet (serving
/// the read creates it, with Redis' `xgroup-createconsumer` event).
fn new_consumer(s: &Stream, group: &[u8], consumer: &[u8]) -> bool {
    s.groups
        .get(group)
        .is_some_and(|g| !g.consumers.contains_key(consumer))
}

/// Replays the consumer's pending entries after `gt` (Redis'
/// `streamReplyWithRangeFromConsumerPEL`): deleted entries come back as
/// `[id, nil]`, the others count one more delivery.
fn deliver_history(
    s: &mut Stream,
    group: &[u8],
    consumer: &[u8],
    gt: StreamId,
    count: usize,
    now: u64,
    out: &mut Reply,
) {
    let start = gt.next().unwrap_or(StreamId::MIN);
    let ids: Vec<StreamId> = match s.groups.get_mut(group) {
        Some(g) => {
            let c = g.consumer(consumer, now);
            let it = c.pel.range(start..).copied();
            if count == 0 {
                it.collect()
            } else {
                it.take(count).collect()
            }
        }
        None => Vec::new(),
    };
    out.array_len(ids.len());
    let mut present = Vec::with_capacity(ids.len());
    for &id in &ids {
        match s.get(id) {
            Some(e) => {
                reply_entry(out, &e);
                present.push(id);
            }
            None => {
                out.array_len(2);
                reply_id(out, id);
                out.null_array();
            }
        }
    }
    if let Some(g) = s.groups.get_mut(group) {
        for id in present {
            if let Some(p) = g.pel.get_mut(&id) {
                p.delivery_time = now;
                p.delivery_count += 1;
            }
        }
    }
}

fn stream_header(out: &mut Reply, key: &[u8]) {
    if out.proto == Proto::Resp2 {
        out.array_len(2);
    }
    out.bulk(key);
}

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

fn read_cmd(ctx: &mut Ctx<'_>, args: &[Bytes], xreadgroup: bool) -> CmdResult {
    let r = parse_read(args, xreadgroup)?;
    let keys = &args[r.keys_at..r.keys_at + r.n];
    let id_args = &args[r.keys_at + r.n..];
    // Resolve every ID (and check types and groups) before serving any.
    let mut wants = Vec::with_capacity(r.n);
    for (key, id_arg) in keys.iter().zip(id_args) {
        let k = ctx.key(key);
        let mut slot = ctx.lock(&k);
        let found = slot.get(&k).map(|e| match e.value() {
            Value::Stream(s) => Ok((
                s.last_id,
                r.group.as_ref().map(|g| s.groups.contains_key(&g.0[..])),
            )),
            _ => Err(CmdError::WrongType),
        });
        ctx.notify_miss(found.is_some(), key);
        let found = found.transpose()?;
        if let Some((group, _)) = &r.group {
            if !matches!(found, Some((_, Some(true)))) {
                return Err(nogroup(key, group));
            }
        }
        let want = match &id_arg[..] {
            b"$" if xreadgroup => {
                return Err(CmdError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            b"$" => Want::After(found.map_or(StreamId::MIN, |(last, _)| last)),
            b">" if !xreadgroup => {
                return Err(CmdError::err("The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."));
            }
            b">" => Want::New,
            other => {
                let id = parse_strict_id(other, 0)?;
                if xreadgroup {
                    Want::History(id)
                } else {
                    Want::After(id)
                }
            }
        };
        wants.push(want);
    }
    let mut body = Reply {
        buf: BytesMut::new(),
        proto: ctx.out.proto,
    };
    let mut served = 0;
    let now = ctx.now_ms;
    for (key, want) in keys.iter().zip(&wants) {
        let k = ctx.key(key);
        let mut slot = ctx.lock(&k);
        // Redis looks every key up twice (IDs, then serving): two `keymiss`.
        let Some(s) = stream_mut(&mut slot, &k)? else {
            ctx.notify_miss(false, key);
            continue;
        };
        match (*want, &r.group) {
            (Want::After(gt), _) => {
                if s.is_empty() || s.last_valid_id() <= gt {
                    continue;
                }
                stream_header(&mut body, key);
                let start = gt.next().unwrap_or(StreamId::MIN);
                let es = s.collect(start, StreamId::MAX, false, r.count);
                super::stream::reply_entries(&mut body, &es);
            }
            (Want::New, Some((g, c))) => {
                let Some(last) = s.groups.get(&g[..]).map(|g| g.last_id) else {
                    continue;
                };
                if s.is_empty() || s.last_valid_id() <= last {
                    continue;
                }
                stream_header(&mut body, key);
                let created = new_consumer(s, g, c);
                deliver_new(s, g, c, last, r.count, r.noack, now, &mut body);
                slot.signal_modified(&k);
                if created {
                    slot.notify(STREAM, "xgroup-createconsumer", key);
                }
            }
            (Want::History(gt), Some((g, c))) => {
                stream_header(&mut body, key);
                let created = new_consumer(s, g, c);
                deliver_history(s, g, c, gt, r.count, now, &mut body);
                slot.signal_modified(&k);
                if created {
                    slot.notify(STREAM, "xgroup-createconsumer", key);
                }
            }
            _ => continue,
        }
        served += 1;
    }
    if served > 0 {
        if ctx.out.proto == Proto::Resp2 {
            ctx.out.array_len(served);
        } else {
            ctx.out.map_len(served);
        }
        ctx.out.buf.extend_from_slice(&body.buf);
        return Ok(());
    }
    let Some(timeout) = r.block else {
        ctx.out.null_array();
        return Ok(());
    };
    // Commands under the exclusive gate (EXEC, scripts) cannot wait.
    if ctx.exclusive {
        ctx.out.null_array();
        return Ok(());
    }
    let after = keys
        .iter()
        .zip(&wants)
        .map(|(k, w)| {
            let id = match w {
                Want::After(id) | Want::History(id) => *id,
                Want::New => StreamId::MAX,
            };
            (Bytes::copy_from_slice(k), id)
        })
        .collect();
    let wait = StreamWait {
        after,
        count: r.count,
        group: r.group.map(|(g, c)| {
            (
                Bytes::copy_from_slice(&g),
                Bytes::copy_from_slice(&c),
                r.noack,
            )
        }),
    };
    ctx.after = Some(After::Block(BlockSpec {
        db: ctx.client.db,
        keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        op: BlockOp::Stream(Arc::new(wait)),
        timeout,
        proto: ctx.out.proto,
    }));
    Ok(())
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
pub fn xread(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_cmd(ctx, args, false)
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
pub fn xreadgroup(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_cmd(ctx, args, true)
}

/// Serves a blocked XREAD/XREADGROUP from `key` if it has entries past the
/// waiter's ID (for a group: past the group's last delivered ID at this
/// moment), as Redis' `serveClientsBlockedOnStreamKey` does: the reply holds
/// that one stream. A group deleted meanwhile ends the wait with NOGROUP,
/// a stream deleted with UNBLOCKED.
pub fn attempt_stream_read(
    store: &Store,
    db: usize,
    now: u64,
    key: &[u8],
    wait: &StreamWait,
    out: &mut Reply,
) -> Result<bool, Refusal> {
    let k = store.key(key);
    let mut slot = store.lock(db, &k, now);
    let Ok(Some(s)) = stream_mut(&mut slot, &k) else {
        // A group reader's stream is gone (deleted, flushed or replaced by
        // another type): Redis 7.0 ends its wait; a plain XREAD keeps waiting.
        if wait.group.is_some() {
            out.error("UNBLOCKED the stream key no longer exists");
            return Ok(true);
        }
        return Ok(false);
    };
    let header = |out: &mut Reply| {
        if out.proto == Proto::Resp2 {
            out.array_len(1);
            out.array_len(2);
        } else {
            out.map_len(1);
        }
        out.bulk(key);
    };
    match &wait.group {
        None => {
            let gt = wait
                .after
                .iter()
                .find(|(k, _)| &k[..] == key)
                .map_or(StreamId::MAX, |(_, id)| *id);
            if s.last_id <= gt {
                return Ok(false);
            }
            header(out);
            let start = gt.next().unwrap_or(StreamId::MIN);
            let es = s.collect(start, StreamId::MAX, false, wait.count);
            super::stream::reply_entries(out, &es);
        }
        Some((group, consumer, noack)) => {
            let Some(gt) = s.groups.get(&group[..]).map(|g| g.last_id) else {
                out.error("NOGROUP the consumer group this client was blocked on no longer exists");
                return Ok(true);
            };
            if s.last_id <= gt {
                return Ok(false);
            }
            header(out);
            let created = new_consumer(s, group, consumer);
            deliver_new(s, group, consumer, gt, wait.count, *noack, now, out);
            slot.signal_modified(&k);
            if created {
                slot.notify(STREAM, "xgroup-createconsumer", key);
            }
        }
    }
    Ok(true)
}
