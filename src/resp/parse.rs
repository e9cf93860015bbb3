//! Request parser: turns the bytes a client sent into command argument vectors.
//!
//! A sans-I/O state machine over the connection's read buffer. It follows Redis'
//! `processMultibulkBuffer` / `processInlineBuffer` exactly (limits, error strings,
//! lenient trailing CRLF after a bulk) because clients and test suites depend on
//! those details. A general decoder (`redis-protocol`, behind [`super::decode`])
//! reports its own error texts and builds owned trees, so requests go through
//! this purpose-built parser instead. Arguments are zero-copy `Bytes` slices of
//! the read buffer.

use crate::util::parse_i64;
use bytes::{Buf, Bytes, BytesMut};

/// Longest inline command or count line Redis accepts before giving up.
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest multibulk count Redis accepts (`INT_MAX`).
pub const MULTIBULK_MAX: i64 = i32::MAX as i64;

/// Limits the parser enforces, taken from the node's config.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`.
    pub max_bulk_len: i64,
    /// True while the client still has to AUTH (Redis then caps lengths hard).
    pub unauthenticated: bool,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_bulk_len: 512 * 1024 * 1024,
            unauthenticated: false,
        }
    }
}

/// A protocol violation; the connection replies `-ERR Protocol error: ...` and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// Outcome of one parse attempt.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete command (possibly empty for blank inline lines / `*0`).
    Command(Vec<Bytes>),
    /// More bytes are needed.
    Incomplete,
}

/// Parses one request from the front of `buf`, consuming it when complete.
/// Stateless: a request still arriving is rescanned on every call; connections
/// use a [`RequestParser`] instead.
pub fn parse_request(buf: &mut BytesMut, limits: ParseLimits) -> Result<Parsed, ProtocolError> {
    RequestParser::default().parse(buf, limits)
}

/// Request parser that remembers its progress through a multibulk request
/// still arriving, so each read resumes where the last one stopped instead of
/// rescanning every argument (Redis keeps the same `multibulklen` state). A
/// slow sender of a huge command would otherwise cost quadratic CPU.
///
/// The state refers to offsets in the caller's buffer: use one parser per
/// buffer, and only append to that buffer between calls.
///
/// A parser made by [`RequestParser::with_big_args`] also receives big
/// arguments like Redis does (`PROTO_MBULK_BIG_ARG`): a bulk of at least
/// [`BIG_ARG`] bytes that has not fully arrived gets its own buffer of exactly
/// its size, which the connection reads into ([`RequestParser::read_target`])
/// and which becomes the argument without a copy (unique, so a command may
/// keep it: see `StrValue::Big`). A 500 MB `SET` then needs 500 MB, not a
/// read buffer grown to 500 MB plus the stored copy.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Declared argument count of the current frame (0: header not parsed).
    count: usize,
    /// Offset of the next argument's `$` header.
    pos: usize,
    /// (start, len) of the arguments parsed so far.
    spans: Vec<(usize, usize)>,
    /// Arguments of the current frame already taken out of the read buffer
    /// (those before and including a big argument), in order, before `spans`.
    taken: Vec<Bytes>,
    /// The big argument being received: its exactly sized buffer (payload
    /// and CRLF) and the payload length.
    big: Option<(BytesMut, usize)>,
    /// Whether big arguments get their own buffer.
    big_args: bool,
    /// An emptied argument vector to fill next (see [`RequestParser::recycle`]).
    spare: Vec<Bytes>,
}

/// Smallest bulk that gets its own buffer (Redis' `PROTO_MBULK_BIG_ARG`).
pub const BIG_ARG: usize = 32 * 1024;

impl RequestParser {
    /// A parser that receives big arguments in their own buffers; the
    /// connection must then read through [`RequestParser::read_target`].
    pub fn with_big_args() -> Self {
        RequestParser {
            big_args: true,
            ..Default::default()
        }
    }

    /// The buffer the next read should fill: a big argument's own buffer
    /// while it is being received (its capacity is exactly what is missing,
    /// so a read never takes bytes past it), else the read buffer `buf`,
    /// given `room` bytes of spare capacity when less than half that is left.
    pub fn read_target<'a>(&'a mut self, buf: &'a mut BytesMut, room: usize) -> &'a mut BytesMut {
        match &mut self.big {
            Some((b, len)) if b.len() < *len + 2 => b,
            _ => {
                if buf.capacity() - buf.len() < room / 2 {
                    buf.reserve(room);
                }
                buf
            }
        }
    }

