//! Set commands: SADD and friends, random picks, SMOVE, the multi-key
//! intersection/union/difference family and SSCAN.

use bytes::Bytes;
use rand::Rng;

use super::ctx::{arg_i64, is, modify_key, read_key, value_for_write, Ctx};
use super::keys::{parse_cursor, parse_scan_opts, scan_head};
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::store::notify::{GENERIC, SET};
use crate::store::set::{Member, SetValue};
use crate::store::{Key, Value};
use crate::util::glob_match;

/// The set of a value, or WRONGTYPE.
fn as_set(v: &Value) -> Result<&SetValue, CmdError> {
    match v {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

fn set_mut(v: &mut Value) -> Option<&mut SetValue> {
    match v {
        Value::Set(s) => Some(s),
        _ => None,
    }
}

/// The configured `set-max-intset-entries`.
fn max_intset(ctx: &Ctx<'_>) -> usize {
    ctx.shared.config.read().set_max_intset_entries as usize
}

/// Writes one member as a bulk string.
fn reply_member(out: &mut Reply, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_int(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// SADD key member [member ...]
pub fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (max, lru) = (max_intset(ctx), ctx.lru_stamp());
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let first = &args[2];
    let s = value_for_write(
        &mut slot,
        &key,
        lru,
        || Value::Set(Box::new(SetValue::for_first(first))),
        set_mut,
    )?;
    let added = args[2..]
        .iter()
        .filter(|m| s.add(Member::parse(m), max))
        .count();
    if added > 0 {
        slot.signal_modified(&key);
        slot.notify(SET, "sadd", key.bytes);
    }
    drop(slot);
    ctx.out.int(added as i64);
    Ok(())
}

/// SREM key member [member ...]
pub fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let removed = modify_key(
        &mut slot,
        &key,
        (SET, "srem"),
        set_mut,
        SetValue::is_empty,
        |&n| n > 0,
        |s| {
            args[2..]
                .iter()
                .filter(|m| s.remove(Member::parse(m)))
                .count()
        },
    )?;
    drop(slot);
    ctx.out.int(removed.unwrap_or(0) as i64);
    Ok(())
}

/// SCARD key
pub fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        out.int(v.map(as_set).transpose()?.map_or(0, SetValue::len) as i64);
        Ok(())
    })
}

/// SISMEMBER key member
pub fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        let s = v.map(as_set).transpose()?;
        out.int(s.is_some_and(|s| s.contains_bytes(&args[2])) as i64);
        Ok(())
    })
}

/// SMISMEMBER key member [member ...]
pub fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_key(ctx, &args[1], |v, out| {
        let s = v.map(as_set).transpose()?;
        out.array_len(args.len() - 2);
        for m in &args[2..] {
            out.int(s.is_some_and(|s| s.contains_bytes(m)) as i64);
        }
        Ok(())
    })
}

