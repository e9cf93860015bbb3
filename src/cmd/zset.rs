//! Sorted set commands (Redis 7.0): ZADD and friends, rank/score/lex ranges,
//! pops, set algebra (ZUNION/ZINTER/ZDIFF and their STORE forms), ZRANDMEMBER
//! and ZSCAN. Replies match Redis byte for byte in RESP2 and RESP3 (where
//! WITHSCORES replies are arrays of `[member, score]` pairs).
//!
//! The blocking pops (BZPOPMIN/BZPOPMAX/BZMPOP) are `cmd/blocking_pop.rs`;
//! they and ZMPOP serve keys through `attempt_zset_pop` here.

use std::collections::HashMap;

use bytes::Bytes;

use super::ctx::{arg_i64, is, numkeys_positions, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::blocking::Refusal;
use crate::resp::Reply;
use crate::store::notify::{GENERIC, ZSET};
use crate::store::zset::{cmp_elem, ZSet, ZsetLimits};
use crate::store::{Entry, Key, Store, Value};

fn err_min_max_float() -> CmdError {
    CmdError::err("min or max is not a float")
}

fn err_min_max_lex() -> CmdError {
    CmdError::err("min or max not valid string range item")
}

/// The compact-encoding limits from the configuration.
fn limits(ctx: &Ctx<'_>) -> ZsetLimits {
    let c = ctx.shared.config.read();
    ZsetLimits {
        entries: c.zset_max_listpack_entries as usize,
        value: c.zset_max_listpack_value as usize,
    }
}

/// The sorted set of an entry, or WRONGTYPE.
pub(super) fn as_zset(e: &Entry) -> Result<&ZSet, CmdError> {
    match e.value() {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

fn as_zset_mut(e: &mut Entry) -> Result<&mut ZSet, CmdError> {
    match e.value_mut() {
        Value::ZSet(z) => Ok(z),
        _ => Err(CmdError::WrongType),
    }
}

/// Parses a score like Redis' `getDoubleFromObject` (`strtod` over the
/// whole argument: hex and `inf` accepted; no NaN, no overflow to infinity
/// or underflow to zero).
pub(super) fn parse_score(b: &[u8]) -> Result<f64, CmdError> {
    crate::util::string2d(b).ok_or(CmdError::NotFloat)
}

/// Parses one end of a score range like Redis (`strtod` after an optional `(`):
/// leading blanks and an empty number (0) are accepted, NaN is not.
fn parse_score_bound(b: &[u8]) -> Option<(f64, bool)> {
    let (ex, rest) = match b.first() {
        Some(b'(') => (true, &b[1..]),
        _ => (false, b),
    };
    let s = std::str::from_utf8(rest).ok()?.trim_start();
    if s.is_empty() {
        return Some((0.0, ex));
    }
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some((v, ex))
}

/// Which elements a range command selects, tested one end at a time.
trait Interval {
    /// The element is at or past the lower end.
    fn above_min(&self, score: f64, member: &[u8]) -> bool;
    /// The element is at or before the upper end.
    fn below_max(&self, score: f64, member: &[u8]) -> bool;
    /// The range cannot contain anything (min after max).
    fn is_void(&self) -> bool;
}

/// `min max` score interval with exclusive ends.
struct ScoreRange {
    min: f64,
    minex: bool,
    max: f64,
    maxex: bool,
}

impl ScoreRange {
    fn parse(min: &[u8], max: &[u8]) -> Result<Self, CmdError> {
        let (min, minex) = parse_score_bound(min).ok_or_else(err_min_max_float)?;
        let (max, maxex) = parse_score_bound(max).ok_or_else(err_min_max_float)?;
        Ok(ScoreRange {
            min,
            minex,
            max,
            maxex,
        })
    }
}

impl Interval for ScoreRange {
    fn above_min(&self, s: f64, _: &[u8]) -> bool {
        if self.minex {
            s > self.min
        } else {
            s >= self.min
        }
    }
    fn below_max(&self, s: f64, _: &[u8]) -> bool {
        if self.maxex {
            s < self.max
        } else {
            s <= self.max
        }
    }
    fn is_void(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex range.
#[derive(Clone, Copy)]
enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

impl<'a> LexBound<'a> {
    fn parse(b: &'a [u8]) -> Option<Self> {
        match b.first()? {
            b'+' if b.len() == 1 => Some(LexBound::PosInf),
            b'-' if b.len() == 1 => Some(LexBound::NegInf),
            b'(' => Some(LexBound::Excl(&b[1..])),
            b'[' => Some(LexBound::Incl(&b[1..])),
            _ => None,
        }
    }

    /// Sort key of a bound: sentinels before and after every value.
    fn key(self) -> (u8, &'a [u8]) {
        match self {
            LexBound::NegInf => (0, &[]),
            LexBound::PosInf => (2, &[]),
            LexBound::Incl(x) | LexBound::Excl(x) => (1, x),
        }
    }

    fn exclusive(self) -> bool {
        matches!(self, LexBound::Excl(_))
    }
}

/// `min max` lex interval.
struct LexRange<'a> {
    min: LexBound<'a>,
    max: LexBound<'a>,
}

impl<'a> LexRange<'a> {
    fn parse(min: &'a [u8], max: &'a [u8]) -> Result<Self, CmdError> {
        Ok(LexRange {
            min: LexBound::parse(min).ok_or_else(err_min_max_lex)?,
            max: LexBound::parse(max).ok_or_else(err_min_max_lex)?,
        })
    }
}

impl Interval for LexRange<'_> {
    fn above_min(&self, _: f64, m: &[u8]) -> bool {
        match self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(x) => m >= x,
            LexBound::Excl(x) => m > x,
        }
    }
    fn below_max(&self, _: f64, m: &[u8]) -> bool {
        match self.max {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(x) => m <= x,
            LexBound::Excl(x) => m < x,
        }
    }
    fn is_void(&self) -> bool {
        let c = self.min.key().cmp(&self.max.key());
        c == std::cmp::Ordering::Greater
            || (c == std::cmp::Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }
}

/// Redis' quick rejection: a void range, or one that misses the whole set.
fn misses(z: &ZSet, r: &impl Interval) -> bool {
    match (z.at(0), z.len().checked_sub(1).and_then(|l| z.at(l))) {
        (Some((fm, fs)), Some((lm, ls))) => {
            r.is_void() || !r.above_min(ls, lm) || !r.below_max(fs, fm)
        }
        _ => true,
    }
}

/// Ascending rank interval `[lo, hi)` a range request with LIMIT selects,
/// found the way Redis walks it: locate the first (or, `rev`, last) element
/// in range, skip `offset` elements, then take up to `limit` (negative: all)
/// while they stay in range. The compact encoding is scanned linearly like a
/// listpack, the skiplist descends in O(log n); so lex ranges over mixed
/// scores select what Redis selects and LIMIT costs O(log n + offset + limit).
fn select_walk(z: &ZSet, r: &impl Interval, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    if offset < 0 || misses(z, r) {
        return (0, 0);
    }
    let len = z.len();
    let take = if limit < 0 {
        usize::MAX
    } else {
        limit as usize
    };
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    if rev {
        let last = match z {
            ZSet::Small(v) => v.iter().rposition(|(m, s)| r.below_max(*s, m)),
            ZSet::Big(_) => z.prefix_len(|s, m| r.below_max(s, m)).checked_sub(1),
        };
        let Some(last) = last.filter(|&e| z.at(e).is_some_and(|(m, s)| r.above_min(s, m))) else {
            return (0, 0);
        };
        let Some(top) = last.checked_sub(offset) else {
            return (0, 0);
        };
        let n = z
            .range(0, top + 1, true)
            .take(take)
            .take_while(|(m, s)| r.above_min(*s, m))
            .count();
        (top + 1 - n, top + 1)
    } else {
        let first = match z {
            ZSet::Small(v) => v.iter().position(|(m, s)| r.above_min(*s, m)),
            ZSet::Big(_) => Some(z.prefix_len(|s, m| !r.above_min(s, m))),
        };
        let Some(first) = first.filter(|&f| z.at(f).is_some_and(|(m, s)| r.below_max(s, m))) else {
            return (0, 0);
        };
        let from = first.saturating_add(offset).min(len);
        let n = z
            .range(from, len, false)
            .take(take)
            .take_while(|(m, s)| r.below_max(*s, m))
            .count();
        (from, from + n)
    }
}

/// Number of elements in range (ZCOUNT, ZLEXCOUNT): a walk on the compact
/// encoding, a rank difference of two O(log n) descents on the skiplist.
fn count_in(z: &ZSet, r: &impl Interval) -> usize {
    if let ZSet::Small(_) = z {
        let (lo, hi) = select_walk(z, r, false, 0, -1);
        return hi - lo;
    }
    if misses(z, r) {
        return 0;
    }
    let first = z.prefix_len(|s, m| !r.above_min(s, m));
    if !z.at(first).is_some_and(|(m, s)| r.below_max(s, m)) {
        return 0;
    }
    let Some(last) = z.prefix_len(|s, m| r.below_max(s, m)).checked_sub(1) else {
        return 0;
    };
    if !z.at(last).is_some_and(|(m, s)| r.above_min(s, m)) || last < first {
        return 0;
    }
    last - first + 1
}

/// Normalises Redis rank arguments (negative from the end) to `[start, end)`.
fn rank_span(len: usize, start: i64, end: i64) -> (usize, usize) {
    let n = len as i64;
    let mut s = if start < 0 { n + start } else { start };
    let mut e = if end < 0 { n + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= n {
        return (0, 0);
    }
    if e >= n {
        e = n - 1;
    }
    (s as usize, e as usize + 1)
}

/// Writes `n` elements: members, plus scores with `withscores` (flat in
/// RESP2, `[member, score]` pairs in RESP3).
fn emit_elems<'a>(
    out: &mut Reply,
    n: usize,
    items: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
) {
    let pairs = withscores && out.resp3();
    emit_with(out, n, items, withscores, pairs);
}

/// Like `emit_elems` with the pair framing chosen by the caller.
fn emit_with<'a>(
    out: &mut Reply,
    n: usize,
    items: impl Iterator<Item = (&'a [u8], f64)>,
    withscores: bool,
    pairs: bool,
) {
    out.array_len(if withscores && !pairs { 2 * n } else { n });
    for (m, s) in items {
        if pairs {
            out.array_len(2);
        }
        out.bulk(m);
        if withscores {
            out.double(s);
        }
    }
}

/// Replaces `key` with `elems` (sorted, distinct) and raises `event`, or
/// deletes it when empty (raising `del` if it existed); returns the count.
pub(super) fn store_result(
    ctx: &Ctx<'_>,
    slot: &mut crate::store::Locked<'_>,
    key: &Key<'_>,
    elems: Vec<(Box<[u8]>, f64)>,
    event: &str,
) -> usize {
    let n = elems.len();
    if n == 0 {
        if slot.remove(key).is_some() {
            slot.notify(GENERIC, "del", key.bytes);
        }
    } else {
        let z = ZSet::from_sorted(elems, limits(ctx));
        slot.set(key, Value::ZSet(Box::new(z)), false, ctx.lru_stamp());
        slot.notify(ZSET, event, key.bytes);
    }
    n
}

// ---------------------------------------------------------------- ZADD

/// Parsed ZADD flags.
#[derive(Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// Outcome of applying ZADD elements.
#[derive(Default)]
struct AddOutcome {
    added: i64,
    updated: i64,
    processed: i64,
    last_score: f64,
}

/// Applies `(score, member)` pairs to `z` with Redis' `zsetAdd` rules.
fn zadd_apply(
    z: &mut ZSet,
    f: AddFlags,
    pairs: &[(f64, &[u8])],
    lim: ZsetLimits,
) -> Result<AddOutcome, CmdError> {
    let mut o = AddOutcome::default();
    for &(score, member) in pairs {
        let mut score = score;
        match z.score(member) {
            Some(cur) => {
                if f.nx {
                    continue;
                }
                if f.incr {
                    score += cur;
                    if score.is_nan() {
                        return Err(CmdError::err("resulting score is not a number (NaN)"));
                    }
                }
                if (f.lt && score >= cur) || (f.gt && score <= cur) {
                    continue;
                }
                o.last_score = score;
                o.processed += 1;
                if score != cur {
                    z.set(member, score, lim);
                    o.updated += 1;
                }
            }
            None if !f.xx => {
                z.set(member, score, lim);
                o.added += 1;
                o.processed += 1;
                o.last_score = score;
            }
            None => {}
        }
    }
    Ok(o)
}

/// Shared body of ZADD and ZINCRBY; `first` is the index of the first option or score.
fn zadd_generic(ctx: &mut Ctx<'_>, args: &[Bytes], mut f: AddFlags, first: usize) -> CmdResult {
    let mut i = first;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") {
            f.nx = true;
        } else if is(a, "xx") {
            f.xx = true;
        } else if is(a, "gt") {
            f.gt = true;
        } else if is(a, "lt") {
            f.lt = true;
        } else if is(a, "ch") {
            f.ch = true;
        } else if is(a, "incr") {
            f.incr = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = args.len() - i;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if [f.gt, f.lt, f.nx].iter().filter(|&&b| b).count() > 1 {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && elements > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let pairs = args[i..]
        .chunks(2)
        .map(|p| Ok((parse_score(&p[0])?, &p[1][..])))
        .collect::<Result<Vec<_>, CmdError>>()?;
    let lim = limits(ctx);
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let event = if f.incr { "zincr" } else { "zadd" };
    let outcome = match slot.get_mut_quiet(&key) {
        Some(e) => {
            let o = zadd_apply(as_zset_mut(e)?, f, &pairs, lim)?;
            // Redis signals only when a member was added or its score changed.
            if o.added + o.updated > 0 {
                slot.signal_modified(&key);
                slot.notify(ZSET, event, key.bytes);
            }
            o
        }
        None if f.xx => AddOutcome::default(),
        None => {
            let mut z = ZSet::new(lim, pairs[0].1.len());
            let o = zadd_apply(&mut z, f, &pairs, lim)?;
            if !z.is_empty() {
                slot.set(&key, Value::ZSet(Box::new(z)), false, ctx.lru_stamp());
                slot.notify(ZSET, event, key.bytes);
            }
            o
        }
    };
    if f.incr {
        if outcome.processed > 0 {
            ctx.out.double(outcome.last_score);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out
            .int(outcome.added + if f.ch { outcome.updated } else { 0 });
    }
    Ok(())
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, AddFlags::default(), 2)
}

/// ZINCRBY key increment member
pub fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_generic(ctx, args, f, 2)
}

// ---------------------------------------------------------------- simple reads and ZREM

/// Runs `f` on the sorted set at `args[1]` (None when missing), for read commands.
fn read_zset<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&ZSet>, &mut Reply) -> T,
) -> Result<T, CmdError> {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let e = slot.get(&key);
    ctx.hit(e.is_some(), key.bytes);
    let z = e.map(as_zset).transpose()?;
    Ok(f(z, ctx.out))
}

/// ZCARD key
pub fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_zset(ctx, &args[1], |z, out| {
        out.int(z.map_or(0, |z| z.len()) as i64)
    })
}

