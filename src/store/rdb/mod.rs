//! Redis' RDB object serialization, as DUMP and RESTORE (and FUNCTION
//! DUMP/RESTORE) exchange it: `<type byte><object encoding><RDB version, 2
//! bytes LE><CRC-64/Jones, 8 bytes LE>`. Payloads move both ways between
//! redis-server 7.0 and ringcache.
//!
//! This module holds the primitives (lengths, strings with their integer and
//! LZF forms, the footer); `encode` writes a value, `decode` reads one
//! (every RDB type Redis 7.0 loads, including the compact listpack, ziplist,
//! intset and quicklist encodings parsed by `listpack` and `ziplist`).
//! Not to be confused with `cluster::dump`, ringcache's own migration format.
//!
//! Decoding never trusts a declared size: every length is checked against
//! the bytes actually present before anything is allocated or sliced.

pub mod decode;
pub mod encode;
pub mod listpack;
pub mod ziplist;

/// RDB version written to (and the newest accepted in) payloads: Redis 7.0's.
pub const RDB_VERSION: u16 = 10;

/// Why a payload could not be restored; `Display` is Redis' error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdbError {
    /// The footer's version is too new or its checksum does not match.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The body is malformed (the reason is for logs and tests; Redis
    /// answers every such case with the same text).
    #[error("Bad data format")]
    BadFormat(&'static str),
}

/// Shorthand for decoding results.
pub type RdbResult<T> = Result<T, RdbError>;

