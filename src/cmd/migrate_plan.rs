//! What MIGRATE hands from the command layer (`cmd::dump_restore`, which
//! serializes the keys) to the connection task (`server::migrate_cmd`,
//! which talks to the target): its own file so the follow-up type
//! (`ctx::After::Migrate`) needs no import of the command family.

use bytes::Bytes;

/// One key MIGRATE sends: its name, remaining TTL in ms (0: none) and DUMP payload.
#[derive(Debug)]
pub struct MigrateItem {
    /// The key.
    pub key: Bytes,
    /// Remaining time to live in ms, 0 without one.
    pub ttl_ms: u64,
    /// The DUMP payload of its value.
    pub payload: Vec<u8>,
}

/// A MIGRATE ready for the network: where to, how, and what.
#[derive(Debug)]
pub struct MigratePlan {
    /// Target host, as given.
    pub host: String,
    /// Target port, as given (a bad one fails to connect, as in Redis).
    pub port: String,
    /// Target database.
    pub db: i64,
    /// Connect and per-reply timeout.
    pub timeout_ms: u64,
    /// COPY: keep the local keys.
    pub copy: bool,
    /// REPLACE: overwrite keys on the target.
    pub replace: bool,
    /// AUTH password or AUTH2 username and password.
    pub auth: Option<(Option<Bytes>, Bytes)>,
    /// The keys that exist here.
    pub items: Vec<MigrateItem>,
    /// The database the keys are deleted from after a move.
    pub source_db: usize,
    /// The reply is dropped (CLIENT REPLY OFF or SKIP).
    pub silent: bool,
}
