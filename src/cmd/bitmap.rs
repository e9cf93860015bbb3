//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS and
//! BITOP, with Redis 7.0's argument order, limits and error texts. Bit 0 is
//! the most significant bit of the first byte. Writes go through the slot
//! lock's methods, so WATCH, migration and memory accounting see them like
//! any string write; BITFIELD (cmd/bitfield.rs) shares the helpers here.

use bytes::Bytes;

use super::ctx::{arg_i64, is, read_key, Ctx};
use super::string::{as_str, as_str_mut, value_as_str};
use crate::error::{CmdError, CmdResult};
use crate::store::notify::{GENERIC, STRING};
use crate::store::{Key, StrValue, Value};
use crate::util::parse_i64;

/// Parses a bit offset like Redis' `getBitOffsetFromArgument`: with
/// `unit` (BITFIELD) a `#N` offset counts in fields of `unit` bits; an offset
/// whose byte lies at or past `proto-max-bulk-len` is refused.
pub(super) fn bit_offset(ctx: &Ctx<'_>, arg: &[u8], unit: Option<u32>) -> Result<u64, CmdError> {
    let err = || CmdError::err("bit offset is not an integer or out of range");
    let (digits, scale) = match (arg.first(), unit) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    // Redis multiplies without an overflow check; a wrapped product is
    // refused below when negative, like there.
    let n = parse_i64(digits).ok_or_else(err)?.wrapping_mul(scale);
    let max = ctx.shared.config.read().proto_max_bulk_len;
    if n < 0 || (n as u64 >> 3) >= max {
        return Err(err());
    }
    Ok(n as u64)
}

/// Runs `f` on the string at `key` made at least `min_len` bytes long (zero
/// padded; created when missing), like Redis' `lookupStringForBitCommand`.
/// `f` gets the bytes and says whether it changed them; the key counts as
/// modified (WATCH) when it was created, grown or changed, which the second
/// result tells.
pub(super) fn with_bit_string<R>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    min_len: usize,
    f: impl FnOnce(&mut [u8]) -> (R, bool),
) -> Result<(R, bool), CmdError> {
    let lru = ctx.lru_stamp();
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let created = match slot.get(&key) {
        Some(e) => {
            as_str(e)?;
            false
        }
        None => {
            let fresh = Value::Str(StrValue::raw(vec![0; min_len]));
            slot.set(&key, fresh, false, lru);
            true
        }
    };
    let Some(e) = slot.get_mut_quiet(&key) else {
        return Err(CmdError::WrongType);
    };
    let bytes = as_str_mut(e)?.make_raw();
    let grown = bytes.len() < min_len;
    if grown {
        bytes.resize(min_len, 0);
    }
    let (r, changed) = f(bytes);
    if grown || changed {
        slot.signal_modified(&key);
    }
    Ok((r, created || grown || changed))
}

/// SETBIT key offset value
pub fn setbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let bad_bit = || CmdError::err("bit is not an integer or out of range");
    let on = parse_i64(&args[3]).ok_or_else(bad_bit)?;
    if on & !1 != 0 {
        return Err(bad_bit());
    }
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    let (old, modified) = with_bit_string(ctx, &args[1], byte + 1, |v| {
        let old = (v[byte] >> shift) & 1;
        let changed = i64::from(old) != on;
        v[byte] = (v[byte] & !(1 << shift)) | ((on as u8) << shift);
        (old, changed)
    })?;
    if modified {
        ctx.notify(STRING, "setbit", &args[1]);
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

/// GETBIT key offset
pub fn getbit(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2], None)?;
    let byte = (offset >> 3) as usize;
    let shift = 7 - (offset & 7) as u32;
    read_key(ctx, &args[1], |v, out| {
        let bit = match v {
            Some(v) => {
                let mut b = itoa::Buffer::new();
                let s = value_as_str(v)?.as_bytes(&mut b);
                s.get(byte).map_or(0, |x| (x >> shift) & 1)
            }
            None => 0,
        };
        out.int(i64::from(bit));
        Ok(())
    })
}

