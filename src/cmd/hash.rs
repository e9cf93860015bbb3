//! Hash commands: HSET and friends, counters, HRANDFIELD, HSCAN.

use bytes::Bytes;
use rand::Rng;

use super::ctx::{arg_i64, is, modify_key, read_key, value_for_write, Ctx};
use super::keys::{parse_cursor, parse_scan_opts, scan_head};
use super::set::{parse_rand_count, random_picks, RandPicks};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::store::hash::{HashLimits, HashValue};
use crate::store::notify::HASH;
use crate::store::{Key, Locked, Value};
use crate::util::{glob_match, incr_long_double, LdError};

/// The hash of a value, or WRONGTYPE.
fn as_hash(v: &Value) -> Result<&HashValue, CmdError> {
    match v {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// The listpack limits currently configured.
fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let c = ctx.shared.config.read();
    HashLimits {
        entries: c.hash_max_listpack_entries as usize,
        value: c.hash_max_listpack_value as usize,
    }
}

/// The hash at `key` for a write, created empty when missing (WRONGTYPE for
/// other types), signalled as modified (HSET does so even for an unchanged
/// value, as in Redis).
fn hash_for_write<'s>(
    slot: &'s mut Locked<'_>,
    key: &Key<'_>,
    lru: u32,
) -> Result<&'s mut HashValue, CmdError> {
    // Signalled first: the hash borrows the slot until the caller is done.
    // A WRONGTYPE failure drops the signal (the dispatcher keeps WATCH
    // notes of successful commands only).
    slot.signal_modified(key);
    value_for_write(slot, key, lru, || Value::Hash(Box::default()), hash_mut)
}

fn hash_mut(v: &mut Value) -> Option<&mut HashValue> {
    match v {
        Value::Hash(h) => Some(h),
        _ => None,
    }
}

fn hset_generic(ctx: &mut Ctx<'_>, args: &[Bytes], name: &str) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Arity(name.into()));
    }
    let (lim, lru) = (limits(ctx), ctx.lru_stamp());
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let h = hash_for_write(&mut slot, &key, lru)?;
    h.convert_for_lengths(args[2..].iter().map(|a| &a[..]), lim);
    let added = args[2..]
        .chunks_exact(2)
        .filter(|p| h.set(&p[0], &p[1], lim))
        .count();
    slot.notify(HASH, "hset", key.bytes);
    drop(slot);
    if name == "hmset" {
        ctx.out.ok();
    } else {
        ctx.out.int(added as i64);
    }
    Ok(())
}

/// HSET key field value [field value ...]
pub fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hset_generic(ctx, args, "hset")
}

/// HMSET key field value [field value ...]
pub fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hset_generic(ctx, args, "hmset")
}

/// HSETNX key field value
pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (lim, lru) = (limits(ctx), ctx.lru_stamp());
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let h = value_for_write(
        &mut slot,
        &key,
        lru,
        || Value::Hash(Box::default()),
        hash_mut,
    )?;
    let added = h.get(&args[2]).is_none() && h.set(&args[2], &args[3], lim);
    if added {
        slot.signal_modified(&key);
        slot.notify(HASH, "hset", key.bytes);
    }
    drop(slot);
    ctx.out.int(added as i64);
    Ok(())
}

/// HGET key field
pub fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        match v.map(as_hash).transpose()?.and_then(|h| h.get(&args[2])) {
            Some(val) => out.bulk(val),
            None => out.null(),
        }
        Ok(())
    })
}

/// HMGET key field [field ...]
pub fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        let h = v.map(as_hash).transpose()?;
        out.array_len(args.len() - 2);
        for f in &args[2..] {
            match h.and_then(|h| h.get(f)) {
                Some(val) => out.bulk(val),
                None => out.null(),
            }
        }
        Ok(())
    })
}

/// HDEL key field [field ...]
pub fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let removed = modify_key(
        &mut slot,
        &key,
        (HASH, "hdel"),
        hash_mut,
        HashValue::is_empty,
        |&n| n > 0,
        |h| args[2..].iter().filter(|f| h.remove(f)).count(),
    )?;
    drop(slot);
    ctx.out.int(removed.unwrap_or(0) as i64);
    Ok(())
}

/// Replies with an integer computed from the hash (0 for a missing key).
fn hash_int(ctx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(&HashValue) -> usize) -> CmdResult {
    read_key(ctx, key, |v, out| {
        out.int(v.map(as_hash).transpose()?.map(f).unwrap_or(0) as i64);
        Ok(())
    })
}

/// HLEN key
pub fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], HashValue::len)
}

/// HSTRLEN key field
pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], |h| h.get(&args[2]).map_or(0, <[u8]>::len))
}

/// HEXISTS key field
pub fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], |h| h.get(&args[2]).is_some() as usize)
}

