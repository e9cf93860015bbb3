//! Reply decoding: one complete RESP2 reply to a value tree, for the few
//! places that need a reply's contents rather than its bytes (joining the
//! parts of a multi-key command split across nodes, reading a peer's answer
//! to a forwarded memcached request, handing `redis.call` results to Lua).
//!
//! Decoding is delegated to the `redis-protocol` crate, a proven decoder, on
//! purpose: these paths are cold next to the request parser and the peer
//! links (a tree allocates per value anyway), so a hand-written decoder would
//! buy nothing. The hot paths stay hand-written where the crate cannot serve
//! them: the request parser ([`super::parse`], Redis' exact limits and error
//! texts, zero-copy arguments, resumable), the frame scanner
//! ([`super::frame`], resumable, allocation-free) and the encoders
//! ([`super::encode`], writing straight into the output buffer). This module
//! is the only one that calls the crate, so the node has one RESP codec.

use redis_protocol::resp2::decode::decode;

/// A RESP2 reply decoded into a tree (errors as text, bulk strings as bytes,
/// nulls of both kinds as `Null`).
pub use redis_protocol::resp2::types::OwnedFrame as ReplyValue;

/// Why [`decode_reply`] found no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyDecodeError {
    /// The bytes end before the first reply does.
    #[error("reply is incomplete")]
    Incomplete,
    /// The bytes are not RESP2.
    #[error("reply is malformed: {0}")]
    Malformed(String),
}

/// Decodes the first RESP2 reply of `bytes` (bytes after it are ignored).
pub fn decode_reply(bytes: &[u8]) -> Result<ReplyValue, ReplyDecodeError> {
    match decode(bytes) {
        Ok(Some((value, _))) => Ok(value),
        Ok(None) => Err(ReplyDecodeError::Incomplete),
        Err(e) => Err(ReplyDecodeError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let d = |b: &[u8]| decode_reply(b);
        assert_eq!(d(b"+OK\r\n"), Ok(ReplyValue::SimpleString(b"OK".to_vec())));
        assert_eq!(d(b"-ERR x\r\n"), Ok(ReplyValue::Error("ERR x".into())));
        assert_eq!(d(b":-3\r\n"), Ok(ReplyValue::Integer(-3)));
        assert_eq!(d(b"$-1\r\n"), Ok(ReplyValue::Null));
        assert_eq!(d(b"*-1\r\n"), Ok(ReplyValue::Null));
        assert_eq!(
            d(b"*2\r\n$1\r\na\r\n*1\r\n$0\r\n\r\n:9\r\n"),
            Ok(ReplyValue::Array(vec![
                ReplyValue::BulkString(b"a".to_vec()),
                ReplyValue::Array(vec![ReplyValue::BulkString(Vec::new())]),
            ]))
        );
    }

    #[test]
    fn incomplete_and_malformed() {
        assert_eq!(decode_reply(b""), Err(ReplyDecodeError::Incomplete));
        assert_eq!(
            decode_reply(b"*2\r\n$1\r\na\r\n"),
            Err(ReplyDecodeError::Incomplete)
        );
        assert!(matches!(
            decode_reply(b"?x\r\n"),
            Err(ReplyDecodeError::Malformed(_))
        ));
        assert!(matches!(
            decode_reply(b"$x\r\n"),
            Err(ReplyDecodeError::Malformed(_))
        ));
    }
}