/// A bit range of a string after Redis' index normalisation: bits `lo..=hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BitRange {
    lo: u64,
    hi: u64,
}

/// Normalises `start..=end` (negative from the end, clamped) over a string
/// of `len` bytes, counted in bits with `in_bits`; None when empty.
fn bit_range(len: usize, mut start: i64, mut end: i64, in_bits: bool) -> Option<BitRange> {
    let total = len as i64 * if in_bits { 8 } else { 1 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(if in_bits {
        BitRange { lo: start, hi: end }
    } else {
        BitRange {
            lo: start * 8,
            hi: end * 8 + 7,
        }
    })
}

/// BIT or BYTE (the unit of BITCOUNT's and BITPOS's range), else a syntax error.
fn range_unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Set bits of `p` in bits `r.lo..=r.hi`.
fn count_bits(p: &[u8], r: BitRange) -> u64 {
    let (first, last) = ((r.lo >> 3) as usize, (r.hi >> 3) as usize);
    let mut n: u64 = p[first..=last]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Take out the bits of the edge bytes outside the range.
    let head = p[first] & !(0xffu8 >> (r.lo & 7));
    let tail = p[last] & (0x7fu8 >> (r.hi & 7));
    n -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    n
}

/// BITCOUNT key [start end [BYTE|BIT]]
pub fn bitcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis 7.0 looks the key up before it parses the range.
    read_key(ctx, &args[1], |v, out| {
        let Some(v) = v else {
            out.int(0);
            return Ok(());
        };
        let mut b = itoa::Buffer::new();
        let p = value_as_str(v)?.as_bytes(&mut b);
        let range = match args.len() {
            2 => bit_range(p.len(), 0, -1, false),
            4 | 5 => {
                let (start, end) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
                if start < 0 && end < 0 && start > end {
                    out.int(0);
                    return Ok(());
                }
                let in_bits = match args.get(4) {
                    Some(unit) => range_unit(unit)?,
                    None => false,
                };
                bit_range(p.len(), start, end, in_bits)
            }
            _ => return Err(CmdError::Syntax),
        };
        out.int(range.map_or(0, |r| count_bits(p, r)) as i64);
        Ok(())
    })
}

