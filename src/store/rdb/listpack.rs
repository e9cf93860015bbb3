//! Redis' listpack: the compact sequence inside RDB payloads of small
//! hashes, sorted sets, list nodes and stream nodes. `parse` validates a
//! whole listpack as Redis' deep `lpValidateIntegrity` does (header size,
//! every entry's encoding and back-length inside the buffer, terminator,
//! and the header's element count when asked) and returns its elements;
//! `Builder` writes one.

use std::borrow::Cow;

/// Header: total bytes (u32 LE) and element count (u16 LE).
const HEADER: usize = 6;
/// The terminator byte.
const EOF: u8 = 0xFF;
/// Element count meaning "too many to count in the header".
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One listpack (or ziplist) element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// An integer-encoded element.
    Int(i64),
    /// A string element.
    Str(&'a [u8]),
}

impl<'a> Item<'a> {
    /// The element as bytes (integers in decimal, as Redis returns them).
    pub fn bytes(self) -> Cow<'a, [u8]> {
        match self {
            Item::Int(n) => Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec()),
            Item::Str(s) => Cow::Borrowed(s),
        }
    }

    /// The element as an integer: integer-encoded, or a string holding one
    /// (Redis' `lpGetIntegerIfValid`).
    pub fn int(self) -> Option<i64> {
        match self {
            Item::Int(n) => Some(n),
            Item::Str(s) => crate::util::parse_i64(s),
        }
    }
}

/// Bytes the back-length of an entry of `len` bytes takes (`lpEncodeBacklen`).
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Appends the back-length of an entry of `len` bytes.
fn put_backlen(out: &mut Vec<u8>, len: usize) {
    let n = backlen_size(len);
    // Most significant group first, every byte but the first flagged.
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { group } else { group | 128 });
    }
}

/// Decodes the entry at the start of `p`: its element and the size of its
/// encoding plus data (without the back-length).
fn entry(p: &[u8]) -> Option<(Item<'_>, usize)> {
    let b = *p.first()?;
    let at = |i: usize| p.get(i).copied();
    let str_at = |start: usize, len: usize| {
        let end = start.checked_add(len)?;
        Some((Item::Str(p.get(start..end)?), end))
    };
    match b {
        0x00..=0x7F => Some((Item::Int(i64::from(b)), 1)),
        0x80..=0xBF => str_at(1, usize::from(b & 0x3f)),
        0xC0..=0xDF => {
            let u = (i64::from(b & 0x1f) << 8) | i64::from(at(1)?);
            Some((Item::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }), 2))
        }
        0xE0..=0xEF => str_at(2, (usize::from(b & 0x0f) << 8) | usize::from(at(1)?)),
        0xF0 => {
            let len = u32::from_le_bytes(p.get(1..5)?.try_into().ok()?);
            str_at(5, usize::try_from(len).ok()?)
        }
        0xF1 => Some((
            Item::Int(i64::from(i16::from_le_bytes(p.get(1..3)?.try_into().ok()?))),
            3,
        )),
        0xF2 => {
            let raw = [0, at(1)?, at(2)?, at(3)?];
            Some((Item::Int(i64::from(i32::from_le_bytes(raw) >> 8)), 4))
        }
        0xF3 => Some((
            Item::Int(i64::from(i32::from_le_bytes(p.get(1..5)?.try_into().ok()?))),
            5,
        )),
        0xF4 => Some((
            Item::Int(i64::from_le_bytes(p.get(1..9)?.try_into().ok()?)),
            9,
        )),
        _ => None,
    }
}

/// Every element of the listpack `lp`, or None when it is malformed; the
/// header's element count is checked only with `check_count` (Redis checks
/// it under deep sanitization, and never in stream nodes).
pub fn parse(lp: &[u8], check_count: bool) -> Option<Vec<Item<'_>>> {
    if lp.len() < HEADER + 1 || lp[lp.len() - 1] != EOF {
        return None;
    }
    let total = u32::from_le_bytes(lp.get(0..4)?.try_into().ok()?);
    if usize::try_from(total).ok()? != lp.len() {
        return None;
    }
    let count = u16::from_le_bytes(lp.get(4..6)?.try_into().ok()?);
    let body = &lp[..lp.len() - 1];
    // Each entry takes at least two bytes: never reserve more than that allows.
    let mut items = Vec::with_capacity(usize::from(count).min(body.len() / 2));
    let mut pos = HEADER;
    while pos < body.len() {
        let (item, len) = entry(&body[pos..])?;
        let back = backlen_size(len);
        let end = pos.checked_add(len)?.checked_add(back)?;
        let stored = body.get(pos + len..end)?;
        let mut expect = Vec::with_capacity(back);
        put_backlen(&mut expect, len);
        if stored != expect {
            return None;
        }
        items.push(item);
        pos = end;
    }
    if check_count && count != COUNT_UNKNOWN && usize::from(count) != items.len() {
        return None;
    }
    Some(items)
}

/// Writes a listpack element by element.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }
}

impl Builder {
    /// An empty listpack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes written so far (header and terminator included).
    pub fn size(&self) -> usize {
        self.buf.len() + 1
    }

    /// Elements written so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True before the first element.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends an element as Redis' `lpAppend` does: a string holding a
    /// canonical 64-bit integer as that integer, any other as a string.
    pub fn item(&mut self, s: &[u8]) {
        match crate::util::parse_i64(s).filter(|_| s.len() <= 20) {
            Some(n) => self.int(n),
            None => self.str(s),
        }
    }

    fn push_entry(&mut self, start: usize) {
        let len = self.buf.len() - start;
        put_backlen(&mut self.buf, len);
        self.count += 1;
    }

    /// Appends an integer in its smallest encoding (`lpEncodeIntegerGetType`).
    pub fn int(&mut self, v: i64) {
        let start = self.buf.len();
        let b = &mut self.buf;
        match v {
            0..=127 => b.push(v as u8),
            -4096..=4095 => {
                let u = if v < 0 { (1 << 13) + v } else { v } as u16;
                b.push(0xC0 | (u >> 8) as u8);
                b.push(u as u8);
            }
            -32768..=32767 => {
                b.push(0xF1);
                b.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                b.push(0xF2);
                b.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                b.push(0xF3);
                b.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                b.push(0xF4);
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.push_entry(start);
    }

    /// Appends a string element (always string-encoded).
    pub fn str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xE0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.push_entry(start);
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(COUNT_UNKNOWN);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_round_trips() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 200];
        let mut b = Builder::new();
        for &n in &ints {
            b.int(n);
        }
        b.str(b"");
        b.str(&mid);
        b.str(&long);
        let lp = b.finish();
        let items = parse(&lp, true).expect("valid");
        let mut want: Vec<Item<'_>> = ints.iter().map(|&n| Item::Int(n)).collect();
        want.extend([Item::Str(b""), Item::Str(&mid), Item::Str(&long)]);
        assert_eq!(items, want);
    }

    #[test]
    fn corruption_is_detected() {
        let mut b = Builder::new();
        b.str(b"hello");
        b.int(1000);
        let lp = b.finish();
        assert!(parse(&lp, true).is_some());
        for i in 0..lp.len() {
            let mut bad = lp.clone();
            bad[i] ^= 0x55;
            // Any corrupted byte outside the string and integer data is caught.
            if !(7..12).contains(&i) && i != 14 {
                assert!(parse(&bad, true).is_none(), "byte {i}");
            }
        }
        assert!(parse(&lp[..lp.len() - 1], true).is_none());
        let mut miscounted = lp.clone();
        miscounted[4] = 9;
        assert!(parse(&miscounted, false).is_some());
    }
}
