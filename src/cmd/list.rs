//! List commands. The blocking ones (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH,
//! BLMPOP) are `cmd/blocking_pop.rs`; they and LMPOP serve keys through
//! `attempt_list_pop` and `move_elem` here.

use bytes::Bytes;

use super::ctx::{arg_i64, is, numkeys_positions, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::blocking::Refusal;
use crate::resp::Reply;
use crate::store::notify::{GENERIC, LIST};
use crate::store::{End, Entry, Key, List, Locked, Store, Value};

fn as_list_mut(e: &mut Entry) -> Result<&mut List, CmdError> {
    match e.value_mut() {
        Value::List(l) => Ok(l),
        _ => Err(CmdError::WrongType),
    }
}

/// The list at `key` (None when missing), WRONGTYPE for other types.
fn list_at<'l>(slot: &'l mut Locked<'_>, key: &Key<'_>) -> Result<Option<&'l mut List>, CmdError> {
    let now = slot.now_ms();
    match slot.get_mut(key) {
        Some(e) => {
            e.touch_access(now);
            as_list_mut(e).map(Some)
        }
        None => Ok(None),
    }
}

/// Deletes `key` when its list became empty (Redis never keeps empty lists).
fn drop_if_empty(slot: &mut Locked<'_>, key: &Key<'_>) {
    if matches!(slot.get(key).map(Entry::value), Some(Value::List(l)) if l.is_empty()) {
        slot.remove(key);
        slot.notify(GENERIC, "del", key.bytes);
    }
}

/// The event of a pop from `end`.
fn pop_event(end: End) -> &'static str {
    match end {
        End::Left => "lpop",
        End::Right => "rpop",
    }
}

/// The event of a push at `end`.
fn push_event(end: End) -> &'static str {
    match end {
        End::Left => "lpush",
        End::Right => "rpush",
    }
}

/// Parses an integer in `[min, max]`, answering `ERR <msg>` otherwise (Redis'
/// `getRangeLongFromObjectOrReply` with a custom message).
fn arg_range(b: &[u8], min: i64, max: i64, msg: &str) -> Result<i64, CmdError> {
    match crate::util::parse_i64(b) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(CmdError::err(msg)),
    }
}

/// Parses LEFT|RIGHT.
pub(crate) fn arg_end(b: &[u8]) -> Result<End, CmdError> {
    End::parse(b).ok_or(CmdError::Syntax)
}

/// Pops up to `count` elements from the list at `key` (deleting it when it
/// empties). None when the key is missing.
fn pop_n(
    slot: &mut Locked<'_>,
    key: &Key<'_>,
    end: End,
    count: usize,
) -> Result<Option<Vec<Box<[u8]>>>, CmdError> {
    let Some(list) = list_at(slot, key)? else {
        return Ok(None);
    };
    let n = count.min(list.len());
    let items: Vec<_> = (0..n).filter_map(|_| list.pop(end)).collect();
    if !items.is_empty() {
        slot.notify(LIST, pop_event(end), key.bytes);
    }
    drop_if_empty(slot, key);
    Ok(Some(items))
}

fn reply_items(out: &mut Reply, items: &[Box<[u8]>]) {
    out.array_len(items.len());
    for i in items {
        out.bulk(i);
    }
}

