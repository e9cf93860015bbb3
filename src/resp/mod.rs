//! RESP, the node's one codec: request parsing (`parse`), reply building
//! (`reply`), the wire forms both share with the commands sent to peers
//! (`encode`) and reply framing on peer links (`frame`), so each rule of the
//! wire format is written once.

pub mod encode;
pub mod frame;
pub mod parse;
pub mod reply;

pub use encode::encode_command;
pub use frame::{FrameScan, MalformedFrame};
pub use parse::{parse_request, ParseLimits, Parsed, ProtocolError, RequestParser};
pub use reply::{Proto, Reply};
