//! Redis' HyperLogLog string representation, byte for byte, so that an HLL
//! written by ringcache is read by redis-server and the other way round, and
//! PFCOUNT gives the same numbers.
//!
//! An HLL is a plain string: a 16-byte header (`HYLL`, encoding byte, three
//! unused bytes, the cached cardinality as 8 little-endian bytes whose top
//! bit marks it stale) and then either 16384 dense 6-bit registers or the
//! sparse run-length opcodes ZERO `00xxxxxx`, XZERO `01xxxxxx yyyyyyyy` and
//! VAL `1vvvvvxx`. Elements are hashed with MurmurHash64A (seed 0xadc83b19):
//! 14 bits pick the register, the run of zeroes after them is its value.
//! The sparse editing follows Redis' `hllSparseSet` step by step (in-place
//! split, bounded merge of neighbours), because any other valid encoding
//! would make `GET` differ from redis-server's. Sans-I/O: plain byte vectors.

/// Header bytes before the registers.
pub const HDR_SIZE: usize = 16;
/// Number of registers (2^14).
pub const REGISTERS: usize = 1 << INDEX_BITS;
/// Length of a dense HLL string (header and 16384 6-bit registers).
pub const DENSE_SIZE: usize = HDR_SIZE + (REGISTERS * BITS).div_ceil(8);

const INDEX_BITS: usize = 14;
/// Bits of the hash left after the index (Redis' HLL_Q).
const Q: usize = 64 - INDEX_BITS;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
/// Largest value and run length a sparse VAL opcode holds.
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
/// Longest run a ZERO and an XZERO opcode cover.
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// Header byte holding the stale bit of the cached cardinality.
const CARD_MSB: usize = 15;
const SEED: u32 = 0xadc8_3b19;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// Why a string cannot be used as an HLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// Not an HLL at all (short, wrong magic, unknown encoding, bad dense length).
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// Looks like an HLL but the sparse opcodes do not cover the registers.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Corrupt,
}

/// MurmurHash64A as in Redis' hyperloglog.c (little-endian reads).
pub fn murmur64a(data: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = u64::from(seed) ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let mut k = u64::from_le_bytes(b).wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to and the value it offers (Redis' `hllPatLen`).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> INDEX_BITS) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// A new, empty HLL: sparse, one XZERO run, cached cardinality 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = vec![0u8; HDR_SIZE];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = ENC_SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        push_xzero(&mut v, run);
        left -= run;
    }
    v
}

/// Checks the header like Redis' `isHLLObjectOrReply` (the opcodes are only
/// checked when walked).
pub fn check(s: &[u8]) -> Result<(), HllError> {
    if s.len() < HDR_SIZE || &s[..4] != b"HYLL" || s[4] > ENC_SPARSE {
        return Err(HllError::NotHll);
    }
    if s[4] == ENC_DENSE && s.len() != DENSE_SIZE {
        return Err(HllError::NotHll);
    }
    Ok(())
}

/// True for the dense encoding (of a checked HLL).
pub fn is_dense(s: &[u8]) -> bool {
    s[4] == ENC_DENSE
}

/// The cached cardinality, when it is not stale.
pub fn cached_count(s: &[u8]) -> Option<u64> {
    if s[CARD_MSB] & 0x80 != 0 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[8..HDR_SIZE]);
    Some(u64::from_le_bytes(b))
}

/// Stores `card` as the cached cardinality.
pub fn store_count(s: &mut [u8], card: u64) {
    s[8..HDR_SIZE].copy_from_slice(&card.to_le_bytes());
}

/// Marks the cached cardinality stale.
pub fn invalidate(s: &mut [u8]) {
    s[CARD_MSB] |= 0x80;
}

/// Adds one element; true when a register grew. The sparse form is made
/// dense when a value or the length (`sparse_max`) no longer fits.
pub fn add(s: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, HllError> {
    let (index, count) = pattern(ele);
    set_register(s, index, count, sparse_max)
}

/// Raises register `index` to `count` if it is lower; true when it grew.
pub fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, HllError> {
    if is_dense(s) {
        Ok(dense_set(&mut s[HDR_SIZE..], index, count))
    } else {
        sparse_set(s, index, count, sparse_max)
    }
}

/// Converts a sparse HLL to dense in place (header kept); a dense one is left as is.
pub fn to_dense(s: &mut Vec<u8>) -> Result<(), HllError> {
    if is_dense(s) {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR_SIZE].copy_from_slice(&s[..HDR_SIZE]);
    dense[4] = ENC_DENSE;
    walk(s, |idx, op| {
        if let Op::Val(value, run) = op {
            for r in idx..idx + run {
                dense_write(&mut dense[HDR_SIZE..], r, value);
            }
        }
    })?;
    *s = dense;
    Ok(())
}

/// Raises every register of `max` to this HLL's (Redis' `hllMerge`).
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), HllError> {
    if is_dense(s) {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&s[HDR_SIZE..], i));
        }
        return Ok(());
    }
    walk(s, |i, op| {
        if let Op::Val(value, run) = op {
            for m in &mut max[i..i + run] {
                *m = (*m).max(value);
            }
        }
    })
}