/// ZSCORE key member
pub fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_zset(ctx, &args[1], |z, out| {
        match z.and_then(|z| z.score(&args[2])) {
            Some(s) => out.double(s),
            None => out.null(),
        }
    })
}

/// ZMSCORE key member [member ...]
pub fn zmscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    read_zset(ctx, &args[1], |z, out| {
        out.array_len(args.len() - 2);
        for m in &args[2..] {
            match z.and_then(|z| z.score(m)) {
                Some(s) => out.double(s),
                None => out.null(),
            }
        }
    })
}

fn rank_generic(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    read_zset(ctx, &args[1], |z, out| {
        match z.and_then(|z| z.rank(&args[2]).map(|r| (r, z.len()))) {
            Some((r, n)) => out.int(if rev { n - 1 - r } else { r } as i64),
            None => out.null(),
        }
    })
}

/// ZRANK key member
pub fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, false)
}

/// ZREVRANK key member
pub fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, true)
}

/// ZCOUNT key min max
pub fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    read_zset(ctx, &args[1], |z, out| {
        out.int(z.map_or(0, |z| count_in(z, &r)) as i64)
    })
}

/// ZLEXCOUNT key min max
pub fn zlexcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    read_zset(ctx, &args[1], |z, out| {
        out.int(z.map_or(0, |z| count_in(z, &r)) as i64)
    })
}