/// Moves one element from `src` to `dst`. None when the source is missing.
pub fn move_elem(
    store: &Store,
    db: usize,
    now: u64,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Box<[u8]>>, Refusal> {
    let (sk, dk) = (store.key(src), store.key(dst));
    let mut locks = store.lock_many(db, &[sk, dk], now);
    match list_at(locks.of(&sk), &sk) {
        Ok(Some(l)) if !l.is_empty() => {}
        Ok(_) => return Ok(None),
        Err(_) => return Err(Refusal::Source),
    }
    if src != dst
        && matches!(locks.of(&dk).get(&dk), Some(e) if !matches!(e.value(), Value::List(_)))
    {
        return Err(Refusal::Dest);
    }
    let s = locks.of(&sk);
    let Some(item) = list_at(s, &sk).ok().flatten().and_then(|l| l.pop(from)) else {
        return Ok(None);
    };
    // Redis pushes before it deletes an emptied source; rotating a
    // one-element list keeps the key (and its TTL).
    let lru = crate::store::evict::new_stamp(now);
    let d = locks.of(&dk);
    push_all(d, &dk, to, [&item[..]], true, lru).map_err(|_| Refusal::Dest)?;
    d.notify(LIST, push_event(to), dk.bytes);
    let s = locks.of(&sk);
    s.notify(LIST, pop_event(from), sk.bytes);
    if src != dst {
        drop_if_empty(s, &sk);
    }
    Ok(Some(item))
}

/// Pushes `items` at `end` of the list at `key`, creating it when missing
/// and `create` is set. Returns the new length (0 when missing and not created).
fn push_all<'i>(
    slot: &mut Locked<'_>,
    key: &Key<'_>,
    end: End,
    items: impl IntoIterator<Item = &'i [u8]>,
    create: bool,
    lru: u32,
) -> Result<usize, CmdError> {
    if let Some(list) = list_at(slot, key)? {
        items.into_iter().for_each(|i| list.push(end, i));
        return Ok(list.len());
    }
    if !create {
        return Ok(0);
    }
    let mut list = List::new();
    items.into_iter().for_each(|i| list.push(end, i));
    let n = list.len();
    slot.set(key, Value::List(Box::new(list)), false, lru);
    Ok(n)
}

/// Serves a pop of a blocked or LMPOP client from `key`: one element
/// (`[key, element]`) or, `count` set, up to `count` (`[key, [elements]]`);
/// false when the key is missing, `Refusal::Source` when it holds another type.
pub fn attempt_list_pop(
    store: &Store,
    db: usize,
    now: u64,
    key: &[u8],
    end: End,
    count: Option<usize>,
    out: &mut Reply,
) -> Result<bool, Refusal> {
    let k = store.key(key);
    let mut slot = store.lock(db, &k, now);
    let items = match pop_n(&mut slot, &k, end, count.unwrap_or(1)) {
        Ok(Some(items)) if !items.is_empty() => items,
        Ok(_) => return Ok(false),
        Err(_) => return Err(Refusal::Source),
    };
    drop(slot);
    out.array_len(2);
    out.bulk(key);
    match count {
        Some(_) => reply_items(out, &items),
        None => out.bulk(&items[0]),
    }
    Ok(true)
}

fn push(ctx: &mut Ctx<'_>, args: &[Bytes], end: End, create: bool) -> CmdResult {
    let key = ctx.key(&args[1]);
    let lru = ctx.lru_stamp();
    let mut slot = ctx.lock(&key);
    let len = push_all(
        &mut slot,
        &key,
        end,
        args[2..].iter().map(|a| &a[..]),
        create,
        lru,
    )?;
    if len > 0 {
        slot.notify(LIST, push_event(end), key.bytes);
    }
    ctx.out.int(len as i64);
    Ok(())
}

/// LPUSH key element [element ...]
pub fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, true)
}

/// RPUSH key element [element ...]
pub fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, true)
}

/// LPUSHX key element [element ...]
pub fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Left, false)
}

/// RPUSHX key element [element ...]
pub fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Right, false)
}

fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Arity(
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase(),
        ));
    }
    let count = match args.get(2) {
        Some(a) => {
            Some(arg_range(a, 0, i64::MAX, "value is out of range, must be positive")? as usize)
        }
        None => None,
    };
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let popped = pop_n(&mut slot, &key, end, count.unwrap_or(1))?;
    drop(slot);
    match (popped, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.null_array(),
        (Some(items), None) => match items.first() {
            Some(i) => ctx.out.bulk(i),
            None => ctx.out.null(),
        },
        (Some(items), Some(_)) => reply_items(ctx.out, &items),
    }
    Ok(())
}

/// LPOP key [count]
pub fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Left)
}

/// RPOP key [count]
pub fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Right)
}