/// The registers of a dense HLL, in order (PFDEBUG GETREG).
pub fn dense_registers(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    (0..REGISTERS).map(|i| dense_get(&s[HDR_SIZE..], i))
}

/// The opcodes of a sparse HLL as PFDEBUG DECODE prints them:
/// `z:<len>` (ZERO), `Z:<len>` (XZERO), `v:<value>,<len>` (VAL), space separated.
pub fn describe_sparse(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR_SIZE;
    while p < s.len() {
        let (oplen, op) = op_at(s, p);
        out.push(match op {
            Op::Zero(run) if oplen == 1 => format!("z:{run}"),
            Op::Zero(run) => format!("Z:{run}"),
            Op::Val(value, run) => format!("v:{value},{run}"),
        });
        p += oplen;
    }
    out.join(" ")
}

/// The estimated cardinality of a checked HLL (Redis' `hllCount`, without the cache).
pub fn count(s: &[u8]) -> Result<u64, HllError> {
    let mut histo = [0u32; 64];
    if is_dense(s) {
        for i in 0..REGISTERS {
            histo[dense_get(&s[HDR_SIZE..], i) as usize] += 1;
        }
    } else {
        walk(s, |_, op| match op {
            Op::Zero(run) => histo[0] += run as u32,
            Op::Val(value, run) => histo[usize::from(value)] += run as u32,
        })?;
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of plain registers (PFCOUNT of several keys).
pub fn count_registers(max: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in max.iter() {
        histo[(r & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// Ertl's improved estimator over the register histogram, as Redis computes it.
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// Register `i` of dense registers `regs` (a register past the end reads its
/// missing high bits as zero, like Redis reading the string's terminator).
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_write(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(val);
    regs[byte] &= !((u16::from(REGISTER_MAX) << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        let fb8 = 8 - fb;
        *next &= !((u16::from(REGISTER_MAX) >> fb8) as u8);
        *next |= (v >> fb8) as u8;
    }
}

fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_write(regs, i, count);
        true
    } else {
        false
    }
}

/// One decoded sparse opcode: a run of zero registers, or `run` registers of `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Zero(usize),
    Val(u8, usize),
}

fn is_zero(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 3) + 1
}

fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

/// Run length of the XZERO at `p` (a missing second byte reads as zero).
fn xzero_len(s: &[u8], p: usize) -> usize {
    ((usize::from(s[p] & 0x3f) << 8) | usize::from(s.get(p + 1).copied().unwrap_or(0))) + 1
}

/// Opcode length and register span of the opcode at `p`.
fn op_at(s: &[u8], p: usize) -> (usize, Op) {
    let b = s[p];
    if is_zero(b) {
        (1, Op::Zero(usize::from(b & 0x3f) + 1))
    } else if is_xzero(b) {
        (2, Op::Zero(xzero_len(s, p)))
    } else {
        (1, Op::Val(val_value(b), val_len(b)))
    }
}

fn push_zero_run(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(seq, len);
    } else {
        seq.push((len - 1) as u8);
    }
}

fn push_xzero(seq: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    seq.push(0x40 | ((l >> 8) as u8 & 0x3f));
    seq.push((l & 0xff) as u8);
}

/// The opcodes of a sparse HLL, in order.
struct SparseOps<'a> {
    s: &'a [u8],
    p: usize,
}

impl<'a> SparseOps<'a> {
    fn new(s: &'a [u8]) -> Self {
        SparseOps { s, p: HDR_SIZE }
    }
}

impl Iterator for SparseOps<'_> {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.p >= self.s.len() {
            return None;
        }
        let (len, op) = op_at(self.s, self.p);
        self.p += len;
        Some(op)
    }
}