/// RDB object type bytes (`RDB_TYPE_*` in Redis' rdb.h).
pub mod types {
    /// A string.
    pub const STRING: u8 = 0;
    /// A list as a plain sequence of strings.
    pub const LIST: u8 = 1;
    /// A set as a plain sequence of strings.
    pub const SET: u8 = 2;
    /// A sorted set with scores as text (pre-RDB 8).
    pub const ZSET: u8 = 3;
    /// A hash as field/value strings.
    pub const HASH: u8 = 4;
    /// A sorted set with binary double scores.
    pub const ZSET_2: u8 = 5;
    /// A hash in the pre-2.6 zipmap encoding.
    pub const HASH_ZIPMAP: u8 = 9;
    /// A list as one ziplist.
    pub const LIST_ZIPLIST: u8 = 10;
    /// A set of integers (intset).
    pub const SET_INTSET: u8 = 11;
    /// A sorted set as one ziplist.
    pub const ZSET_ZIPLIST: u8 = 12;
    /// A hash as one ziplist.
    pub const HASH_ZIPLIST: u8 = 13;
    /// A list as a quicklist of ziplists.
    pub const LIST_QUICKLIST: u8 = 14;
    /// A stream (pre-7.0 metadata).
    pub const STREAM_LISTPACKS: u8 = 15;
    /// A hash as one listpack.
    pub const HASH_LISTPACK: u8 = 16;
    /// A sorted set as one listpack.
    pub const ZSET_LISTPACK: u8 = 17;
    /// A list as a quicklist of listpack (or plain) nodes.
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// A stream with Redis 7.0's metadata (first ID, max deleted ID, offsets).
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// Redis' CRC-64 (Jones polynomial, reflected), the payload checksum.
pub fn crc64(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(data)
}

/// Appends the footer (RDB version and checksum of everything before it).
pub fn finish(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks a payload's footer like Redis' `verifyDumpPayload` (at least ten
/// bytes, version not newer than ours, CRC-64 of all but the last 8 bytes).
pub fn verify(payload: &[u8]) -> RdbResult<()> {
    if payload.len() < 10 {
        return Err(RdbError::VersionOrChecksum);
    }
    let footer = payload.len() - 10;
    let version = u16::from_le_bytes([payload[footer], payload[footer + 1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&payload[footer + 2..]);
    if version > RDB_VERSION || crc64(&payload[..footer + 2]) != u64::from_le_bytes(crc) {
        return Err(RdbError::VersionOrChecksum);
    }
    Ok(())
}

/// Appends an RDB length (6-bit, 14-bit, 32-bit or 64-bit form).
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends an RDB string as Redis' `rdbSaveRawString` does: short integers
/// in their 1/2/4-byte forms, strings over 20 bytes LZF-compressed when that
/// saves at least 4 bytes (`rdbcompression yes`), others as they are.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(n) = crate::util::parse_i64(s) {
            if let Ok(v) = i8::try_from(n) {
                out.push(0xC0);
                out.push(v as u8);
                return;
            }
            if let Ok(v) = i16::try_from(n) {
                out.push(0xC1);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(n) {
                out.push(0xC2);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    if s.len() > 20 {
        if let Ok(packed) = lzf::compress(s) {
            if packed.len() + 4 <= s.len() {
                out.push(0xC3);
                write_len(out, packed.len() as u64);
                write_len(out, s.len() as u64);
                out.extend_from_slice(&packed);
                return;
            }
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// An RDB length, or the kind of a specially encoded string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// A plain length.
    Plain(u64),
    /// The low six bits of a `11xxxxxx` byte: 0-2 integer strings, 3 LZF.
    Encoded(u8),
}

/// A cursor over a payload. Like Redis (which reads from the whole RESTORE
/// argument), it may read into the footer; it never reads past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// The next byte.
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// A little-endian 64-bit value (`rdbLoadMillisecondTime`, binary doubles).
    pub fn u64_le(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    /// A big-endian 64-bit value (stream IDs).
    pub fn u64_be(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    /// An RDB length or string-encoding marker.
    pub fn len(&mut self) -> Option<Len> {
        let first = self.byte()?;
        Some(match first >> 6 {
            0 => Len::Plain(u64::from(first & 0x3f)),
            1 => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            2 => match first {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array()?)),
                _ => return None,
            },
            _ => Len::Encoded(first & 0x3f),
        })
    }

    /// An RDB length as a u64 (stream metadata uses the full range). Like
    /// Redis' `rdbLoadLen` without an `isencoded` out-parameter, a
    /// string-encoding marker reads as the length in its low six bits.
    pub fn plain_u64(&mut self) -> Option<u64> {
        match self.len()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(n) => Some(u64::from(n)),
        }
    }

    /// A plain RDB length that must fit in memory.
    pub fn plain_len(&mut self) -> Option<usize> {
        usize::try_from(self.plain_u64()?).ok()
    }

    /// An RDB string: raw, integer-encoded or LZF-compressed.
    pub fn string(&mut self) -> Option<std::borrow::Cow<'a, [u8]>> {
        use std::borrow::Cow;
        let int = |n: i64| {
            Some(Cow::Owned(
                itoa::Buffer::new().format(n).as_bytes().to_vec(),
            ))
        };
        match self.len()? {
            Len::Plain(n) => Some(Cow::Borrowed(self.take(usize::try_from(n).ok()?)?)),
            Len::Encoded(0) => int(i64::from(self.byte()? as i8)),
            Len::Encoded(1) => int(i64::from(i16::from_le_bytes(self.array()?))),
            Len::Encoded(2) => int(i64::from(i32::from_le_bytes(self.array()?))),
            Len::Encoded(3) => {
                let clen = self.plain_len()?;
                let len = self.plain_len()?;
                let data = self.take(clen)?;
                // liblzf "succeeds" into an empty buffer whatever the input.
                if len == 0 {
                    return Some(Cow::Borrowed(&[]));
                }
                // LZF expands at most ~88x: refuse absurd lengths before allocating.
                if len > clen.saturating_mul(100) {
                    return None;
                }
                lzf::decompress(data, len)
                    .ok()
                    .filter(|d| d.len() == len)
                    .map(Cow::Owned)
            }
            Len::Encoded(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(Reader::new(&out).len(), Some(Len::Plain(n)));
        }
    }

    #[test]
    fn strings_round_trip_in_every_form() {
        let long = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".to_vec();
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"-128".to_vec(),
            b"127".to_vec(),
            b"-32768".to_vec(),
            b"2147483647".to_vec(),
            b"2147483648".to_vec(),
            b"007".to_vec(),
            b"hello".to_vec(),
            long.clone(),
        ];
        for s in cases {
            let mut out = Vec::new();
            write_string(&mut out, &s);
            let mut r = Reader::new(&out);
            assert_eq!(r.string().as_deref(), Some(&s[..]));
            assert_eq!(r.remaining(), 0);
        }
        let mut out = Vec::new();
        write_string(&mut out, &long);
        assert_eq!(out[0], 0xC3, "long repetitive strings are compressed");
    }

    #[test]
    fn footer_is_checked() {
        let p = finish(vec![0, 1, b'x']);
        assert_eq!(verify(&p), Ok(()));
        let mut bad = p.clone();
        bad[1] ^= 1;
        assert_eq!(verify(&bad), Err(RdbError::VersionOrChecksum));
        assert_eq!(verify(&p[..9]), Err(RdbError::VersionOrChecksum));
    }
}