/// Runs `f` on the sorted set at `key` for a write; deletes the key when `f`
/// leaves it empty. Returns None when the key is missing. The key counts as
/// modified (WATCH) and raises `event` only when `changed` says so of
/// `f`'s result; a deletion raises `del` after it.
fn write_zset<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    event: &str,
    changed: fn(&T) -> bool,
    f: impl FnOnce(&mut ZSet) -> T,
) -> Result<Option<T>, CmdError> {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let Some(e) = slot.get_mut_quiet(&key) else {
        return Ok(None);
    };
    let z = as_zset_mut(e)?;
    let r = f(z);
    let empty = z.is_empty();
    if changed(&r) {
        slot.signal_modified(&key);
        slot.notify(ZSET, event, key.bytes);
    }
    if empty {
        slot.remove(&key);
        slot.notify(GENERIC, "del", key.bytes);
    }
    Ok(Some(r))
}

/// ZREM key member [member ...]
pub fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = write_zset(
        ctx,
        &args[1],
        "zrem",
        |&n| n > 0,
        |z| args[2..].iter().filter(|m| z.remove(m).is_some()).count(),
    )?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

/// Removes the elements with ascending ranks `[s, e)`; returns how many.
fn remove_span(z: &mut ZSet, (s, e): (usize, usize)) -> usize {
    let members: Vec<Box<[u8]>> = z.range(s, e, false).map(|(m, _)| m.into()).collect();
    for m in &members {
        z.remove(m);
    }
    members.len()
}

