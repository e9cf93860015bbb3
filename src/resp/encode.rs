//! The RESP wire forms every writer shares: the header line (type byte,
//! decimal length or value, CRLF), the bulk string, and whole commands.
//!
//! The reply builder ([`crate::resp::Reply`]) and the peer links
//! (`cluster::pool`, which send commands to other nodes) both write through
//! these functions, so the byte layout exists once. They append straight to
//! the caller's buffer and are `#[inline]`: the reply builder pays no more
//! per reply than when it wrote the bytes itself.

use bytes::{BufMut, BytesMut};

/// Appends a header line: `tag`, the decimal `n`, CRLF (`*2\r\n`, `$5\r\n`,
/// `:-7\r\n`).
#[inline]
pub(crate) fn put_header(out: &mut BytesMut, tag: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    out.put_u8(tag);
    out.put_slice(digits.format(n).as_bytes());
    out.put_slice(b"\r\n");
}

/// Appends a bulk string: `$<len>\r\n<data>\r\n`.
#[inline]
pub(crate) fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    put_header(out, b'$', data.len() as i64);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends a command as a RESP array of bulk strings, the form in which a
/// node sends requests to its peers (and the form clients use).
pub fn encode_command<A: AsRef<[u8]>>(out: &mut BytesMut, args: &[A]) {
    out.reserve(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    put_header(out, b'*', args.len() as i64);
    for a in args {
        put_bulk(out, a.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_an_array_of_bulk_strings() {
        let mut b = BytesMut::new();
        encode_command::<&[u8]>(&mut b, &[b"GET", b"k"]);
        assert_eq!(&b[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        b.clear();
        encode_command::<&[u8]>(&mut b, &[]);
        assert_eq!(&b[..], b"*0\r\n");
        b.clear();
        encode_command(&mut b, &[&b""[..], b"a\r\nb"]);
        assert_eq!(&b[..], b"*2\r\n$0\r\n\r\n$4\r\na\r\nb\r\n");
    }

    #[test]
    fn headers() {
        let mut b = BytesMut::new();
        put_header(&mut b, b':', -42);
        put_header(&mut b, b'*', i64::MAX);
        assert_eq!(&b[..], b":-42\r\n*9223372036854775807\r\n");
    }
}