/// Position of the first bit equal to `bit` in bits `r.lo..=r.hi` of `p`.
fn first_bit(p: &[u8], r: BitRange, bit: bool) -> Option<u64> {
    let mut i = r.lo;
    while i <= r.hi {
        let byte = p[(i >> 3) as usize];
        if i & 7 == 0 && i + 7 <= r.hi {
            let x = if bit { byte } else { !byte };
            if x != 0 {
                return Some(i + u64::from(x.leading_zeros()));
            }
            i += 8;
            continue;
        }
        if ((byte >> (7 - (i & 7))) & 1 == 1) == bit {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// BITPOS key bit [start [end [BYTE|BIT]]]
pub fn bitpos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bit = arg_i64(&args[2])?;
    if bit != 0 && bit != 1 {
        return Err(CmdError::err("The bit argument must be 1 or 0."));
    }
    let bit = bit == 1;
    read_key(ctx, &args[1], |v, out| {
        // A missing key is an endless run of zeroes (the range is not parsed).
        let Some(v) = v else {
            out.int(if bit { -1 } else { 0 });
            return Ok(());
        };
        let mut b = itoa::Buffer::new();
        let p = value_as_str(v)?.as_bytes(&mut b);
        let (range, end_given) = match args.len() {
            3 => (bit_range(p.len(), 0, -1, false), false),
            4..=6 => {
                let start = arg_i64(&args[3])?;
                let in_bits = match args.get(5) {
                    Some(unit) => range_unit(unit)?,
                    None => false,
                };
                match args.get(4) {
                    Some(end) => (bit_range(p.len(), start, arg_i64(end)?, in_bits), true),
                    None => (bit_range(p.len(), start, -1, false), false),
                }
            }
            _ => return Err(CmdError::Syntax),
        };
        let pos = match range {
            None => -1,
            Some(r) => match first_bit(p, r, bit) {
                Some(pos) => pos as i64,
                // Without an explicit end the string continues with zeroes.
                None if !bit && !end_given => (r.hi + 1) as i64,
                None => -1,
            },
        };
        out.int(pos);
        Ok(())
    })
}

/// A BITOP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// BITOP AND|OR|XOR|NOT destkey key [key ...]
pub fn bitop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let op = match &args[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return Err(CmdError::Syntax),
    };
    if op == BitOp::Not && args.len() != 4 {
        return Err(CmdError::err(
            "BITOP NOT must be called with a single source key.",
        ));
    }
    let lru = ctx.lru_stamp();
    let keys: Vec<Key<'_>> = args[2..].iter().map(|k| ctx.key(k)).collect();
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    let entries = locked.entries(&keys[1..]);
    for (k, e) in keys[1..].iter().zip(&entries) {
        ctx.notify_miss(e.is_some(), k.bytes);
    }
    let sources = entries
        .iter()
        .map(|e| e.map(as_str).transpose())
        .collect::<Result<Vec<Option<&StrValue>>, CmdError>>()?;
    let max_len = sources.iter().flatten().map(|s| s.len()).max().unwrap_or(0);
    let mut res = vec![0u8; max_len];
    for (i, src) in sources.iter().enumerate() {
        let mut b = itoa::Buffer::new();
        let bytes = src.map_or(&[][..], |s| s.as_bytes(&mut b));
        if i == 0 {
            res[..bytes.len()].copy_from_slice(bytes);
            if op == BitOp::Not {
                res.iter_mut().for_each(|x| *x = !*x);
            }
            continue;
        }
        match op {
            BitOp::And => {
                res[bytes.len()..].fill(0);
                res.iter_mut().zip(bytes).for_each(|(r, x)| *r &= x);
            }
            BitOp::Or => res.iter_mut().zip(bytes).for_each(|(r, x)| *r |= x),
            BitOp::Xor => res.iter_mut().zip(bytes).for_each(|(r, x)| *r ^= x),
            BitOp::Not => {}
        }
    }
    drop(sources);
    drop(entries);
    let dest = &keys[0];
    let slot = locked.of(dest);
    if max_len == 0 {
        if slot.remove(dest).is_some() {
            slot.notify(GENERIC, "del", dest.bytes);
        }
    } else {
        slot.set(dest, Value::Str(StrValue::raw(res)), false, lru);
        slot.notify(STRING, "set", dest.bytes);
    }
    ctx.out.int(max_len as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_normalise_like_redis() {
        assert_eq!(bit_range(6, 0, -1, false), Some(BitRange { lo: 0, hi: 47 }));
        assert_eq!(bit_range(6, 5, 30, true), Some(BitRange { lo: 5, hi: 30 }));
        assert_eq!(
            bit_range(6, -100, 100, true),
            Some(BitRange { lo: 0, hi: 47 })
        );
        assert_eq!(bit_range(6, 4, 2, false), None);
        assert_eq!(bit_range(0, 0, -1, false), None);
    }

    #[test]
    fn counts_and_positions_respect_edges() {
        let p = b"foobar";
        assert_eq!(count_bits(p, BitRange { lo: 0, hi: 47 }), 26);
        assert_eq!(count_bits(p, BitRange { lo: 5, hi: 30 }), 17);
        assert_eq!(
            first_bit(&[0x00, 0x01], BitRange { lo: 0, hi: 15 }, true),
            Some(15)
        );
        assert_eq!(
            first_bit(&[0xff, 0xfe], BitRange { lo: 3, hi: 15 }, false),
            Some(15)
        );
        assert_eq!(first_bit(&[0xff], BitRange { lo: 0, hi: 6 }, false), None);
    }
}
