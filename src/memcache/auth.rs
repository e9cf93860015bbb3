//! Text-protocol authentication for the memcached listener, memcached 1.6's
//! `--auth-file` exchange: while `requirepass` is set, a connection's first
//! command must be `set <any key> <flags> <exptime> <bytes>` whose data block
//! is `<username> <password>`. The only credentials are Redis' default user,
//! `default <requirepass>`. Replies, byte for byte memcached 1.6.18's:
//! `STORED` on success (nothing is stored), `CLIENT_ERROR authentication
//! failure` on wrong credentials, `CLIENT_ERROR bad authentication token
//! format` when the block is not two words, `CLIENT_ERROR bad command line
//! termination` when it does not end in CRLF, and `CLIENT_ERROR
//! unauthenticated` for every other line (`quit` included). Two limits
//! memcached does not have: a data block over [`MAX_TOKEN`] bytes is answered
//! `CLIENT_ERROR auth token too long` and the connection closed, as is a
//! line over 2048 bytes without its newline, so an unauthenticated client
//! cannot make the node buffer more than a few KB.

use bytes::{Buf, BytesMut};

/// Longest accepted `<username> <password>` block.
pub const MAX_TOKEN: usize = 4096;

/// Longest command line buffered while waiting for its newline.
const MAX_LINE: usize = 2048;

const UNAUTHENTICATED: &[u8] = b"CLIENT_ERROR unauthenticated\r\n";
const FAILURE: &[u8] = b"CLIENT_ERROR authentication failure\r\n";
const BAD_FORMAT: &[u8] = b"CLIENT_ERROR bad authentication token format\r\n";
const BAD_TERMINATION: &[u8] = b"CLIENT_ERROR bad command line termination\r\n";
const TOO_LONG: &[u8] = b"CLIENT_ERROR auth token too long\r\n";

/// Where the exchange stands after the buffered input.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    /// Authenticated: the rest of the input is ordinary requests.
    Open,
    /// Not yet: read more input.
    Read,
    /// Write the output and close.
    Close,
}

/// The words of a line, split on spaces as memcached's tokenizer does.
fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

/// The data size of a `set` command line, None for any other line.
fn set_size(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut w = words(line);
    if w.next() != Some(b"set") {
        return None;
    }
    let size = w.nth(3)?;
    std::str::from_utf8(size).ok()?.parse().ok()
}

/// Checks a `set` data block (CRLF included) against `default <password>`.
fn check(block: &[u8], password: &[u8]) -> Result<(), &'static [u8]> {
    let token = block.strip_suffix(b"\r\n").ok_or(BAD_TERMINATION)?;
    let mut w = words(token);
    match (w.next(), w.next()) {
        (Some(user), Some(pass)) if user == b"default" && pass == password => Ok(()),
        (Some(_), Some(_)) => Err(FAILURE),
        _ => Err(BAD_FORMAT),
    }
}

/// Runs the exchange over the requests buffered in `inbuf`, answering each
/// into `out`, until the client authenticates with `default <password>`.
/// An empty password (`requirepass` cleared since the connection opened)
/// opens the gate at once, as Redis' default user then needs no password.
pub fn authenticate(password: &[u8], inbuf: &mut BytesMut, out: &mut Vec<u8>) -> Gate {
    if password.is_empty() {
        return Gate::Open;
    }
    loop {
        let Some(nl) = memchr::memchr(b'\n', inbuf) else {
            return if inbuf.len() > MAX_LINE {
                Gate::Close
            } else {
                Gate::Read
            };
        };
        let Some(size) = set_size(&inbuf[..nl]) else {
            inbuf.advance(nl + 1);
            out.extend_from_slice(UNAUTHENTICATED);
            continue;
        };
        if size > MAX_TOKEN {
            out.extend_from_slice(TOO_LONG);
            return Gate::Close;
        }
        let end = nl + 1 + size + 2;
        if inbuf.len() < end {
            return Gate::Read;
        }
        let block = &inbuf[nl + 1..end];
        let verdict = check(block, password);
        inbuf.advance(end);
        match verdict {
            Ok(()) => {
                out.extend_from_slice(b"STORED\r\n");
                return Gate::Open;
            }
            Err(e) => out.extend_from_slice(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Gate, String, usize) {
        let mut inbuf = BytesMut::from(input);
        let mut out = Vec::new();
        let gate = authenticate(b"secret", &mut inbuf, &mut out);
        (
            gate,
            String::from_utf8_lossy(&out).into_owned(),
            inbuf.len(),
        )
    }

    #[test]
    fn only_default_and_the_password_open_the_gate() {
        let (g, out, left) = run(b"get k\r\nset a 0 0 14\r\ndefault secret\r\nget k\r\n");
        assert_eq!(g, Gate::Open);
        assert_eq!(out, "CLIENT_ERROR unauthenticated\r\nSTORED\r\n");
        assert_eq!(left, b"get k\r\n".len());
        let (g, out, _) =
            run(b"set a 0 0 12\r\ndefault nope\r\nset a 0 0 6\r\nfoobar\r\nset a 0 0 5\r\nabcdefg");
        assert_eq!(g, Gate::Read);
        assert_eq!(
            out,
            "CLIENT_ERROR authentication failure\r\nCLIENT_ERROR bad authentication token format\r\nCLIENT_ERROR bad command line termination\r\n"
        );
        let (g, out, _) = run(b"set a 0 0 12\r\nadmin secret\r\nflush_all\r\nquit\r\nmn\r\n");
        assert_eq!(g, Gate::Read);
        assert_eq!(
            out,
            "CLIENT_ERROR authentication failure\r\n".to_string()
                + &"CLIENT_ERROR unauthenticated\r\n".repeat(3)
        );
    }

    #[test]
    fn a_cleared_password_opens_the_gate() {
        let mut inbuf = BytesMut::from(&b"get k\r\n"[..]);
        let mut out = Vec::new();
        assert_eq!(authenticate(b"", &mut inbuf, &mut out), Gate::Open);
        assert_eq!((inbuf.len(), out.len()), (7, 0));
    }

    #[test]
    fn oversized_input_closes() {
        let (g, out, _) = run(b"set a 0 0 99999\r\n");
        assert_eq!(
            (g, out.as_str()),
            (Gate::Close, "CLIENT_ERROR auth token too long\r\n")
        );
        let (g, _, _) = run(&[b'x'; MAX_LINE + 1]);
        assert_eq!(g, Gate::Close);
        let (g, out, _) = run(b"set a 0 0 14\r\ndefault sec");
        assert_eq!((g, out.as_str()), (Gate::Read, ""));
    }
}
