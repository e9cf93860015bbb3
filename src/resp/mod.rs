//! RESP wire handling: request parsing and reply encoding.

pub mod parse;
pub mod reply;

pub use parse::{parse_request, ParseLimits, Parsed, ProtocolError, RequestParser};
pub use reply::{Proto, Reply};