/// ZREMRANGEBYRANK key start stop
pub fn zremrangebyrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, end) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    let n = write_zset(
        ctx,
        &args[1],
        "zremrangebyrank",
        |&n| n > 0,
        |z| {
            let sp = rank_span(z.len(), start, end);
            remove_span(z, sp)
        },
    )?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

/// ZREMRANGEBYSCORE key min max
pub fn zremrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = ScoreRange::parse(&args[2], &args[3])?;
    remove_interval(ctx, &args[1], &r, "zremrangebyscore")
}

/// ZREMRANGEBYLEX key min max
pub fn zremrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let r = LexRange::parse(&args[2], &args[3])?;
    remove_interval(ctx, &args[1], &r, "zremrangebylex")
}

/// Removes the members of `key` inside the score or lex interval `r` and
/// replies with how many went.
fn remove_interval(ctx: &mut Ctx<'_>, key: &[u8], r: &impl Interval, event: &str) -> CmdResult {
    let n = write_zset(
        ctx,
        key,
        event,
        |&n| n > 0,
        |z| {
            let sp = select_walk(z, r, false, 0, -1);
            remove_span(z, sp)
        },
    )?;
    ctx.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

// ---------------------------------------------------------------- ZRANGE family

/// How a range command interprets `min max`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeBy {
    Rank,
    Score,
    Lex,
}

