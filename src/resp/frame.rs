//! Reply framing on peer links: where each complete RESP2/RESP3 frame ends in
//! a byte stream, without decoding it.
//!
//! A peer link (`cluster::pool`) hands every reply on, as raw bytes, to the
//! request that waits for it, so all it needs is the frame boundaries. The
//! scanner keeps its place across reads (a large reply arriving in many reads
//! is scanned once, not once per read, which a general decoder such as the
//! `redis-protocol` crate's cannot do) and allocates nothing. It reads header
//! integers with the request parser's integer rule (`util::parse_i64`), but
//! finds lines differently from it on purpose: the request parser stops at a
//! NUL like Redis' `strchr` on the query buffer, while a reply line (an error
//! echoing a binary key name, say) may hold any byte but CR and LF.

use std::io;

use crate::util::parse_i64;

/// A peer sent bytes that are not a RESP reply; its link is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply from the peer: {0}")]
pub struct MalformedFrame(&'static str);

impl From<MalformedFrame> for io::Error {
    fn from(e: MalformedFrame) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Finds where RESP2/RESP3 reply frames end in a buffer that only grows at
/// its end, resuming where the last call stopped. Streamed RESP3 aggregates
/// (`*?`) are not accepted: nodes never send them.
#[derive(Debug, Default)]
pub struct FrameScan {
    /// Offset of the next element header not yet scanned.
    pos: usize,
    /// Elements still to scan in the current frame (0: between frames).
    remaining: usize,
}

impl FrameScan {
    /// Length of the first complete frame of `buf`, if it is complete; the
    /// caller removes that many bytes from the front before the next call.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, MalformedFrame> {
        if self.remaining == 0 {
            self.pos = 0;
            self.remaining = 1;
        }
        while self.remaining > 0 {
            let Some(&kind) = buf.get(self.pos) else {
                return Ok(None);
            };
            let Some(nl) = memchr::memchr(b'\n', &buf[self.pos..]) else {
                return Ok(None);
            };
            let eol = self.pos + nl;
            if nl < 2 || buf[eol - 1] != b'\r' {
                return Err(MalformedFrame("line without CRLF"));
            }
            let line = &buf[self.pos + 1..eol - 1];
            let mut next = eol + 1;
            let mut more = 0usize;
            match kind {
                b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
                b'$' | b'!' | b'=' => {
                    if let Some(n) = length(line)? {
                        next = next
                            .checked_add(n)
                            .and_then(|end| end.checked_add(2))
                            .ok_or(MalformedFrame("bad length"))?;
                        if buf.len() < next {
                            return Ok(None);
                        }
                    }
                }
                b'*' | b'~' | b'>' | b'%' | b'|' => {
                    if let Some(n) = length(line)? {
                        more = match kind {
                            b'%' => n.checked_mul(2),
                            b'|' => n.checked_mul(2).and_then(|m| m.checked_add(1)),
                            _ => Some(n),
                        }
                        .ok_or(MalformedFrame("aggregate too long"))?;
                    }
                }
                _ => return Err(MalformedFrame("unknown type byte")),
            }
            self.pos = next;
            self.remaining = (self.remaining - 1)
                .checked_add(more)
                .ok_or(MalformedFrame("aggregate too long"))?;
        }
        Ok(Some(self.pos))
    }
}

/// The length in a bulk or aggregate header: `None` for RESP2 nulls (`-1`).
fn length(line: &[u8]) -> Result<Option<usize>, MalformedFrame> {
    match parse_i64(line) {
        Some(-1) => Ok(None),
        Some(n) => usize::try_from(n)
            .map(Some)
            .map_err(|_| MalformedFrame("bad length")),
        None => Err(MalformedFrame("bad length")),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Scans `buf` whole, then fed one byte at a time (resuming), checks both
    /// find the same frame lengths and returns them.
    pub(in crate::resp) fn frames(buf: &[u8]) -> Result<Vec<usize>, MalformedFrame> {
        let mut whole = Vec::new();
        let mut scan = FrameScan::default();
        let mut at = 0;
        while let Some(n) = scan.next(&buf[at..])? {
            whole.push(n);
            at += n;
        }
        let mut fed = Vec::new();
        let mut scan = FrameScan::default();
        let mut start = 0;
        for end in 1..=buf.len() {
            if let Some(n) = scan.next(&buf[start..end])? {
                fed.push(n);
                start += n;
            }
        }
        assert_eq!(whole, fed, "{:?}", String::from_utf8_lossy(buf));
        Ok(whole)
    }

    #[test]
    fn frame_boundaries() {
        let ok = |b: &[u8]| frames(b).expect("well-formed");
        assert_eq!(ok(b"+OK\r\n:1\r\n"), [5, 4]);
        assert_eq!(ok(b"*2\r\n$1\r\na\r\n"), Vec::<usize>::new());
        assert_eq!(ok(b"*2\r\n$1\r\na\r\n$-1\r\n*-1\r\n*0\r\n"), [16, 5, 4]);
        assert_eq!(ok(b"%1\r\n+a\r\n:1\r\n"), [12]);
        assert_eq!(ok(b"$3\r\na\r\n\r\n-ERR x\r\n"), [9, 8]);
        // An error line may hold a NUL (a binary key name echoed back).
        assert_eq!(ok(b"-ERR a\0b\r\n+OK\r\n"), [10, 5]);
        // RESP3: null, double, boolean, big number, blob error, verbatim,
        // set, push, attribute (its pairs, then the value it annotates).
        assert_eq!(
            ok(b"_\r\n,1.5\r\n#t\r\n(12\r\n!3\r\nERR\r\n=7\r\ntxt:abc\r\n"),
            [3, 6, 4, 5, 9, 13]
        );
        assert_eq!(ok(b"~2\r\n:1\r\n:2\r\n>1\r\n+m\r\n"), [12, 8]);
        assert_eq!(ok(b"|1\r\n+k\r\n+v\r\n:5\r\n"), [16]);
        assert_eq!(ok(b"*2\r\n%1\r\n+a\r\n*1\r\n:1\r\n~0\r\n"), [24]);
    }

    #[test]
    fn malformed_frames_are_errors() {
        for bad in [
            &b"?\r\n"[..],
            b"+OK\n",
            b"\r\n",
            b"$x\r\n",
            b"$\r\n",
            b"*-2\r\n",
            b"$+3\r\n",
            b"$99999999999999999999\r\n",
            b"*2\r\n|9223372036854775807\r\n",
            b"*?\r\n",
        ] {
            assert!(frames(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let e: io::Error = MalformedFrame("bad length").into();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "malformed reply from the peer: bad length");
    }
}
