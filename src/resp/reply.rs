//! Reply builder: appends RESP2 or RESP3 encoded replies to one output buffer.
//!
//! Handlers call typed methods (`bulk`, `int`, `map_len`, ...) and the builder
//! picks the wire form for the client's protocol version, so no handler needs
//! to know whether it talks RESP2 or RESP3. Writing straight into the buffer
//! avoids building intermediate frame trees on the hot path; the header and
//! bulk string layouts come from [`super::encode`], shared with the commands
//! peer links send.

use bytes::{BufMut, BytesMut};

use super::encode::{put_bulk, put_header};

/// Client protocol version, switched by `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// RESP2 (default).
    Resp2,
    /// RESP3.
    Resp3,
}

/// The output buffer of one connection plus its protocol version.
#[derive(Debug)]
pub struct Reply {
    /// Encoded bytes waiting to be written.
    pub buf: BytesMut,
    /// The protocol replies are encoded in.
    pub proto: Proto,
}

impl Reply {
    /// An empty RESP2 reply buffer (allocated as replies are added).
    pub fn new() -> Self {
        Reply {
            buf: BytesMut::new(),
            proto: Proto::Resp2,
        }
    }

    /// True when the client speaks RESP3.
    pub fn resp3(&self) -> bool {
        self.proto == Proto::Resp3
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A status (simple string) reply.
    pub fn simple(&mut self, s: &str) {
        self.buf.put_u8(b'+');
        self.buf.put_slice(s.as_bytes());
        self.buf.put_slice(b"\r\n");
    }

    /// An error reply; `msg` is the full text after '-' (e.g. `ERR syntax error`).
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error reply from raw bytes (Redis echoes binary names unchanged).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.put_u8(b'-');
        // Newlines would break framing; Redis replaces them with spaces.
        for &b in msg {
            self.buf
                .put_u8(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.put_slice(b"\r\n");
    }

    /// An integer reply.
    pub fn int(&mut self, n: i64) {
        put_header(&mut self.buf, b':', n);
    }

    /// A bulk string.
    pub fn bulk(&mut self, data: &[u8]) {
        put_bulk(&mut self.buf, data);
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.put_slice(b"_\r\n");
        } else {
            self.buf.put_slice(b"*-1\r\n");
        }
    }

    /// An array header of `n` elements.
    pub fn array_len(&mut self, n: usize) {
        put_header(&mut self.buf, b'*', n as i64);
    }

    /// A map header of `n` pairs (RESP2: array of 2n).
    pub fn map_len(&mut self, n: usize) {
        if self.resp3() {
            put_header(&mut self.buf, b'%', n as i64);
        } else {
            put_header(&mut self.buf, b'*', 2 * n as i64);
        }
    }

    /// A set header of `n` elements (RESP2: array).
    pub fn set_len(&mut self, n: usize) {
        if self.resp3() {
            put_header(&mut self.buf, b'~', n as i64);
        } else {
            put_header(&mut self.buf, b'*', n as i64);
        }
    }

    /// A push header of `n` elements (RESP2: array), for pub/sub messages.
    pub fn push_len(&mut self, n: usize) {
        if self.resp3() {
            put_header(&mut self.buf, b'>', n as i64);
        } else {
            put_header(&mut self.buf, b'*', n as i64);
        }
    }

    /// A double: RESP3 `,` or a RESP2 bulk string in Redis' `%.17g` form.
    pub fn double(&mut self, d: f64) {
        if self.resp3() {
            self.buf.put_u8(b',');
            if d.is_infinite() {
                self.buf.put_slice(if d > 0.0 { b"inf" } else { b"-inf" });
            } else {
                self.buf.put_slice(format_double(d).as_bytes());
            }
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(format_double(d).as_bytes());
        }
    }

    /// A double in Redis' human form (`addReplyHumanLongDouble`: `%.17Lf`
    /// without trailing zeros): RESP3 `,`, RESP2 bulk string. GEOPOS and
    /// WITHCOORD print coordinates this way.
    pub fn human_double(&mut self, d: f64) {
        let text = format_human_double(d);
        if self.resp3() {
            self.buf.put_u8(b',');
            self.buf.put_slice(text.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean (RESP3 `#t`/`#f`, RESP2 integer 1/0).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3() {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// A verbatim text (RESP3 `=` with `txt:`), RESP2 bulk string.
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3() {
            put_header(&mut self.buf, b'=', text.len() as i64 + 4);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(text);
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A list of bulk strings.
    pub fn bulks<I, T>(&mut self, items: I)
    where
        I: ExactSizeIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.array_len(items.len());
        for it in items {
            self.bulk(it.as_ref());
        }
    }
}

impl Default for Reply {
    fn default() -> Self {
        Self::new()
    }
}

/// Formats a double the way Redis 7.0 does in replies (`%.17g`, `inf`, `-inf`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    let mut buf = [0u8; 64];
    // SAFETY: the buffer is large enough for any %.17g output and is NUL terminated by snprintf.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            c"%.17g".as_ptr(),
            d,
        )
    };
    String::from_utf8_lossy(&buf[..n.clamp(0, 63) as usize]).into_owned()
}

/// Formats a double like Redis' `ld2string(.., LD_STR_HUMAN)`: `%.17f`,
/// trailing zeros (and a bare '.') dropped, `-0` as `0`, `inf`/`-inf`.
pub fn format_human_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut text = format_c(c"%.17f", d);
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    if text == "-0" {
        text = "0".into();
    }
    text
}

/// `snprintf(fmt, d)` for a one-double C format (exact C rounding).
pub fn format_c(fmt: &std::ffi::CStr, d: f64) -> String {
    let mut buf = vec![0u8; 400];
    // SAFETY: the buffer is NUL terminated by snprintf and bounded by its length;
    // the format takes exactly one double.
    let n = unsafe {
        libc::snprintf(
            buf.as_mut_ptr() as *mut libc::c_char,
            buf.len(),
            fmt.as_ptr(),
            d,
        )
    };
    if n < 0 {
        return String::new();
    }
    if n as usize >= buf.len() {
        buf.resize(n as usize + 1, 0);
        // SAFETY: as above, with a buffer now large enough for the whole output.
        unsafe {
            libc::snprintf(
                buf.as_mut_ptr() as *mut libc::c_char,
                buf.len(),
                fmt.as_ptr(),
                d,
            );
        }
    }
    buf.truncate(n as usize);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles() {
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(0.1), "0.10000000000000001");
        assert_eq!(
            format_human_double(13.361389338970184),
            "13.36138933897018433"
        );
        assert_eq!(format_human_double(180.0), "180");
        assert_eq!(format_human_double(-0.0), "0");
        assert_eq!(format_c(c"%.4f", 166274.15156960033), "166274.1516");
    }

    #[test]
    fn resp3_forms() {
        let mut r = Reply::new();
        r.proto = Proto::Resp3;
        r.null();
        r.map_len(1);
        r.double(2.5);
        assert_eq!(&r.buf[..], b"_\r\n%1\r\n,2.5\r\n");
    }
}