/// A parsed range request, resolved to ranks by `select`.
enum RangeArg<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// The ascending rank interval a range request selects, after LIMIT.
fn select(z: &ZSet, r: &RangeArg<'_>, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    match r {
        RangeArg::Rank(a, b) => {
            let (s, e) = rank_span(z.len(), *a, *b);
            let n = z.len();
            // Reverse ranks count from the tail: map them back to ascending ranks.
            match (rev, s == e) {
                (_, true) => (0, 0),
                (true, false) => (n - e, n - s),
                (false, false) => (s, e),
            }
        }
        RangeArg::Score(sr) => select_walk(z, sr, rev, offset, limit),
        RangeArg::Lex(lr) => select_walk(z, lr, rev, offset, limit),
    }
}

/// Shared body of ZRANGE, ZRANGESTORE, Z[REV]RANGEBYSCORE, Z[REV]RANGEBYLEX and
/// ZREVRANGE. `by`/`rev` are fixed by the legacy commands and None for ZRANGE.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    store: bool,
    mut by: Option<RangeBy>,
    mut rev: Option<bool>,
) -> CmdResult {
    let src = if store { 2 } else { 1 };
    let (mut minidx, mut maxidx) = (src + 1, src + 2);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = src + 3;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && left >= 2 {
            offset = arg_i64(&args[j + 1])?;
            limit = arg_i64(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if by.is_none() && is(a, "bylex") {
            by = Some(RangeBy::Lex);
        } else if by.is_none() && is(a, "byscore") {
            by = Some(RangeBy::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    let by = by.unwrap_or(RangeBy::Rank);
    if limit != -1 && by == RangeBy::Rank {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && by == RangeBy::Lex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    if rev && by != RangeBy::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let range = match by {
        RangeBy::Rank => RangeArg::Rank(arg_i64(&args[minidx])?, arg_i64(&args[maxidx])?),
        RangeBy::Score => RangeArg::Score(ScoreRange::parse(&args[minidx], &args[maxidx])?),
        RangeBy::Lex => RangeArg::Lex(LexRange::parse(&args[minidx], &args[maxidx])?),
    };
    if store {
        let (dst, srck) = (ctx.key(&args[1]), ctx.key(&args[2]));
        let mut locks = ctx
            .store()
            .lock_many(ctx.client.db, &[dst, srck], ctx.now_ms);
        let src_entry = locks.of(&srck).get(&srck);
        ctx.notify_miss(src_entry.is_some(), srck.bytes);
        let elems: Vec<(Box<[u8]>, f64)> = match src_entry {
            None => Vec::new(),
            Some(e) => {
                let z = as_zset(e)?;
                let (s, e) = select(z, &range, rev, offset, limit);
                z.range(s, e, false).map(|(m, sc)| (m.into(), sc)).collect()
            }
        };
        let n = store_result(ctx, locks.of(&dst), &dst, elems, "zrangestore");
        ctx.out.int(n as i64);
        return Ok(());
    }
    read_zset(ctx, &args[src], |z, out| match z {
        None => out.array_len(0),
        Some(z) => {
            let (s, e) = select(z, &range, rev, offset, limit);
            emit_elems(out, e - s, z.range(s, e, rev), withscores);
        }
    })
}

/// ZRANGE key min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, None, None)
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, true, None, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
pub fn zrevrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, Some(RangeBy::Rank), Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, Some(RangeBy::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
pub fn zrevrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, Some(RangeBy::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
pub fn zrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, Some(RangeBy::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
pub fn zrevrangebylex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zrange_generic(ctx, args, false, Some(RangeBy::Lex), Some(true))
}

// ---------------------------------------------------------------- pops

/// Removes up to `count` elements from the low (or `max`: high) end.
fn pop_n(z: &mut ZSet, count: usize, max: bool) -> Vec<(Box<[u8]>, f64)> {
    let n = count.min(z.len());
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let rank = if max { z.len() - 1 } else { 0 };
        let Some((m, s)) = z.at(rank).map(|(m, s)| (Box::<[u8]>::from(m), s)) else {
            break;
        };
        z.remove(&m);
        out.push((m, s));
    }
    out
}

fn zpop_generic(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match args.get(2) {
        Some(c) => {
            let n = arg_i64(c)
                .ok()
                .filter(|&n| n >= 0)
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?;
            Some(n as usize)
        }
        None => None,
    };
    let popped = write_zset(
        ctx,
        &args[1],
        if max { "zpopmax" } else { "zpopmin" },
        |p: &Vec<(Box<[u8]>, f64)>| !p.is_empty(),
        |z| pop_n(z, count.unwrap_or(1), max),
    )?;
    let popped = popped.unwrap_or_default();
    // RESP3 uses pairs only when a count was given.
    let pairs = ctx.out.resp3() && count.is_some();
    emit_with(
        ctx.out,
        popped.len(),
        popped.iter().map(|(m, s)| (&m[..], *s)),
        true,
        pairs,
    );
    Ok(())
}

/// ZPOPMIN key [count]
pub fn zpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, false)
}

/// ZPOPMAX key [count]
pub fn zpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    zpop_generic(ctx, args, true)
}

/// Serves a blocked BZPOPMIN/BZPOPMAX from `key` (pops one element, writes
/// `[key, member, score]`) or a BZMPOP (`count` set: pops up to `count`,
/// writes `[key, [[member, score], ...]]`); false when the key is missing,
/// `Refusal::Source` when it holds another type.
pub fn attempt_zset_pop(
    store: &Store,
    db: usize,
    now: u64,
    key: &[u8],
    max: bool,
    count: Option<usize>,
    out: &mut Reply,
) -> Result<bool, Refusal> {
    let k = store.key(key);
    let mut slot = store.lock(db, &k, now);
    let Some(e) = slot.get_mut(&k) else {
        return Ok(false);
    };
    let Value::ZSet(z) = e.value_mut() else {
        return Err(Refusal::Source);
    };
    let popped = pop_n(z, count.unwrap_or(1), max);
    let empty = z.is_empty();
    if !popped.is_empty() {
        slot.notify(ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
    }
    if empty {
        slot.remove(&k);
        slot.notify(GENERIC, "del", key);
    }
    drop(slot);
    if popped.is_empty() {
        return Ok(false);
    }
    match count {
        Some(_) => {
            out.array_len(2);
            out.bulk(key);
            emit_with(
                out,
                popped.len(),
                popped.iter().map(|(m, s)| (&m[..], *s)),
                true,
                true,
            );
        }
        None => {
            out.array_len(3);
            out.bulk(key);
            out.bulk(&popped[0].0);
            out.double(popped[0].1);
        }
    }
    Ok(true)
}

/// Parsed `numkeys key [key ...] MIN|MAX [COUNT count]` of ZMPOP/BZMPOP
/// (Redis' `zmpopGenericCommand` checks, in its order).
pub(crate) struct ZMPopArgs {
    /// Where the keys are in the arguments.
    pub keys: std::ops::Range<usize>,
    /// MAX (true) or MIN.
    pub max: bool,
    /// How many elements at most.
    pub count: usize,
}

/// Parses ZMPOP's (`numkeys_at` 1) or BZMPOP's (2) arguments.
pub(crate) fn parse_zmpop(args: &[Bytes], numkeys_at: usize) -> Result<ZMPopArgs, CmdError> {
    let numkeys = arg_i64(&args[numkeys_at])
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let where_idx = (numkeys as usize).saturating_add(numkeys_at + 1);
    if where_idx >= args.len() {
        return Err(CmdError::Syntax);
    }
    let max = if is(&args[where_idx], "max") {
        true
    } else if is(&args[where_idx], "min") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && is(&args[j], "count") && j + 1 < args.len() {
            let n = arg_i64(&args[j + 1])
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| CmdError::err("count should be greater than 0"))?;
            count = Some(n as usize);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(ZMPopArgs {
        keys: numkeys_at + 1..where_idx,
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]
pub fn zmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = parse_zmpop(args, 1)?;
    let (store, db) = (ctx.store(), ctx.client.db);
    for k in &args[p.keys] {
        match attempt_zset_pop(store, db, ctx.now_ms, k, p.max, Some(p.count), ctx.out) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => return Err(CmdError::WrongType),
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// Keys of BZMPOP.
pub fn keys_bzmpop(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 2)
}

// ---------------------------------------------------------------- set algebra

/// Which set operation to run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// How scores of the same member combine.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(a: Aggregate, target: &mut f64, v: f64) {
    match a {
        Aggregate::Sum => {
            *target += v;
            // inf + -inf: Redis uses 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if v < *target {
                *target = v;
            }
        }
        Aggregate::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// `weight * score`, with Redis' 0 for NaN (inf * 0).
fn weighted(w: f64, s: f64) -> f64 {
    let v = w * s;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

// Inputs of the set algebra. Plain sets (`Value::Set`, members with score 1.0)
// plug in here: add one arm to each of these three functions.

/// Cardinality of an input, or WRONGTYPE.
fn input_len(e: &Entry) -> Result<usize, CmdError> {
    match e.value() {
        // Plain sets take part with every score 1, as in Redis.
        Value::Set(s) => Ok(s.len()),
        _ => Ok(as_zset(e)?.len()),
    }
}

/// Calls `f` on every `(member, score)` of an input.
fn input_for_each(e: &Entry, mut f: impl FnMut(&[u8], f64)) {
    match e.value() {
        Value::ZSet(z) => {
            for (m, s) in z.iter() {
                f(m, s);
            }
        }
        Value::Set(set) => {
            let mut buf = itoa::Buffer::new();
            for m in set.iter() {
                f(m.bytes(&mut buf), 1.0);
            }
        }
        _ => {}
    }
}

/// Score of `member` in an input.
fn input_score(e: &Entry, member: &[u8]) -> Option<f64> {
    match e.value() {
        Value::ZSet(z) => z.score(member),
        Value::Set(set) => set.contains_bytes(member).then_some(1.0),
        _ => None,
    }
}

/// Keys of ZUNION, ZINTER, ZDIFF, ZINTERCARD and ZMPOP (numkeys at 1).
pub fn keys_numkeys(args: &[Bytes]) -> Vec<usize> {
    numkeys_positions(args, 1)
}

/// Keys of ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE: destination, then numkeys at 2.
pub fn keys_store(args: &[Bytes]) -> Vec<usize> {
    let mut v = vec![1];
    v.extend(numkeys_positions(args, 2));
    v
}

/// Shared body of ZUNION/ZINTER/ZDIFF, their STORE forms and ZINTERCARD,
/// following Redis' order of checks (WRONGTYPE before option errors).
fn setop_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    op: SetOp,
    store: bool,
    card_only: bool,
) -> CmdResult {
    let nk_at = if store { 2 } else { 1 };
    let numkeys = arg_i64(&args[nk_at])?;
    if numkeys < 1 {
        return Err(CmdError::err(format!(
            "at least 1 input key is needed for '{}' command",
            String::from_utf8_lossy(&args[0]).to_ascii_lowercase()
        )));
    }
    if numkeys as u64 > (args.len() - nk_at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    let n = numkeys as usize;
    let first = nk_at + 1;
    let srcs: Vec<Key<'_>> = args[first..first + n].iter().map(|k| ctx.key(k)).collect();
    let dst = store.then(|| ctx.key(&args[1]));
    let mut all = srcs.clone();
    all.extend(dst);
    let mut locks = ctx.store().lock_many(ctx.client.db, &all, ctx.now_ms);
    let mut lens = Vec::with_capacity(n);
    for k in &srcs {
        let e = locks.of(k).get(k);
        ctx.notify_miss(e.is_some(), k.bytes);
        lens.push(match e {
            Some(e) => input_len(e)?,
            None => 0,
        });
    }
    let (mut weights, mut agg, mut withscores, mut limit) =
        (vec![1.0; n], Aggregate::Sum, false, 0usize);
    let mut j = first + n;
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j];
        let weighted_op = op != SetOp::Diff && !card_only;
        if weighted_op && remaining > n && is(a, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                *w = parse_score(&args[j + 1 + i])
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
            }
            j += n + 1;
        } else if weighted_op && remaining >= 2 && is(a, "aggregate") {
            let v = &args[j + 1];
            agg = if is(v, "sum") {
                Aggregate::Sum
            } else if is(v, "min") {
                Aggregate::Min
            } else if is(v, "max") {
                Aggregate::Max
            } else {
                return Err(CmdError::Syntax);
            };
            j += 2;
        } else if !store && !card_only && is(a, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(a, "limit") {
            limit = arg_i64(&args[j + 1])
                .ok()
                .filter(|&l| l >= 0)
                .ok_or_else(|| CmdError::err("LIMIT can't be negative"))?
                as usize;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    // Smallest inputs first, as Redis (it fixes the order sums are taken in).
    let mut order: Vec<usize> = (0..n).collect();
    if op != SetOp::Diff {
        order.sort_by_key(|&i| lens[i]);
    }
    let mut result: Vec<(Box<[u8]>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let mut acc: HashMap<Box<[u8]>, f64> = HashMap::new();
            for &i in &order {
                let k = &srcs[i];
                if let Some(e) = locks.of(k).get(k) {
                    input_for_each(e, |m, s| {
                        let v = weighted(weights[i], s);
                        match acc.get_mut(m) {
                            Some(t) => aggregate(agg, t, v),
                            None => {
                                acc.insert(m.into(), v);
                            }
                        }
                    });
                }
            }
            result = acc.into_iter().collect();
        }
        SetOp::Inter | SetOp::Diff => {
            let i0 = order[0];
            if lens[i0] > 0 {
                let k = &srcs[i0];
                if let Some(e) = locks.of(k).get(k) {
                    input_for_each(e, |m, s| result.push((m.into(), weighted(weights[i0], s))));
                }
                for &i in &order[1..] {
                    let k = &srcs[i];
                    let e = locks.of(k).get(k);
                    if op == SetOp::Inter {
                        result.retain_mut(|(m, t)| match e.and_then(|e| input_score(e, m)) {
                            Some(s) => {
                                aggregate(agg, t, weighted(weights[i], s));
                                true
                            }
                            None => false,
                        });
                    } else if let Some(e) = e {
                        result.retain(|(m, _)| input_score(e, m).is_none());
                    }
                }
            }
        }
    }
    if card_only {
        let n = result.len();
        ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
        return Ok(());
    }
    result.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
    if let Some(dst) = dst {
        let event = match op {
            SetOp::Union => "zunionstore",
            SetOp::Inter => "zinterstore",
            SetOp::Diff => "zdiffstore",
        };
        let n = store_result(ctx, locks.of(&dst), &dst, result, event);
        ctx.out.int(n as i64);
    } else {
        emit_elems(
            ctx.out,
            result.len(),
            result.iter().map(|(m, s)| (&m[..], *s)),
            withscores,
        );
    }
    Ok(())
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Union, false, false)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
pub fn zinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Inter, false, false)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
pub fn zdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Diff, false, false)
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zunionstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Union, true, false)
}

/// ZINTERSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
pub fn zinterstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Inter, true, false)
}

