//! Redis' ziplist, the compact encoding of RDB payloads written before
//! Redis 7.0 (list, hash and sorted-set ziplists, quicklist v1 nodes), which
//! Redis 7.0 still restores. `parse` validates a whole ziplist as Redis'
//! `ziplistValidateIntegrity` does (header size, each entry's encoding
//! inside the buffer, terminator; with `deep` also the tail offset, the
//! previous-length fields and the element count) and returns its elements.

use super::listpack::Item;

/// Header: total bytes, tail offset (u32 LE each) and element count (u16 LE).
const HEADER: usize = 10;
/// The terminator byte.
const END: u8 = 0xFF;

/// Decodes the entry encoding at the start of `p`: the element and the
/// bytes taken by the encoding and data.
fn entry(p: &[u8]) -> Option<(Item<'_>, usize)> {
    let b = *p.first()?;
    let int = |n: usize| p.get(1..1 + n);
    let str_at = |start: usize, len: usize| {
        let end = start.checked_add(len)?;
        Some((Item::Str(p.get(start..end)?), end))
    };
    match b >> 6 {
        0 => str_at(1, usize::from(b & 0x3f)),
        1 => str_at(2, (usize::from(b & 0x3f) << 8) | usize::from(*p.get(1)?)),
        2 if b == 0x80 => {
            let len = u32::from_be_bytes(p.get(1..5)?.try_into().ok()?);
            str_at(5, usize::try_from(len).ok()?)
        }
        2 => None,
        _ => match b {
            0xC0 => Some((
                Item::Int(i64::from(i16::from_le_bytes(int(2)?.try_into().ok()?))),
                3,
            )),
            0xD0 => Some((
                Item::Int(i64::from(i32::from_le_bytes(int(4)?.try_into().ok()?))),
                5,
            )),
            0xE0 => Some((Item::Int(i64::from_le_bytes(int(8)?.try_into().ok()?)), 9)),
            0xF0 => {
                let d = int(3)?;
                let v = i32::from_le_bytes([0, d[0], d[1], d[2]]) >> 8;
                Some((Item::Int(i64::from(v)), 4))
            }
            0xFE => Some((Item::Int(i64::from(*int(1)?.first()? as i8)), 2)),
            0xF1..=0xFD => Some((Item::Int(i64::from(b & 0x0f) - 1), 1)),
            _ => None,
        },
    }
}

/// Every element of the ziplist `zl`, or None when it is malformed (see
/// the module comment for what `deep` adds).
pub fn parse(zl: &[u8], deep: bool) -> Option<Vec<Item<'_>>> {
    if zl.len() < HEADER + 1 || zl[zl.len() - 1] != END {
        return None;
    }
    let word = |at: usize| -> Option<usize> {
        usize::try_from(u32::from_le_bytes(zl.get(at..at + 4)?.try_into().ok()?)).ok()
    };
    if word(0)? != zl.len() {
        return None;
    }
    let tail = word(4)?;
    let count = u16::from_le_bytes(zl.get(8..10)?.try_into().ok()?);
    let body = &zl[..zl.len() - 1];
    let mut items = Vec::with_capacity(usize::from(count).min(body.len() / 2));
    let (mut pos, mut prev_size, mut last_start) = (HEADER, 0usize, HEADER);
    while pos < body.len() {
        let p = &body[pos..];
        let (prevlen, head) = match *p.first()? {
            0xFE => (
                usize::try_from(u32::from_le_bytes(p.get(1..5)?.try_into().ok()?)).ok()?,
                5,
            ),
            END => return None,
            n => (usize::from(n), 1),
        };
        if deep && prevlen != prev_size {
            return None;
        }
        let (item, len) = entry(p.get(head..)?)?;
        let size = head.checked_add(len)?;
        if size > p.len() {
            return None;
        }
        items.push(item);
        last_start = pos;
        prev_size = size;
        pos += size;
    }
    if deep && (tail != last_start || (count != u16::MAX && usize::from(count) != items.len())) {
        return None;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "ab", 7 (immediate), -2 (int8), 1000 (int16), as Redis < 7.0 wrote them.
    const SAMPLE: [u8; 24] = [
        24, 0, 0, 0, 19, 0, 0, 0, 4, 0, // zlbytes, zltail, zllen
        0, 0x02, b'a', b'b', // prevlen 0, 2-byte string
        4, 0xF8, // prevlen 4, immediate 7
        2, 0xFE, 0xFE, // prevlen 2, int8 -2
        3, 0xC0, 0xE8, 0x03, // prevlen 3, int16 1000
        0xFF,
    ];

    #[test]
    fn parses_and_rejects_corruption() {
        let want = [
            Item::Str(b"ab"),
            Item::Int(7),
            Item::Int(-2),
            Item::Int(1000),
        ];
        assert_eq!(parse(&SAMPLE, true).as_deref(), Some(&want[..]));
        let mut bad = SAMPLE;
        bad[4] ^= 1;
        assert!(parse(&bad, true).is_none(), "tail offset");
        assert!(parse(&bad, false).is_some(), "tail offset unchecked");
        let mut bad = SAMPLE;
        bad[8] = 9;
        assert!(parse(&bad, true).is_none(), "count");
        let mut bad = SAMPLE;
        bad[14] = 5;
        assert!(parse(&bad, true).is_none(), "previous length");
        let mut bad = SAMPLE;
        bad[0] = 23;
        assert!(parse(&bad, false).is_none(), "total size");
        assert!(parse(&SAMPLE[..20], false).is_none());
    }
}
