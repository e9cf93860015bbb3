//! BITFIELD and BITFIELD_RO: signed (i1..i64) and unsigned (u1..u63)
//! integers at any bit offset of a string, with GET/SET/INCRBY and the
//! OVERFLOW WRAP/SAT/FAIL policies, computed exactly as Redis 7.0 does
//! (including its two's-complement view of SET values for unsigned fields).
//! All operations are parsed before the key is touched, as in Redis.

use bytes::Bytes;

use super::bitmap::{bit_offset, with_bit_string};
use super::ctx::{arg_i64, is, read_key, Ctx};
use super::string::value_as_str;
use crate::error::{CmdError, CmdResult};
use crate::store::notify::STRING;

/// What to do when a SET or INCRBY does not fit the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the low bits (two's complement for signed fields).
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Leave the field alone and reply nil.
    Fail,
}

/// A field type: width and signedness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Width in bits (1..=64 signed, 1..=63 unsigned).
    pub bits: u32,
    /// Signed (`i`) or unsigned (`u`).
    pub signed: bool,
}

/// One parsed operation.
#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// An operation with its field, offset and the overflow policy in force.
#[derive(Debug, Clone, Copy)]
struct FieldOp {
    op: Op,
    field: Field,
    offset: u64,
    overflow: Overflow,
}

/// Parses `i<bits>` / `u<bits>` like Redis' `getBitfieldTypeFromArgument`
/// (the number ends at a NUL byte, as in C).
fn parse_field(arg: &[u8]) -> Result<Field, CmdError> {
    let err = || {
        CmdError::err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
        )
    };
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let digits = &arg[1..];
    let digits = &digits[..digits.iter().position(|&b| b == 0).unwrap_or(digits.len())];
    let bits = crate::util::parse_i64(digits).ok_or_else(err)?;
    if bits < 1 || bits > if signed { 64 } else { 63 } {
        return Err(err());
    }
    Ok(Field {
        bits: bits as u32,
        signed,
    })
}