/// Which parts of each pair HKEYS/HVALS/HGETALL return.
#[derive(Clone, Copy, PartialEq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn hgetall_generic(ctx: &mut Ctx<'_>, args: &[Bytes], parts: Parts) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        let h = v.map(as_hash).transpose()?;
        let n = h.map_or(0, HashValue::len);
        if parts == Parts::Both {
            out.map_len(n);
        } else {
            out.array_len(n);
        }
        for (f, val) in h.into_iter().flat_map(HashValue::iter) {
            if parts != Parts::Values {
                out.bulk(f);
            }
            if parts != Parts::Fields {
                out.bulk(val);
            }
        }
        Ok(())
    })
}

/// HKEYS key
pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hgetall_generic(ctx, args, Parts::Fields)
}

/// HVALS key
pub fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hgetall_generic(ctx, args, Parts::Values)
}

/// HGETALL key (a map in RESP3)
pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hgetall_generic(ctx, args, Parts::Both)
}

/// Applies `op` to the current value of a field (None when missing) and stores
/// the returned text; the hash is only created once `op` succeeded.
fn hincr_generic<T>(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    event: &str,
    op: impl FnOnce(Option<&[u8]>) -> Result<(String, T), CmdError>,
) -> Result<T, CmdError> {
    let (lim, lru) = (limits(ctx), ctx.lru_stamp());
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let cur = match slot.get(&key) {
        Some(e) => as_hash(e.value())?.get(&args[2]),
        None => None,
    };
    let (text, result) = op(cur)?;
    hash_for_write(&mut slot, &key, lru)?.set(&args[2], text.as_bytes(), lim);
    slot.notify(HASH, event, key.bytes);
    Ok(result)
}

/// HINCRBY key field increment
pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let incr = arg_i64(&args[3])?;
    let n = hincr_generic(ctx, args, "hincrby", |cur| {
        let cur = match cur {
            Some(v) => crate::util::parse_i64(v)
                .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
            None => 0,
        };
        let n = cur.checked_add(incr).ok_or(CmdError::Overflow)?;
        Ok((itoa::Buffer::new().format(n).to_string(), n))
    })?;
    ctx.out.int(n);
    Ok(())
}

/// HINCRBYFLOAT key field increment (C long double arithmetic, like Redis)
pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let incr = &args[3];
    match incr_long_double(None, incr) {
        Err(LdError::NanOrInf) => return Err(CmdError::err("value is NaN or Infinity")),
        Err(_) => return Err(CmdError::NotFloat),
        Ok(_) => {}
    }
    let text = hincr_generic(ctx, args, "hincrbyfloat", |cur| {
        let text = incr_long_double(Some(cur.unwrap_or(b"0")), incr).map_err(|e| match e {
            LdError::NanOrInf => CmdError::err("increment would produce NaN or Infinity"),
            LdError::BadValue => CmdError::err("hash value is not a float"),
            LdError::BadIncrement => CmdError::NotFloat,
        })?;
        Ok((text.clone(), text))
    })?;
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// Writes one HRANDFIELD pick: the field, or field and value (a pair in RESP3).
fn reply_pick(out: &mut Reply, (f, v): (&[u8], &[u8]), with_values: bool) {
    if with_values && out.resp3() {
        out.array_len(2);
    }
    out.bulk(f);
    if with_values {
        out.bulk(v);
    }
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return read_key(ctx, &args[1], |v, out| {
            match v.map(as_hash).transpose()? {
                Some(h) if !h.is_empty() => {
                    let i = rand::rng().random_range(0..h.len());
                    out.bulk(h.at(i).map_or(&[][..], |p| p.0));
                }
                _ => out.null(),
            }
            Ok(())
        });
    }
    let count = parse_rand_count(&args[2])?;
    let with_values = match args.get(3) {
        None => false,
        Some(a) if args.len() == 4 && is(a, "withvalues") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    read_key(ctx, &args[1], |v, out| {
        let Some(h) = v.map(as_hash).transpose()? else {
            out.array_len(0);
            return Ok(());
        };
        let picks = random_picks(h.len(), count);
        let n = picks.len();
        out.array_len(if with_values && !out.resp3() {
            2 * n
        } else {
            n
        });
        match picks {
            RandPicks::All(_) => h.iter().for_each(|p| reply_pick(out, p, with_values)),
            RandPicks::Repeat(n) => {
                let mut rng = rand::rng();
                for _ in 0..n {
                    if let Some(p) = h.at(rng.random_range(0..h.len())) {
                        reply_pick(out, p, with_values);
                    }
                }
            }
            RandPicks::Unique(idx) => idx
                .into_iter()
                .filter_map(|i| h.at(i))
                .for_each(|p| reply_pick(out, p, with_values)),
        }
        Ok(())
    })
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2])?;
    read_key(ctx, &args[1], |v, out| {
        let Some(h) = v.map(as_hash).transpose()? else {
            scan_head(out, 0, 0);
            return Ok(());
        };
        let (pattern, count) = parse_scan_opts(&args[3..])?;
        let (mut items, next) = h.scan(cursor, count);
        items.retain(|(f, _)| pattern.is_none_or(|p| glob_match(p, f, false)));
        scan_head(out, next, 2 * items.len());
        for (f, val) in items {
            out.bulk(f);
            out.bulk(val);
        }
        Ok(())
    })
}