/// ZDIFFSTORE dst numkeys key [key ...]
pub fn zdiffstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Diff, true, false)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn zintercard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    setop_generic(ctx, args, SetOp::Inter, false, true)
}

// ---------------------------------------------------------------- random and scan

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    use rand::Rng;
    let mut rng = rand::rng();
    if args.len() == 2 {
        return read_zset(ctx, &args[1], |z, out| {
            match z
                .filter(|z| !z.is_empty())
                .and_then(|z| z.at(rng.random_range(0..z.len())))
            {
                Some((m, _)) => out.bulk(m),
                None => out.null(),
            }
        });
    }
    let count = match crate::util::parse_i64(&args[2]) {
        None => return Err(CmdError::NotInt),
        Some(i64::MIN) => {
            return Err(CmdError::err(
                "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(v) => v,
    };
    if args.len() > 4 || (args.len() == 4 && !is(&args[3], "withscores")) {
        return Err(CmdError::Syntax);
    }
    let withscores = args.len() == 4;
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    read_zset(ctx, &args[1], |z, out| {
        let Some(z) = z.filter(|z| !z.is_empty() && count != 0) else {
            out.array_len(0);
            return;
        };
        let len = z.len();
        if count < 0 {
            // With repetitions: |count| independent picks.
            let n = count.unsigned_abs() as usize;
            let picks = (0..n).filter_map(|_| z.at(rng.random_range(0..len)));
            emit_elems(out, n, picks, withscores);
        } else if count as u64 >= len as u64 {
            emit_elems(out, len, z.iter(), withscores);
        } else {
            let ranks = rand::seq::index::sample(&mut rng, len, count as usize);
            let picks = ranks.into_iter().filter_map(|r| z.at(r));
            emit_elems(out, count as usize, picks, withscores);
        }
    })
}

/// A score as ZSCAN prints it (Redis' `d2string`: integers without exponent).
fn score_text(s: f64) -> String {
    if s == 0.0 {
        return if s.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let lim = (i64::MAX / 2) as f64;
    if s.fract() == 0.0 && (-lim..=lim).contains(&s) {
        return (s as i64).to_string();
    }
    crate::resp::reply::format_double(s)
}

/// Order-preserving, never-zero cursor for a score (ZSCAN on the skiplist).
fn score_cursor(s: f64) -> u64 {
    let bits = (s + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

fn cursor_score(c: u64) -> f64 {
    if c >> 63 == 1 {
        f64::from_bits(c & !(1 << 63))
    } else {
        f64::from_bits(!c)
    }
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
///
/// A compact set is returned whole (cursor 0), as Redis does. On the skiplist
/// the cursor encodes the score to resume from and every reply ends at a
/// score boundary, so elements present for the whole scan are returned even
/// when others are added or removed meanwhile.
pub fn zscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = super::keys::parse_cursor(&args[2])?;
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let e = slot.get(&key);
    ctx.hit(e.is_some(), key.bytes);
    let Some(e) = e else {
        super::keys::scan_head(ctx.out, 0, 0);
        return Ok(());
    };
    let z = as_zset(e)?;
    let (pattern, count) = super::keys::parse_scan_opts(&args[3..])?;
    let (start, mut end) = match z {
        ZSet::Small(v) => (0, v.len()),
        ZSet::Big(_) if cursor == 0 => (0, (count as u64).min(z.len() as u64) as usize),
        ZSet::Big(_) => {
            let from = cursor_score(cursor);
            let s = z.prefix_len(|sc, _| sc < from);
            (s, s.saturating_add(count).min(z.len()))
        }
    };
    // Finish the run of equal scores so the next cursor starts at a new score.
    if let (ZSet::Big(_), Some((_, last))) = (z, end.checked_sub(1).and_then(|l| z.at(l))) {
        end = z.prefix_len(|sc, _| sc <= last).max(end);
    }
    let next = match z.at(end) {
        Some((_, s)) if matches!(z, ZSet::Big(_)) => score_cursor(s),
        _ => 0,
    };
    let items: Vec<(&[u8], f64)> = z
        .range(start, end, false)
        .filter(|(m, _)| pattern.is_none_or(|p| crate::util::glob_match(p, m, false)))
        .collect();
    ctx.out.array_len(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array_len(items.len() * 2);
    for (m, s) in items {
        ctx.out.bulk(m);
        ctx.out.bulk(score_text(s).as_bytes());
    }
    Ok(())
}