/// Runs `f` on every opcode of a sparse HLL with the first register it
/// covers; the opcodes must cover exactly the 16384 registers, none past
/// the end (Redis' check since the CVE-2025-32023 fix).
fn walk(s: &[u8], mut f: impl FnMut(usize, Op)) -> Result<(), HllError> {
    let mut idx = 0;
    for op in SparseOps::new(s) {
        let run = match op {
            Op::Zero(run) | Op::Val(_, run) => run,
        };
        if idx + run > REGISTERS {
            return Err(HllError::Corrupt);
        }
        f(idx, op);
        idx += run;
    }
    if idx == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// Redis' `hllSparseSet`: locate the opcode covering `index`, split it in
/// place, merge equal neighbouring VALs, or promote to dense.
fn sparse_set(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    sparse_max: usize,
) -> Result<bool, HllError> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let end = s.len();
    let (mut p, mut first, mut span) = (HDR_SIZE, 0usize, 0usize);
    let mut prev = None;
    let mut found = None;
    while p < end {
        let (oplen, op) = op_at(s, p);
        span = match op {
            Op::Zero(run) | Op::Val(_, run) => run,
        };
        if index < first + span {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    let Some(op) = found else {
        return Err(HllError::Corrupt);
    };
    let oldlen = if is_xzero(s[p]) { 2 } else { 1 };
    // Step 2: the trivial in-place cases, else the split sequence.
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    match op {
        Op::Val(old, _) if old >= count => return Ok(false),
        Op::Val(_, 1) => s[p] = val_byte(count, 1),
        Op::Zero(1) if oldlen == 1 => s[p] = val_byte(count, 1),
        _ => {
            let last = first + span - 1;
            match op {
                Op::Zero(_) => {
                    if index != first {
                        push_zero_run(&mut seq, index - first);
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        push_zero_run(&mut seq, last - index);
                    }
                }
                Op::Val(cur, _) => {
                    if index != first {
                        seq.push(val_byte(cur, index - first));
                    }
                    seq.push(val_byte(count, 1));
                    if index != last {
                        seq.push(val_byte(cur, last - index));
                    }
                }
            }
        }
    }
    if !seq.is_empty() {
        // Step 3: substitute the sequence for the old opcode.
        let new_len = (end + seq.len()).saturating_sub(oldlen);
        if seq.len() > oldlen && new_len > sparse_max {
            return promote(s, index, count);
        }
        let old_end = (p + oldlen).min(end);
        s.splice(p..old_end, seq);
        s.truncate(new_len);
    }
    // Step 4: merge adjacent VALs of equal value, scanning up to 5 opcodes.
    let mut p = prev.unwrap_or(HDR_SIZE);
    let mut scan = 5;
    while p < s.len() && scan > 0 {
        scan -= 1;
        let b = s[p];
        if is_xzero(b) {
            p += 2;
            continue;
        }
        if is_zero(b) {
            p += 1;
            continue;
        }
        if let Some(&next) = s.get(p + 1) {
            if !is_zero(next) && !is_xzero(next) && val_value(b) == val_value(next) {
                let len = val_len(b) + val_len(next);
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val_byte(val_value(b), len);
                    s.remove(p);
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate(s);
    Ok(true)
}

/// Makes the HLL dense, then sets the register there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, HllError> {
    to_dense(s)?;
    Ok(dense_set(&mut s[HDR_SIZE..], index, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every register, decoded from either encoding.
    fn registers(s: &[u8]) -> Vec<u8> {
        let mut max = [0u8; REGISTERS];
        merge_into(&mut max, s).expect("valid");
        max.to_vec()
    }

    #[test]
    fn empty_hll_is_redis_bytes() {
        let s = new_sparse();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(count(&s), Ok(0));
        assert_eq!(cached_count(&s), Some(0));
    }

    #[test]
    fn adds_give_redis_bytes() {
        // redis-server 7.0: PFADD h a b c, then PFCOUNT h (caches 3), GET h.
        let mut s = new_sparse();
        for e in [&b"a"[..], b"b", b"c"] {
            assert_eq!(add(&mut s, e, 3000), Ok(true));
        }
        assert_eq!(cached_count(&s), None);
        assert_eq!(count(&s), Ok(3));
        store_count(&mut s, 3);
        let want = b"HYLL\x01\0\0\0\x03\0\0\0\0\0\0\0\x60\xf3\x80\x50\xb1\x84\x4b\xfb\x80\x42\x5a";
        assert_eq!(&s[..], &want[..]);
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn sparse_set_splits_and_merges() {
        let mut s = new_sparse();
        assert_eq!(sparse_set(&mut s, 100, 3, 3000), Ok(true));
        // XZERO(100) VAL(3,1) XZERO(16283)
        assert_eq!(&s[16..], &[0x40, 99, 0x88, 0x7f, 0x9a]);
        assert_eq!(sparse_set(&mut s, 101, 3, 3000), Ok(true));
        // The new VAL merges with its left neighbour: VAL(3,2).
        assert_eq!(s[18], 0x89);
        assert_eq!(sparse_set(&mut s, 101, 2, 3000), Ok(false));
        let r = registers(&s);
        assert_eq!((r[99], r[100], r[101], r[102]), (0, 3, 3, 0));
    }

    #[test]
    fn sparse_description_names_every_opcode() {
        let mut s = new_sparse();
        assert_eq!(describe_sparse(&s), "Z:16384");
        sparse_set(&mut s, 3, 2, 3000).expect("valid");
        assert_eq!(describe_sparse(&s), "z:3 v:2,1 Z:16380");
        to_dense(&mut s).expect("valid");
        let regs: Vec<u8> = dense_registers(&s).take(5).collect();
        assert_eq!(regs, [0, 0, 0, 2, 0]);
    }

    #[test]
    fn big_value_promotes_to_dense() {
        let mut s = new_sparse();
        assert_eq!(set_register(&mut s, 5, 40, 3000), Ok(true));
        assert_eq!(s.len(), DENSE_SIZE);
        assert!(is_dense(&s));
        assert_eq!(registers(&s)[5], 40);
        assert_eq!(check(&s), Ok(()));
    }

    #[test]
    fn corrupt_sparse_is_detected() {
        let mut s = new_sparse();
        s.truncate(17); // XZERO missing its second byte: covers 0x3f00+1 registers
        assert_eq!(count(&s), Err(HllError::Corrupt));
        let mut s = new_sparse();
        s.push(0x00); // one register too many
        assert_eq!(count(&s), Err(HllError::Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(HllError::Corrupt));
        assert_eq!(to_dense(&mut s), Err(HllError::Corrupt));
        assert_eq!(check(b"HYLL\x00rest-of-hdr"), Err(HllError::NotHll));
        assert_eq!(
            check(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff"),
            Err(HllError::NotHll)
        );
    }

    proptest! {
        /// Sparse edits decode to the same registers as plain maxima, stay
        /// valid, and the dense and sparse forms count the same.
        #[test]
        fn sparse_and_dense_agree(sets in proptest::collection::vec((0usize..REGISTERS, 1u8..=51), 0..400),
                                  max_bytes in 20usize..4000) {
            let mut s = new_sparse();
            let mut d = new_sparse();
            to_dense(&mut d).expect("empty converts");
            let mut want = vec![0u8; REGISTERS];
            for &(i, c) in &sets {
                let grew = set_register(&mut s, i, c, max_bytes).expect("valid");
                prop_assert_eq!(grew, c > want[i]);
                set_register(&mut d, i, c, max_bytes).expect("valid");
                want[i] = want[i].max(c);
                prop_assert!(is_dense(&s) || s.len() <= max_bytes.max(18));
            }
            prop_assert_eq!(registers(&s), want.clone());
            prop_assert_eq!(registers(&d), want);
            prop_assert_eq!(count(&s), count(&d));
            let mut sd = s.clone();
            to_dense(&mut sd).expect("valid");
            prop_assert_eq!(&sd[HDR_SIZE..], &d[HDR_SIZE..]);
        }

        /// Any bytes after a valid header: reading, merging, adding and
        /// converting either work or say Corrupt, never panic.
        #[test]
        fn garbage_is_refused_not_fatal(body in proptest::collection::vec(any::<u8>(), 0..300),
                                        dense in any::<bool>(),
                                        elems in proptest::collection::vec(any::<u32>(), 0..20),
                                        max_bytes in 0usize..400) {
            let mut s = new_sparse();
            s.truncate(HDR_SIZE);
            if dense {
                s[4] = ENC_DENSE;
                s.extend(body.iter().cycle().take(DENSE_SIZE - HDR_SIZE));
                if body.is_empty() {
                    s.resize(DENSE_SIZE, 0);
                }
            } else {
                s.extend(&body);
            }
            prop_assert_eq!(check(&s), Ok(()));
            let counted = count(&s);
            let mut max = [0u8; REGISTERS];
            prop_assert_eq!(merge_into(&mut max, &s).is_ok(), counted.is_ok());
            let mut d = s.clone();
            prop_assert_eq!(to_dense(&mut d).is_ok(), counted.is_ok());
            for e in elems {
                if add(&mut s, &e.to_le_bytes(), max_bytes).is_err() {
                    break;
                }
            }
            let _ = count(&s);
        }

        /// Dense registers never disturb their neighbours.
        #[test]
        fn dense_registers_are_independent(vals in proptest::collection::vec(0u8..64, REGISTERS)) {
            let mut regs = vec![0u8; DENSE_SIZE - HDR_SIZE];
            for (i, &v) in vals.iter().enumerate() {
                dense_write(&mut regs, i, v);
            }
            for (i, &v) in vals.iter().enumerate() {
                prop_assert_eq!(dense_get(&regs, i), v);
            }
        }
    }
}
