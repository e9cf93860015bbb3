//! The blocking pops: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX and BZMPOP. Each serves a key at once when one has elements, or
//! asks its connection to block (`After::Block`); `attempt` is the one way a
//! pop runs, handed to the blocking registry (`node::blocking`) for waiters.
//! The pops themselves are the list's and the sorted set's
//! (`list::attempt_list_pop`, `list::move_elem`, `zset::attempt_zset_pop`);
//! blocked XREAD/XREADGROUP are served by `stream_read::attempt_stream_read`.

use std::time::Duration;

use bytes::Bytes;

use super::ctx::{After, Ctx};
use super::{list, zset};
use crate::error::{CmdError, CmdResult};
use crate::node::blocking::{BlockOp, BlockSpec, Refusal};
use crate::resp::Reply;
use crate::store::{End, Store};

/// Parses a blocking timeout in (float) seconds like Redis 7.0: truncated to
/// milliseconds, 0 meaning forever.
fn arg_timeout(b: &[u8]) -> Result<Option<Duration>, CmdError> {
    let secs = crate::util::parse_f64(b)
        .or_else(|| parse_hex_int(b))
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    let ms = secs * 1000.0;
    // C's (long long) cast of an out-of-range value yields LLONG_MIN.
    if ms.is_nan() || ms >= i64::MAX as f64 || ms <= -1.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let ms = ms as i64;
    Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
}

/// `strtold` also reads hexadecimal integers (`0x10`).
fn parse_hex_int(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let hex = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?;
    let v = u64::from_str_radix(hex, 16).ok()? as f64;
    Some(if neg { -v } else { v })
}

/// Runs `op` on `key` if it holds elements, writing the reply to `out`.
/// Returns true when served, false when the key is missing. The one path of
/// every blocking pop, both when the command first executes and when the
/// blocking registry (`node::blocking`) serves a waiter after a push, so the
/// two cannot drift apart.
pub fn attempt(
    store: &Store,
    db: usize,
    now: u64,
    key: &[u8],
    op: &BlockOp,
    out: &mut Reply,
) -> Result<bool, Refusal> {
    match op {
        BlockOp::Pop(end) => list::attempt_list_pop(store, db, now, key, *end, None, out),
        BlockOp::MPop(end, n) => list::attempt_list_pop(store, db, now, key, *end, Some(*n), out),
        BlockOp::ZPop { max, count } => {
            zset::attempt_zset_pop(store, db, now, key, *max, *count, out)
        }
        BlockOp::Stream(w) => super::stream_read::attempt_stream_read(store, db, now, key, w, out),
        BlockOp::Move { dest, from, to } => {
            match list::move_elem(store, db, now, key, dest, *from, *to)? {
                Some(item) => {
                    out.bulk(&item);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
    }
}

/// Serves a blocking command at once from the first of `keys` with elements,
/// answers a null inside MULTI/EXEC (which must not block), or asks the
/// connection loop to block.
fn pop_or_block(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    op: BlockOp,
    timeout: Option<Duration>,
) -> CmdResult {
    let (store, db) = (ctx.store(), ctx.client.db);
    for k in keys {
        match attempt(store, db, ctx.now_ms, k, &op, ctx.out) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(_) => return Err(CmdError::WrongType),
        }
    }
    // Commands under the exclusive gate (EXEC, scripts) cannot wait.
    if ctx.exclusive {
        match op {
            BlockOp::Move { .. } => ctx.out.null(),
            _ => ctx.out.null_array(),
        }
        return Ok(());
    }
    ctx.after = Some(After::Block(BlockSpec {
        db,
        keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        op,
        timeout,
        proto: ctx.out.proto,
    }));
    Ok(())
}

/// BLPOP/BRPOP: pops from `end` of the first non-empty list.
fn bpop(ctx: &mut Ctx<'_>, args: &[Bytes], end: End) -> CmdResult {
    let last = args.len() - 1;
    let timeout = arg_timeout(&args[last])?;
    pop_or_block(ctx, &args[1..last], BlockOp::Pop(end), timeout)
}

/// BLPOP key [key ...] timeout
pub fn blpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Left)
}

/// BRPOP key [key ...] timeout
pub fn brpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Right)
}

/// BLMOVE/BRPOPLPUSH: moves from `from` of the source to `to` of the destination.
fn bmove(ctx: &mut Ctx<'_>, args: &[Bytes], from: End, to: End, timeout: &[u8]) -> CmdResult {
    let timeout = arg_timeout(timeout)?;
    let op = BlockOp::Move {
        dest: Bytes::copy_from_slice(&args[2]),
        from,
        to,
    };
    pop_or_block(ctx, &args[1..2], op, timeout)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout
pub fn blmove(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (from, to) = (list::arg_end(&args[3])?, list::arg_end(&args[4])?);
    bmove(ctx, args, from, to, &args[5])
}

/// BRPOPLPUSH source destination timeout
pub fn brpoplpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bmove(ctx, args, End::Right, End::Left, &args[3])
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]
pub fn blmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = list::parse_mpop(args, 2)?;
    let timeout = arg_timeout(&args[1])?;
    pop_or_block(ctx, &args[p.keys], BlockOp::MPop(p.end, p.count), timeout)
}

/// BZPOPMIN/BZPOPMAX: pops the lowest (or highest, `max`) member.
fn bzpop(ctx: &mut Ctx<'_>, args: &[Bytes], max: bool) -> CmdResult {
    let last = args.len() - 1;
    let timeout = arg_timeout(&args[last])?;
    let op = BlockOp::ZPop { max, count: None };
    pop_or_block(ctx, &args[1..last], op, timeout)
}

/// BZPOPMIN key [key ...] timeout
pub fn bzpopmin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

/// BZPOPMAX key [key ...] timeout
pub fn bzpopmax(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
pub fn bzmpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let p = zset::parse_zmpop(args, 2)?;
    let timeout = arg_timeout(&args[1])?;
    let op = BlockOp::ZPop {
        max: p.max,
        count: Some(p.count),
    };
    pop_or_block(ctx, &args[p.keys], op, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_redis() {
        assert_eq!(arg_timeout(b"0"), Ok(None));
        assert_eq!(arg_timeout(b"0.0001"), Ok(None));
        assert_eq!(arg_timeout(b"1.5"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(arg_timeout(b"0x10"), Ok(Some(Duration::from_secs(16))));
        assert_eq!(
            arg_timeout(b"-1"),
            Err(CmdError::err("timeout is negative"))
        );
        assert_eq!(
            arg_timeout(b"inf"),
            Err(CmdError::err("timeout is negative"))
        );
        assert_eq!(
            arg_timeout(b"abc"),
            Err(CmdError::err("timeout is not a float or out of range"))
        );
    }
}
