//! RESP, the node's one codec: request parsing (`parse`), reply building
//! (`reply`), the wire forms both share with the commands sent to peers
//! (`encode`), reply framing on peer links (`frame`) and reply decoding
//! (`decode`), so each rule of the wire format is written once.

pub mod decode;
pub mod encode;
pub mod frame;
pub mod parse;
pub mod reply;
#[cfg(test)]
mod roundtrip;

pub use decode::{decode_reply, ReplyDecodeError, ReplyValue};
pub use encode::encode_command;
pub use frame::{FrameScan, MalformedFrame};
pub use parse::{parse_request, ParseLimits, Parsed, ProtocolError, RequestParser};
pub use reply::{Proto, Reply};