/// Parses the count of SRANDMEMBER/HRANDFIELD (any i64 but `i64::MIN`).
pub fn parse_rand_count(b: &[u8]) -> Result<i64, CmdError> {
    let n = arg_i64(b)?;
    if n == i64::MIN {
        return Err(CmdError::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

/// Which elements a counted random pick returns (Redis' cases).
pub enum RandPicks {
    /// Every element, in storage order (count covers the whole aggregate).
    All(usize),
    /// This many independent picks, repeats allowed (negative count, or 1).
    Repeat(u64),
    /// Distinct positions.
    Unique(Vec<usize>),
}

impl RandPicks {
    /// Number of elements the reply will hold.
    pub fn len(&self) -> usize {
        match self {
            RandPicks::All(n) => *n,
            RandPicks::Repeat(n) => *n as usize,
            RandPicks::Unique(v) => v.len(),
        }
    }

    /// True when nothing is picked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Chooses `count` random elements of an aggregate of `size` (> 0) like
/// SRANDMEMBER/HRANDFIELD: negative counts may repeat elements.
pub fn random_picks(size: usize, count: i64) -> RandPicks {
    if count == 0 {
        RandPicks::Unique(Vec::new())
    } else if count < 0 || count == 1 {
        RandPicks::Repeat(count.unsigned_abs())
    } else if count as u64 >= size as u64 {
        RandPicks::All(size)
    } else {
        let picked = rand::seq::index::sample(&mut rand::rng(), size, count as usize);
        RandPicks::Unique(picked.into_vec())
    }
}

/// SRANDMEMBER key [count]
pub fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    if args.len() == 2 {
        return read_key(ctx, &args[1], |v, out| {
            match v.map(as_set).transpose()? {
                Some(s) if !s.is_empty() => {
                    let i = rand::rng().random_range(0..s.len());
                    if let Some(m) = s.at(i) {
                        reply_member(out, m);
                    }
                }
                _ => out.null(),
            }
            Ok(())
        });
    }
    let count = parse_rand_count(&args[2])?;
    read_key(ctx, &args[1], |v, out| {
        let Some(s) = v.map(as_set).transpose()? else {
            out.array_len(0);
            return Ok(());
        };
        let picks = random_picks(s.len(), count);
        out.array_len(picks.len());
        match picks {
            RandPicks::All(_) => s.iter().for_each(|m| reply_member(out, m)),
            RandPicks::Repeat(n) => {
                let mut rng = rand::rng();
                for _ in 0..n {
                    if let Some(m) = s.at(rng.random_range(0..s.len())) {
                        reply_member(out, m);
                    }
                }
            }
            RandPicks::Unique(idx) => idx
                .into_iter()
                .filter_map(|i| s.at(i))
                .for_each(|m| reply_member(out, m)),
        }
        Ok(())
    })
}

/// SPOP key [count]
pub fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(c) => Some(
            crate::util::parse_i64(c)
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?
                as u64,
        ),
        None => None,
    };
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let out = &mut *ctx.out;
    let done = modify_key(
        &mut slot,
        &key,
        (SET, "spop"),
        set_mut,
        SetValue::is_empty,
        |&popped| popped,
        |s| {
            let Some(count) = count else {
                let i = rand::rng().random_range(0..s.len());
                out.bulk(&s.remove_at(i));
                return true;
            };
            if count >= s.len() as u64 {
                out.set_len(s.len());
                s.iter().for_each(|m| reply_member(out, m));
                *s = SetValue::Intset(Vec::new());
                return true;
            }
            let mut idx =
                rand::seq::index::sample(&mut rand::rng(), s.len(), count as usize).into_vec();
            // Removing from the highest position down keeps the lower positions valid.
            idx.sort_unstable_by_key(|&i| std::cmp::Reverse(i));
            out.set_len(idx.len());
            for i in idx {
                out.bulk(&s.remove_at(i));
            }
            count > 0
        },
    )?;
    if done.is_none() {
        match count {
            Some(_) => ctx.out.set_len(0),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// SMOVE source destination member
pub fn smove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (max, lru) = (max_intset(ctx), ctx.lru_stamp());
    let (src, dst) = (ctx.key(&args[1]), ctx.key(&args[2]));
    let member = &args[3];
    let mut locked = ctx
        .store()
        .lock_many(ctx.client.db, &[src, dst], ctx.now_ms);
    let (src_set, dst_set) = match &locked.entries(&[src, dst])[..] {
        [s, d] => (s.map(|e| as_set(e.value())), d.map(|e| as_set(e.value()))),
        _ => (None, None),
    };
    let Some(src_set) = src_set else {
        ctx.out.int(0);
        return Ok(());
    };
    let src_set = src_set?;
    dst_set.transpose()?;
    if src.bytes == dst.bytes {
        ctx.out.int(src_set.contains_bytes(member) as i64);
        return Ok(());
    }
    let m = Member::parse(member);
    let removed = modify_key(
        locked.of(&src),
        &src,
        (SET, "srem"),
        set_mut,
        SetValue::is_empty,
        |&r| r,
        |s| s.remove(m),
    )?;
    if removed != Some(true) {
        ctx.out.int(0);
        return Ok(());
    }
    let make = || Value::Set(Box::new(SetValue::for_first(member)));
    let dst_slot = locked.of(&dst);
    if value_for_write(dst_slot, &dst, lru, make, set_mut)?.add(m, max) {
        dst_slot.signal_modified(&dst);
        dst_slot.notify(SET, "sadd", dst.bytes);
    }
    ctx.out.int(1);
    Ok(())
}

/// The multi-key set operations.
#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Inter,
    Union,
    Diff,
}

/// Members of the intersection of `sets`, walking the smallest set like
/// Redis; None when a key is missing (empty intersection).
fn intersection<'a>(sets: &[Option<&'a SetValue>]) -> Option<impl Iterator<Item = Member<'a>>> {
    let mut sets: Vec<&'a SetValue> = sets.iter().copied().collect::<Option<_>>()?;
    sets.sort_by_key(|s| s.len());
    let first = *sets.first()?;
    let rest = sets.split_off(1);
    Some(
        first
            .iter()
            .filter(move |m| rest.iter().all(|s| s.contains(*m))),
    )
}

/// The result of `op` as a new set, encoded the way Redis builds it
/// (starting as an intset).
fn compute(op: SetOp, sets: &[Option<&SetValue>], max: usize) -> SetValue {
    let mut res = SetValue::Intset(Vec::new());
    match op {
        SetOp::Inter => {
            for m in intersection(sets).into_iter().flatten() {
                res.add(m, max);
            }
        }
        SetOp::Union => {
            for m in sets.iter().flatten().flat_map(|s| s.iter()) {
                res.add(m, max);
            }
        }
        SetOp::Diff => {
            if let Some((Some(first), rest)) = sets.split_first() {
                for m in first.iter() {
                    if !rest.iter().flatten().any(|s| s.contains(m)) {
                        res.add(m, max);
                    }
                }
            }
        }
    }
    res
}