    /// Bytes of a big argument received so far and the size of its buffer
    /// (part of the query buffer, for `client-query-buffer-limit` and CLIENT
    /// LIST); zeros when none is being received.
    pub fn big_buffer(&self) -> (usize, usize) {
        self.big
            .as_ref()
            .map_or((0, 0), |(b, len)| (b.len(), len + 2))
    }

    /// Drops the vectors kept for the next request when they are larger
    /// than a short command needs, for a connection that goes idle between
    /// requests (they are allocated again by the next).
    pub fn release(&mut self) {
        const KEEP: usize = 4;
        if self.count == 0 && self.spans.capacity() + self.spare.capacity() > 2 * KEEP {
            self.spans = Vec::new();
            self.spare = Vec::new();
        }
    }

    /// Takes back an executed command's argument vector, emptied, so the next
    /// command reuses its allocation.
    pub fn recycle(&mut self, mut args: Vec<Bytes>) {
        if args.capacity() > self.spare.capacity() && args.capacity() <= 64 {
            args.clear();
            self.spare = args;
        }
    }

    /// Parses one request from the front of `buf`, consuming it when complete.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: ParseLimits,
    ) -> Result<Parsed, ProtocolError> {
        let r = if buf.is_empty() && self.big.is_none() {
            Ok(Parsed::Incomplete)
        } else if self.count > 0 || buf[0] == b'*' {
            self.parse_multibulk(buf, limits)
        } else {
            parse_inline(buf)
        };
        if !matches!(r, Ok(Parsed::Incomplete)) {
            self.count = 0;
            self.pos = 0;
            self.spans.clear();
            self.taken.clear();
            self.big = None;
            // Reused across requests; only a huge request's capacity is returned.
            if self.spans.capacity() > 1024 {
                self.spans = Vec::new();
            }
        }
        r
    }

    fn parse_multibulk(
        &mut self,
        buf: &mut BytesMut,
        limits: ParseLimits,
    ) -> Result<Parsed, ProtocolError> {
        if self.count == 0 {
            let Some(cr) = find_cr(buf, 0) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtocolError("too big mbulk count string".into()));
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let count = match parse_i64(&buf[1..cr]) {
                Some(n) if n <= MULTIBULK_MAX => n,
                _ => return Err(ProtocolError("invalid multibulk length".into())),
            };
            if count > 10 && limits.unauthenticated {
                return Err(ProtocolError("unauthenticated multibulk length".into()));
            }
            if count <= 0 {
                buf.advance(cr + 2);
                return Ok(Parsed::Command(Vec::new()));
            }
            self.count = count as usize;
            self.pos = cr + 2;
            self.spans.reserve(self.count.min(1024));
        }
        while self.taken.len() + self.spans.len() < self.count {
            if let Some((mut b, len)) = self.big.take() {
                if b.len() < len + 2 {
                    self.big = Some((b, len));
                    return Ok(Parsed::Incomplete);
                }
                if b.len() > len + 2 {
                    // Only when the allocator gave more room than asked: the
                    // bytes a read put past the argument go back in front.
                    let mut rest = b.split_off(len + 2);
                    rest.extend_from_slice(buf);
                    *buf = rest;
                }
                // Redis skips the two bytes after the payload without checking them.
                let mut arg = b.freeze();
                arg.truncate(len);
                self.taken.push(arg);
                continue;
            }
            let pos = self.pos;
            if pos >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            let Some(cr) = find_cr(buf, pos) else {
                if buf.len() - pos > INLINE_MAX {
                    return Err(ProtocolError("too big bulk count string".into()));
                }
                return Ok(Parsed::Incomplete);
            };
            if cr + 1 >= buf.len() {
                return Ok(Parsed::Incomplete);
            }
            if buf[pos] != b'$' {
                return Err(ProtocolError(format!(
                    "expected '$', got '{}'",
                    buf[pos] as char
                )));
            }
            let len = match parse_i64(&buf[pos + 1..cr]) {
                Some(n) if n >= 0 && n <= limits.max_bulk_len => n as usize,
                _ => return Err(ProtocolError("invalid bulk length".into())),
            };
            if len > 16 * 1024 && limits.unauthenticated {
                return Err(ProtocolError("unauthenticated bulk length".into()));
            }
            let start = cr + 2;
            // Redis skips the two bytes after the payload without checking them.
            if buf.len() < start + len + 2 && len >= BIG_ARG && self.big_args {
                self.start_big(buf, start, len);
                continue;
            }
            if buf.len() < start + len + 2 {
                if buf.capacity() - buf.len() < start + len + 2 - buf.len() {
                    buf.reserve(start + len + 2 - buf.len());
                }
                return Ok(Parsed::Incomplete);
            }
            self.spans.push((start, len));
            self.pos = start + len + 2;
        }
        let mut frame = buf.split_to(self.pos).freeze();
        // Every argument but the last shares the frame (one reference count
        // increment each); the last one is the frame itself, narrowed, which
        // saves an increment and a decrement per command.
        let mut args = std::mem::take(&mut self.spare);
        args.reserve(self.taken.len() + self.spans.len());
        args.append(&mut self.taken);
        let last = self.spans.pop();
        args.extend(self.spans.drain(..).map(|(s, l)| frame.slice(s..s + l)));
        if let Some((s, l)) = last {
            frame.truncate(s + l);
            frame.advance(s);
            args.push(frame);
        }
        Ok(Parsed::Command(args))
    }
}