/// The `bits`-bit big-endian field at bit `offset` of `p`, unsigned (bytes
/// past the end read as zero).
pub fn get_unsigned(p: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in offset..offset + u64::from(bits) {
        let byte = p.get((i >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from((byte >> (7 - (i & 7))) & 1);
    }
    v
}

/// The field as a signed integer (its top bit extended).
pub fn get_signed(p: &[u8], offset: u64, bits: u32) -> i64 {
    let v = get_unsigned(p, offset, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` of `p` (which must be long enough).
pub fn set_bits(p: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bit = ((value >> (u64::from(bits) - 1 - j)) & 1) as u8;
        let i = offset + j;
        let byte = &mut p[(i >> 3) as usize];
        let shift = 7 - (i & 7);
        *byte = (*byte & !(1 << shift)) | (bit << shift);
    }
}

/// `value + incr` for an unsigned field under `ow` (Redis'
/// `checkUnsignedBitfieldOverflow`): the new value, or None when FAIL refuses.
pub fn add_unsigned(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(max),
            Overflow::Fail => None,
        }
    } else if incr < 0 && incr < min_incr {
        match ow {
            Overflow::Wrap => Some(wrap()),
            Overflow::Sat => Some(0),
            Overflow::Fail => None,
        }
    } else {
        Some(value.wrapping_add(incr as u64))
    }
}

/// `value + incr` for a signed field under `ow` (Redis'
/// `checkSignedBitfieldOverflow`): the new value, or None when FAIL refuses.
pub fn add_signed(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    let limit = |sat: i64| match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(sat),
        Overflow::Fail => None,
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        limit(max)
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        limit(min)
    } else {
        Some(value.wrapping_add(incr))
    }
}

/// Parses the operations of `BITFIELD key ...` (everything after the key).
fn parse_ops(ctx: &Ctx<'_>, args: &[Bytes]) -> Result<Vec<FieldOp>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 0;
    while j < args.len() {
        let (name, rest) = (&args[j], args.len() - j - 1);
        let takes_value = if is(name, "get") && rest >= 2 {
            false
        } else if (is(name, "set") || is(name, "incrby")) && rest >= 3 {
            true
        } else if is(name, "overflow") && rest >= 1 {
            let kind = &args[j + 1];
            overflow = if is(kind, "wrap") {
                Overflow::Wrap
            } else if is(kind, "sat") {
                Overflow::Sat
            } else if is(kind, "fail") {
                Overflow::Fail
            } else {
                return Err(CmdError::err("Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        } else {
            return Err(CmdError::Syntax);
        };
        let field = parse_field(&args[j + 1])?;
        let offset = bit_offset(ctx, &args[j + 2], Some(field.bits))?;
        let op = if !takes_value {
            Op::Get
        } else if is(name, "set") {
            Op::Set(arg_i64(&args[j + 3])?)
        } else {
            Op::IncrBy(arg_i64(&args[j + 3])?)
        };
        ops.push(FieldOp {
            op,
            field,
            offset,
            overflow,
        });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

/// The value a GET of `op` reads from the bytes `p`.
fn read_field(p: &[u8], op: &FieldOp) -> i64 {
    let Field { bits, signed } = op.field;
    if signed {
        get_signed(p, op.offset, bits)
    } else {
        get_unsigned(p, op.offset, bits) as i64
    }
}

/// Runs one operation on `p`: its reply (None: nil, an OVERFLOW FAIL) and
/// whether it changed the field.
fn apply(p: &mut [u8], op: &FieldOp) -> (Option<i64>, bool) {
    let Field { bits, signed } = op.field;
    let (set, delta) = match op.op {
        Op::Set(v) => (Some(v), 0),
        Op::IncrBy(d) => (None, d),
        Op::Get => return (Some(read_field(p, op)), false),
    };
    // SET checks the new value against the field (adding zero) and replies
    // with the old one; INCRBY replies with the new one.
    let (old, new) = if signed {
        let old = get_signed(p, op.offset, bits);
        let new = match set {
            Some(v) => add_signed(v, 0, bits, op.overflow),
            None => add_signed(old, delta, bits, op.overflow),
        };
        (old as u64, new.map(|n| n as u64))
    } else {
        let old = get_unsigned(p, op.offset, bits);
        let new = match set {
            Some(v) => add_unsigned(v as u64, 0, bits, op.overflow),
            None => add_unsigned(old, delta, bits, op.overflow),
        };
        (old, new)
    };
    match new {
        Some(new) => {
            set_bits(p, op.offset, bits, new);
            let reply = if set.is_some() { old } else { new };
            (Some(reply as i64), old != new)
        }
        None => (None, false),
    }
}

/// Shared body of BITFIELD and BITFIELD_RO.
fn bitfield_generic(ctx: &mut Ctx<'_>, args: &[Bytes], read_only: bool) -> CmdResult {
    let ops = parse_ops(ctx, &args[2..])?;
    let highest = ops
        .iter()
        .filter(|o| !matches!(o.op, Op::Get))
        .map(|o| o.offset + u64::from(o.field.bits) - 1)
        .max();
    let Some(highest) = highest else {
        // Only GETs: a read that treats a missing key as zeroes.
        return read_key(ctx, &args[1], |v, out| {
            let mut b = itoa::Buffer::new();
            let p = match v {
                Some(v) => value_as_str(v)?.as_bytes(&mut b),
                None => &[],
            };
            out.array_len(ops.len());
            ops.iter().for_each(|op| out.int(read_field(p, op)));
            Ok(())
        });
    };
    if read_only {
        return Err(CmdError::err(
            "BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let min_len = (highest >> 3) as usize + 1;
    let (replies, _) = with_bit_string(ctx, &args[1], min_len, |p| {
        let mut changed = false;
        let replies: Vec<Option<i64>> = ops
            .iter()
            .map(|op| {
                let (reply, differs) = apply(p, op);
                changed |= differs;
                reply
            })
            .collect();
        (replies, changed)
    })?;
    // Redis counts the SET/INCRBY operations that ran (not those OVERFLOW
    // FAIL refused) and raises `setbit` when there was one.
    let wrote = ops
        .iter()
        .zip(&replies)
        .any(|(op, r)| !matches!(op.op, Op::Get) && r.is_some());
    if wrote {
        ctx.notify(STRING, "setbit", &args[1]);
    }
    ctx.out.array_len(replies.len());
    for r in replies {
        match r {
            Some(n) => ctx.out.int(n),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
pub fn bitfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, false)
}

/// BITFIELD_RO key [GET type offset] ...
pub fn bitfield_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    bitfield_generic(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The exact sum clamped, wrapped or refused: the model both adders must follow.
    fn model(value: i128, incr: i128, bits: u32, signed: bool, ow: Overflow) -> Option<i128> {
        let (min, max) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        let sum = value + incr;
        if (min..=max).contains(&sum) {
            return Some(sum);
        }
        match ow {
            Overflow::Fail => None,
            Overflow::Sat => Some(if sum > max { max } else { min }),
            Overflow::Wrap => {
                let m = sum.rem_euclid(1i128 << bits);
                Some(if signed && m > max {
                    m - (1i128 << bits)
                } else {
                    m
                })
            }
        }
    }

    fn overflow() -> impl Strategy<Value = Overflow> {
        prop_oneof![
            Just(Overflow::Wrap),
            Just(Overflow::Sat),
            Just(Overflow::Fail)
        ]
    }

    #[test]
    fn types_parse_like_redis() {
        assert_eq!(parse_field(b"i64").map(|f| f.bits), Ok(64));
        assert_eq!(parse_field(b"u63").map(|f| f.bits), Ok(63));
        assert!(parse_field(b"u64").is_err());
        assert!(parse_field(b"i0").is_err());
        assert!(parse_field(b"I8").is_err());
        assert!(parse_field(b"").is_err());
        assert_eq!(parse_field(b"i8\0junk").map(|f| f.bits), Ok(8));
    }

    #[test]
    fn unsigned_set_sees_twos_complement() {
        // SET u8 0 -1: the value is 2^64-1, above the maximum.
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Overflow::Wrap), Some(255));
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Overflow::Sat), Some(255));
        assert_eq!(add_unsigned(u64::MAX, 0, 8, Overflow::Fail), None);
        assert_eq!(add_signed(-300, 0, 8, Overflow::Wrap), Some(-44));
    }

    proptest! {
        #[test]
        fn unsigned_add_follows_model(bits in 1u32..=63, raw in any::<u64>(), incr in any::<i64>(), ow in overflow()) {
            let value = raw & ((1u64 << bits) - 1);
            let want = model(i128::from(value), i128::from(incr), bits, false, ow);
            prop_assert_eq!(add_unsigned(value, incr, bits, ow).map(i128::from), want);
        }

        #[test]
        fn signed_add_follows_model(bits in 1u32..=64, raw in any::<i64>(), incr in any::<i64>(), ow in overflow()) {
            let shift = 64 - bits;
            let value = (raw << shift) >> shift;
            let want = model(i128::from(value), i128::from(incr), bits, true, ow);
            prop_assert_eq!(add_signed(value, incr, bits, ow).map(i128::from), want);
        }

        #[test]
        fn fields_round_trip_without_touching_neighbours(
            buf in proptest::collection::vec(any::<u8>(), 16..24),
            offset in 0u64..64,
            bits in 1u32..=64,
            value in any::<u64>(),
        ) {
            let mut p = buf.clone();
            set_bits(&mut p, offset, bits, value);
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            prop_assert_eq!(get_unsigned(&p, offset, bits), value & mask);
            let shift = 64 - bits;
            prop_assert_eq!(get_signed(&p, offset, bits), ((value << shift) as i64) >> shift);
            for i in (0..p.len() as u64 * 8).filter(|&i| i < offset || i >= offset + u64::from(bits)) {
                prop_assert_eq!(get_unsigned(&p, i, 1), get_unsigned(&buf, i, 1));
            }
        }
    }
}