/// Runs `f` on the list at `args[1]` for a read command, recording hit/miss;
/// `missing` answers when the key does not exist.
fn read(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&List, &mut Reply) -> CmdResult,
    missing: impl FnOnce(&mut Reply),
) -> CmdResult {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let list = list_at(&mut slot, &key)?;
    ctx.hit(list.is_some(), key.bytes);
    match list {
        Some(l) => f(l, ctx.out),
        None => {
            missing(ctx.out);
            Ok(())
        }
    }
}

/// LLEN key
pub fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read(
        ctx,
        &args[1],
        |l, out| {
            out.int(l.len() as i64);
            Ok(())
        },
        |out| out.int(0),
    )
}

/// LINDEX key index
pub fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read(
        ctx,
        &args[1],
        |l, out| {
            match l.get(arg_i64(&args[2])?) {
                Some(v) => out.bulk(v),
                None => out.null(),
            }
            Ok(())
        },
        Reply::null,
    )
}

/// LRANGE key start stop
pub fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    read(
        ctx,
        &args[1],
        |l, out| {
            match l.span(start, stop) {
                Some((a, b)) => {
                    out.array_len(b - a + 1);
                    l.range(a, b).for_each(|v| out.bulk(v));
                }
                None => out.array_len(0),
            }
            Ok(())
        },
        |out| out.array_len(0),
    )
}

/// Runs `f` on the list at `args[1]` for a write command and deletes the key
/// if the list empties; `missing` answers when the key does not exist. With
/// `if_resized` the key counts as modified (WATCH) only when its length
/// changed (LREM/LINSERT that found nothing signal nothing in Redis).
fn modify(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    event: &str,
    if_resized: bool,
    f: impl FnOnce(&mut List, &mut Reply) -> CmdResult,
    missing: impl FnOnce(&mut Reply) -> CmdResult,
) -> CmdResult {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let (result, changed) = match slot.get_mut_quiet(&key) {
        Some(e) => {
            let l = as_list_mut(e)?;
            let before = l.len();
            let result = f(l, ctx.out);
            (result, !if_resized || l.len() != before)
        }
        None => return missing(ctx.out),
    };
    if changed {
        slot.signal_modified(&key);
        if result.is_ok() {
            slot.notify(LIST, event, key.bytes);
        }
    }
    drop_if_empty(&mut slot, &key);
    result
}

/// LSET key index element
pub fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    modify(
        ctx,
        &args[1],
        "lset",
        false,
        |l, out| {
            if !l.set(arg_i64(&args[2])?, &args[3]) {
                return Err(CmdError::OutOfRange);
            }
            out.ok();
            Ok(())
        },
        |_| Err(CmdError::NoSuchKey),
    )
}

/// LTRIM key start stop
pub fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    let ok = |out: &mut Reply| {
        out.ok();
        Ok(())
    };
    modify(
        ctx,
        &args[1],
        "ltrim",
        false,
        |l, out| {
            l.retain_span(l.span(start, stop));
            ok(out)
        },
        ok,
    )
}