impl RequestParser {
    /// Starts receiving the big argument whose payload begins at `start` in
    /// `buf`: the arguments before it leave the read buffer (as slices of
    /// the bytes before the payload), and the payload bytes already read move
    /// to the argument's own buffer of `len` + 2 bytes.
    fn start_big(&mut self, buf: &mut BytesMut, start: usize, len: usize) {
        let head = buf.split_to(start).freeze();
        self.taken
            .extend(self.spans.drain(..).map(|(s, l)| head.slice(s..s + l)));
        let mut own = BytesMut::with_capacity(len + 2);
        own.extend_from_slice(buf);
        buf.clear();
        self.big = Some((own, len));
        self.pos = 0;
    }
}

/// Finds `byte` like Redis' `strchr` on the query buffer: a NUL ends the
/// search, so a line with a NUL before its terminator is never complete.
fn find_byte(buf: &[u8], from: usize, byte: u8) -> Option<usize> {
    buf[from..]
        .iter()
        .position(|&b| b == byte || b == 0)
        .map(|p| p + from)
        .filter(|&p| buf[p] == byte)
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    find_byte(buf, from, b'\r')
}

fn parse_inline(buf: &mut BytesMut) -> Result<Parsed, ProtocolError> {
    let Some(nl) = find_byte(buf, 0, b'\n') else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError("too big inline request".into()));
        }
        return Ok(Parsed::Incomplete);
    };
    let line = buf.split_to(nl + 1).freeze();
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    // Without quotes the arguments are the runs of non-space bytes, shared
    // with the read buffer instead of copied one by one (`split_args`).
    if !line[..end].iter().any(|&b| b == b'"' || b == b'\'') {
        return Ok(Parsed::Command(plain_words(&line, end)));
    }
    match split_args(&line[..end]) {
        Some(args) => Ok(Parsed::Command(args.into_iter().map(Bytes::from).collect())),
        None => Err(ProtocolError("unbalanced quotes in request".into())),
    }
}

