//! ringcache: a distributed in-memory cache speaking RESP2/RESP3 and memcached.
//!
//! The crate is the whole node; `main.rs` only parses flags and starts it.
//! Tests and benches use the same public modules.
#![deny(clippy::unwrap_used)]

pub mod alloc;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod config_rewrite;
pub mod config_stored;
pub mod error;
pub mod memcache;
pub mod node;
pub mod resp;
pub mod scripting;
pub mod server;
pub mod store;
pub mod util;