/// Runs `op` over the sets at `srcs`, replying with the members or, with
/// `dst`, storing the result there (deleting it when empty) and replying
/// with its size.
fn set_op(ctx: &mut Ctx<'_>, op: SetOp, srcs: &[Bytes], dst: Option<&Bytes>) -> CmdResult {
    let event = match op {
        SetOp::Inter => "sinterstore",
        SetOp::Union => "sunionstore",
        SetOp::Diff => "sdiffstore",
    };
    let (max, lru) = (max_intset(ctx), ctx.lru_stamp());
    let mut keys: Vec<Key<'_>> = srcs.iter().map(|k| ctx.key(k)).collect();
    if let Some(d) = dst {
        keys.push(ctx.key(d));
    }
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    let entries = locked.entries(&keys[..srcs.len()]);
    let sets = entries
        .iter()
        .map(|e| e.map(|e| as_set(e.value())).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    for (k, s) in keys.iter().zip(&sets) {
        ctx.notify_miss(s.is_some(), k.bytes);
    }
    if op == SetOp::Inter && dst.is_none() {
        let members: Vec<Member<'_>> = intersection(&sets).into_iter().flatten().collect();
        ctx.out.set_len(members.len());
        members.into_iter().for_each(|m| reply_member(ctx.out, m));
        return Ok(());
    }
    let res = compute(op, &sets, max);
    drop(sets);
    drop(entries);
    let Some(d) = dst else {
        ctx.out.set_len(res.len());
        res.iter().for_each(|m| reply_member(ctx.out, m));
        return Ok(());
    };
    let dkey = ctx.key(d);
    let n = res.len();
    let slot = locked.of(&dkey);
    if n == 0 {
        if slot.remove(&dkey).is_some() {
            slot.notify(GENERIC, "del", dkey.bytes);
        }
    } else {
        slot.set(&dkey, Value::Set(Box::new(res)), false, lru);
        slot.notify(SET, event, dkey.bytes);
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// SMEMBERS key (Redis 7.0 serves it as a one-key SINTER)
pub fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Inter, &args[1..2], None)
}

/// SINTER key [key ...]
pub fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Inter, &args[1..], None)
}

/// SUNION key [key ...]
pub fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Union, &args[1..], None)
}

/// SDIFF key [key ...]
pub fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Diff, &args[1..], None)
}

/// SINTERSTORE destination key [key ...]
pub fn sinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Inter, &args[2..], Some(&args[1]))
}

/// SUNIONSTORE destination key [key ...]
pub fn sunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Union, &args[2..], Some(&args[1]))
}

/// SDIFFSTORE destination key [key ...]
pub fn sdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_op(ctx, SetOp::Diff, &args[2..], Some(&args[1]))
}

/// Parses SINTERCARD's numkeys (`ERR numkeys should be greater than 0`).
fn sintercard_numkeys(b: &[u8]) -> Option<usize> {
    crate::util::parse_i64(b)
        .filter(|&n| n > 0)
        .map(|n| n as usize)
}

/// Key positions of SINTERCARD numkeys key [key ...] [LIMIT limit].
pub fn sintercard_keys(args: &[Bytes]) -> Vec<usize> {
    let n = args.get(1).and_then(|a| sintercard_numkeys(a)).unwrap_or(0);
    (2..args.len()).take(n).collect()
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = sintercard_numkeys(&args[1])
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    if n > args.len() - 2 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0usize;
    let mut i = 2 + n;
    while i < args.len() {
        if is(&args[i], "limit") && i + 1 < args.len() {
            limit = crate::util::parse_i64(&args[i + 1])
                .filter(|&l| l >= 0)
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?
                as usize;
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys: Vec<Key<'_>> = args[2..2 + n].iter().map(|k| ctx.key(k)).collect();
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    let entries = locked.entries(&keys);
    for (k, e) in keys.iter().zip(&entries) {
        ctx.notify_miss(e.is_some(), k.bytes);
    }
    let sets = entries
        .iter()
        .map(|e| e.map(|e| as_set(e.value())).transpose())
        .collect::<Result<Vec<_>, _>>()?;
    let count = intersection(&sets).map_or(0, |it| {
        if limit > 0 {
            it.take(limit).count()
        } else {
            it.count()
        }
    });
    ctx.out.int(count as i64);
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[2])?;
    read_key(ctx, &args[1], |v, out| {
        let Some(s) = v.map(as_set).transpose()? else {
            scan_head(out, 0, 0);
            return Ok(());
        };
        let (pattern, count) = parse_scan_opts(&args[3..])?;
        let (mut items, next) = s.scan(cursor, count);
        if let Some(p) = pattern {
            let mut buf = itoa::Buffer::new();
            items.retain(|m| glob_match(p, m.bytes(&mut buf), false));
        }
        scan_head(out, next, items.len());
        items.into_iter().for_each(|m| reply_member(out, m));
        Ok(())
    })
}