/// The whitespace-separated words of `line[..end]`, as slices of `line`
/// (what `split_args` returns for a line without quotes).
fn plain_words(line: &Bytes, end: usize) -> Vec<Bytes> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < end {
        if is_space(line[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < end && !is_space(line[i]) {
            i += 1;
        }
        words.push(line.slice(start..i));
    }
    words
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line like Redis' `sdssplitargs`: whitespace separated, with
/// "double quoted" (C escapes, `\xHH`) and 'single quoted' arguments.
/// Returns `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        o => o,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    in_dq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= line.len() {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < line.len() && line[i + 1] == b'\'' {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < line.len() && !is_space(line[i + 1]) {
                        return None;
                    }
                    in_sq = false;
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else {
                if i >= line.len() {
                    break;
                }
                match line[i] {
                    c if is_space(c) => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
        let _ = (in_dq, in_sq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_split_like_split_args() {
        let mut rng = rand::rng();
        for _ in 0..20_000 {
            let n = rand::Rng::random_range(&mut rng, 0..24);
            let line: Vec<u8> = (0..n)
                .map(|_| {
                    let pick = [b' ', b'\t', 0x0b, 0x0c, b'\r', b'a', b'Z', 0, 0xff, b'\\'];
                    pick[rand::Rng::random_range(&mut rng, 0..pick.len())]
                })
                .collect();
            let expected = split_args(&line).expect("no quotes");
            let words = plain_words(&Bytes::from(line.clone()), line.len());
            let words: Vec<Vec<u8>> = words.iter().map(|w| w.to_vec()).collect();
            assert_eq!(words, expected, "line {line:?}");
        }
    }

    fn parse_all(input: &[u8]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>, usize) {
        let mut buf = BytesMut::from(input);
        let mut cmds = Vec::new();
        loop {
            match parse_request(&mut buf, ParseLimits::default()) {
                Ok(Parsed::Command(c)) => cmds.push(c),
                Ok(Parsed::Incomplete) => return (cmds, None, buf.len()),
                Err(e) => return (cmds, Some(e), buf.len()),
            }
        }
    }

    /// Feeds `wire` to `p` in reads of at most 1000 bytes, each into the
    /// parser's read target, and returns the commands and the largest
    /// partial big argument seen.
    fn feed(p: &mut RequestParser, wire: &[u8]) -> (Vec<Vec<Bytes>>, usize) {
        let (mut buf, mut cmds, mut fed, mut big_seen) = (BytesMut::new(), Vec::new(), 0, 0);
        loop {
            loop {
                match p.parse(&mut buf, ParseLimits::default()) {
                    Ok(Parsed::Command(c)) => cmds.push(c),
                    Ok(Parsed::Incomplete) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            if fed == wire.len() {
                return (cmds, big_seen);
            }
            let t = p.read_target(&mut buf, 16 * 1024);
            let n = 1000.min(wire.len() - fed).min(t.capacity() - t.len());
            t.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            big_seen = big_seen.max(p.big_buffer().0);
        }
    }

    #[test]
    fn big_argument_gets_its_own_buffer() {
        let value = vec![b'v'; BIG_ARG * 3 + 7];
        let mut wire = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n".to_vec();
        wire.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
        wire.extend_from_slice(&value);
        wire.extend_from_slice(b"\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n");
        let (cmds, big) = feed(&mut RequestParser::with_big_args(), &wire);
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0][..2], [Bytes::from("SET"), Bytes::from("k")]);
        assert_eq!(cmds[0][2], value);
        assert!(cmds[0][2].is_unique(), "the value owns its buffer");
        assert_eq!(cmds[1], vec![Bytes::from("ECHO"), Bytes::from("hi")]);
        assert!(big > BIG_ARG, "received in its own buffer");
        // Without big-argument buffers: same commands, the value a slice.
        let (plain, big) = feed(&mut RequestParser::default(), &wire);
        assert_eq!(plain, cmds);
        assert_eq!(big, 0);
        assert!(!plain[0][2].is_unique());
    }

    #[test]
    fn multibulk_pipeline() {
        let (cmds, err, rest) =
            parse_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI");
        assert!(err.is_none());
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[1][1], Bytes::from_static(b"k"));
        assert_eq!(rest, 10);
    }

    #[test]
    fn inline_quotes() {
        let (cmds, err, _) = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n");
        assert!(err.is_none());
        assert_eq!(
            cmds[0],
            vec![
                Bytes::from("set"),
                Bytes::from("a b"),
                Bytes::from("c'd"),
                Bytes::from("A\n")
            ]
        );
        let (_, err, _) = parse_all(b"set \"a\r\n");
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("Protocol error: unbalanced quotes in request")
        );
    }

    #[test]
    fn errors_match_redis() {
        let e = |i: &[u8]| parse_all(i).1.map(|e| e.to_string());
        assert_eq!(
            e(b"*x\r\n").as_deref(),
            Some("Protocol error: invalid multibulk length")
        );
        assert_eq!(
            e(b"*1\r\n+PING\r\n").as_deref(),
            Some("Protocol error: expected '$', got '+'")
        );
        assert_eq!(
            e(b"*1\r\n$-5\r\n").as_deref(),
            Some("Protocol error: invalid bulk length")
        );
        assert_eq!(
            e(b"*1\r\n$9999999999\r\n").as_deref(),
            Some("Protocol error: invalid bulk length")
        );
        assert_eq!(
            e(b"*3000000000\r\n").as_deref(),
            Some("Protocol error: invalid multibulk length")
        );
    }

    #[test]
    fn integers_are_strict() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
    }
}