/// LREM key count element
pub fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = arg_i64(&args[2])?;
    modify(
        ctx,
        &args[1],
        "lrem",
        true,
        |l, out| {
            out.int(l.remove(count, &args[3]) as i64);
            Ok(())
        },
        |out| {
            out.int(0);
            Ok(())
        },
    )
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let side = if is(&args[2], "after") {
        End::Right
    } else if is(&args[2], "before") {
        End::Left
    } else {
        return Err(CmdError::Syntax);
    };
    modify(
        ctx,
        &args[1],
        "linsert",
        true,
        |l, out| {
            if l.insert(side, &args[3], &args[4]) {
                out.int(l.len() as i64);
            } else {
                out.int(-1);
            }
            Ok(())
        },
        |out| {
            out.int(0);
            Ok(())
        },
    )
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "rank") && more {
            rank = arg_i64(&args[j + 1])?;
            if rank == 0 {
                return Err(CmdError::err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
        } else if is(&args[j], "count") && more {
            count = Some(arg_range(
                &args[j + 1],
                0,
                i64::MAX,
                "COUNT can't be negative",
            )?);
        } else if is(&args[j], "maxlen") && more {
            maxlen = arg_range(&args[j + 1], 0, i64::MAX, "MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    let from_tail = rank < 0;
    // Redis negates with C wrap-around semantics (RANK LLONG_MIN matches at once).
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let elem = &args[2];
    read(
        ctx,
        &args[1],
        |l, out| {
            let len = l.len() as i64;
            let mut found = Vec::new();
            let mut matches = 0i64;
            let iter: Box<dyn Iterator<Item = &[u8]>> = if from_tail {
                Box::new(l.iter().rev())
            } else {
                Box::new(l.iter())
            };
            for (index, v) in iter.enumerate() {
                let index = index as i64;
                if maxlen != 0 && index >= maxlen {
                    break;
                }
                if v != &elem[..] {
                    continue;
                }
                matches += 1;
                if matches >= rank {
                    found.push(if from_tail { len - index - 1 } else { index });
                    match count {
                        None => break,
                        Some(c) if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c => {
                            break
                        }
                        Some(_) => {}
                    }
                }
            }
            match (count, found.first()) {
                (Some(_), _) => {
                    out.array_len(found.len());
                    found.iter().for_each(|&i| out.int(i));
                }
                (None, Some(&i)) => out.int(i),
                (None, None) => out.null(),
            }
            Ok(())
        },
        |out| match count {
            Some(_) => out.array_len(0),
            None => out.null(),
        },
    )
}

fn lmove_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    match move_elem(ctx.store(), ctx.client.db, ctx.now_ms, src, dst, from, to) {
        Ok(Some(item)) => ctx.out.bulk(&item),
        Ok(None) => ctx.out.null(),
        Err(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
pub fn lmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (from, to) = (arg_end(&args[3])?, arg_end(&args[4])?);
    lmove_generic(ctx, &args[1], &args[2], from, to)
}

/// RPOPLPUSH source destination
pub fn rpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    lmove_generic(ctx, &args[1], &args[2], End::Right, End::Left)
}

/// Parsed `numkeys key [key ...] LEFT|RIGHT [COUNT count]` of LMPOP/BLMPOP.
pub(crate) struct MPopArgs {
    /// Where the keys are in the arguments.
    pub keys: std::ops::Range<usize>,
    /// The end popped from.
    pub end: End,
    /// How many elements at most.
    pub count: usize,
}

/// Parses LMPOP's (`numkeys_at` 1) or BLMPOP's (2) arguments.
pub(crate) fn parse_mpop(args: &[Bytes], numkeys_at: usize) -> Result<MPopArgs, CmdError> {
    let numkeys = arg_range(
        &args[numkeys_at],
        1,
        i64::MAX,
        "numkeys should be greater than 0",
    )? as usize;
    let where_at = numkeys_at.saturating_add(numkeys).saturating_add(1);
    if where_at >= args.len() {
        return Err(CmdError::Syntax);
    }
    let end = arg_end(&args[where_at])?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            count = Some(
                arg_range(&args[j + 1], 1, i64::MAX, "count should be greater than 0")? as usize,
            );
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MPopArgs {
        keys: numkeys_at + 1..where_at,
        end,
        count: count.unwrap_or(1),
    })
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn lmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = parse_mpop(args, 1)?;
    let (store, db) = (ctx.store(), ctx.client.db);
    for k in &args[p.keys] {
        match attempt_list_pop(store, db, ctx.now_ms, k, p.end, Some(p.count), ctx.out) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => return Err(CmdError::WrongType),
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// Keys of LMPOP.
pub fn lmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 1)
}

/// Keys of BLMPOP.
pub fn blmpop_keys(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numkeys_positions_never_overrun() {
        let args: Vec<Bytes> = ["lmpop", "5", "a", "b"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(lmpop_keys(&args), vec![2, 3]);
        assert!(blmpop_keys(&args).is_empty(), "numkeys `a` is not a number");
        let args: Vec<Bytes> = ["blmpop", "0", "1", "a", "b"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(blmpop_keys(&args), vec![3]);
    }
}
