//! Replication state of a standalone node (Redis' `REPLICAOF` model): the
//! role (primary, or replica of a host and port), the replication stream's
//! id and byte offset, the backlog that partial resyncs are served from, the
//! attached replicas with their acknowledged offsets (for `WAIT`, `ROLE`,
//! `INFO replication`) and the resync counters.
//!
//! The stream itself is a sequence of RESP arrays (see `cmd::propagate`);
//! this module only keeps its bytes. Replica links read the backlog from
//! their own position (`Stream::read_from`), so the primary's memory for
//! every replica is the one bounded backlog: a replica that falls behind
//! it is dropped and comes back with a full resync.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock};
use tokio::sync::{watch, Notify};

/// Where this node takes its data from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A primary (the default).
    Primary,
    /// A replica of `host:port`.
    Replica {
        /// The primary's host.
        host: String,
        /// The primary's port.
        port: u16,
    },
}

/// State of a replica's link to its primary (Redis' `repl_state` names as
/// ROLE reports them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected; the replica task is (re)connecting.
    Connect,
    /// Connected, handshake in progress.
    Handshake,
    /// Receiving the full sync's snapshot.
    Sync,
    /// Streaming.
    Connected,
}

impl LinkState {
    /// The state name in `ROLE`'s reply.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Handshake => "handshake",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What a replica knows of its primary's stream (kept across reconnects so
/// that it can ask for a partial resync).
#[derive(Clone, Debug, Default)]
pub struct UpstreamState {
    /// The primary's replication id, once a sync happened.
    pub replid: Option<String>,
    /// Bytes of the stream applied (the offset to continue from).
    pub offset: u64,
    /// The database the stream's commands run in (its last SELECT).
    pub db: usize,
}

/// A replica's view of its link, for ROLE and INFO.
#[derive(Clone, Debug)]
pub struct LinkInfo {
    /// Link state.
    pub state: LinkState,
    /// When the last byte came from the primary (unix ms).
    pub last_io_ms: u64,
}

/// A replica's request for the stream, handed to its connection.
#[derive(Debug)]
pub struct SyncRequest {
    /// The replication id it has (`?` for none).
    pub replid: String,
    /// The offset it has applied (-1 for none).
    pub offset: i64,
    /// Its `REPLCONF listening-port` (0 when not given).
    pub port: u16,
}

/// What a WAIT that must block waits for.
#[derive(Debug)]
pub struct WaitSpec {
    /// The client's last write offset.
    pub offset: u64,
    /// Replicas asked for.
    pub replicas: usize,
    /// Timeout (None blocks until enough replicas acknowledge).
    pub timeout: Option<std::time::Duration>,
}

/// One replica attached to this primary.
#[derive(Debug)]
pub struct ReplicaLink {
    /// Client id of its connection.
    pub id: u64,
    /// Its address (ip).
    pub ip: String,
    /// Its `REPLCONF listening-port`.
    pub port: u16,
    /// The offset it acknowledged.
    pub acked: AtomicU64,
    /// When it last acknowledged (unix ms).
    pub ack_ms: AtomicU64,
    /// True once its full sync was sent (INFO `state=online`).
    pub online: AtomicBool,
}

/// The stream's bytes: the backlog window and the offset after its end.
#[derive(Debug)]
pub struct Stream {
    /// The replication id of this history.
    pub replid: String,
    /// The id this node's history had before it was promoted (Redis'
    /// `master_replid2`), with the offset up to which it is shared.
    pub replid2: (String, u64),
    /// Offset after the last byte appended.
    pub offset: u64,
    /// The last bytes of the stream, at most the backlog size.
    backlog: VecDeque<u8>,
    /// `repl-backlog-size`.
    backlog_size: usize,
    /// The database the stream's next command runs in, as last selected
    /// (None forces a SELECT, as after a full sync).
    pub db: Option<usize>,
}

impl Stream {
    fn new(replid: String) -> Stream {
        Stream {
            replid,
            replid2: ("0".repeat(40), 0),
            offset: 0,
            backlog: VecDeque::new(),
            backlog_size: 1024 * 1024,
            db: None,
        }
    }

    /// Offset of the first byte the backlog still holds.
    pub fn backlog_start(&self) -> u64 {
        self.offset - self.backlog.len() as u64
    }

    /// Bytes the backlog holds.
    pub fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Sets the backlog's size (trimming it if smaller now).
    pub fn set_backlog_size(&mut self, size: usize) {
        self.backlog_size = size.max(16 * 1024);
        self.trim();
    }

    fn trim(&mut self) {
        let excess = self.backlog.len().saturating_sub(self.backlog_size);
        self.backlog.drain(..excess);
    }

    /// Appends stream bytes.
    pub fn append(&mut self, bytes: &[u8]) {
        self.backlog.extend(bytes);
        self.offset += bytes.len() as u64;
        self.trim();
    }

    /// The bytes from `offset` to the end, None when the backlog no longer
    /// holds `offset` (or it is past the end).
    pub fn read_from(&self, offset: u64, max: usize) -> Option<Vec<u8>> {
        if offset < self.backlog_start() || offset > self.offset {
            return None;
        }
        let skip = (offset - self.backlog_start()) as usize;
        let end = skip.saturating_add(max).min(self.backlog.len());
        let (a, b) = self.backlog.as_slices();
        let mut out = Vec::with_capacity(end - skip);
        if skip < a.len() {
            out.extend_from_slice(&a[skip..end.min(a.len())]);
        }
        if end > a.len() {
            out.extend_from_slice(&b[skip.saturating_sub(a.len())..end - a.len()]);
        }
        Some(out)
    }

    /// True when a replica that has `replid` up to `offset` can continue
    /// from the backlog (Redis' `masterTryPartialResynchronization`).
    pub fn can_continue(&self, replid: &str, offset: u64) -> bool {
        let same_history =
            replid == self.replid || (replid == self.replid2.0 && offset <= self.replid2.1);
        same_history
            && offset >= self.backlog_start()
            && offset <= self.offset
            && !(self.backlog.is_empty() && offset != self.offset)
    }
}

/// Replication state of the node.
#[derive(Debug)]
pub struct Replication {
    /// True once a replica attached to this primary: commands are then
    /// serialized by `order` and their effects appended to the stream.
    active: AtomicBool,
    /// Serializes commands while `active`, so the stream's order is the
    /// order the keyspace changed in.
    order: Mutex<()>,
    /// The stream.
    stream: Mutex<Stream>,
    /// The stream's end offset, for the replica links to wait on.
    pub appended: watch::Sender<u64>,
    /// Woken when a replica acknowledges (WAIT).
    pub acks: Notify,
    /// Attached replicas.
    pub replicas: Mutex<Vec<Arc<ReplicaLink>>>,
    /// This node's role; the replica task watches it.
    pub role: watch::Sender<Role>,
    /// The replica's stream position.
    pub upstream: Mutex<UpstreamState>,
    /// The replica's link state.
    pub link: RwLock<LinkInfo>,
    /// Full resyncs served (INFO `sync_full`).
    pub sync_full: AtomicU64,
    /// Partial resyncs accepted (`sync_partial_ok`).
    pub sync_partial_ok: AtomicU64,
    /// Partial resyncs refused (`sync_partial_err`).
    pub sync_partial_err: AtomicU64,
}

impl Replication {
    /// State of a new primary with a fresh replication id.
    pub fn new(replid: String) -> Replication {
        Replication {
            active: AtomicBool::new(false),
            order: Mutex::new(()),
            stream: Mutex::new(Stream::new(replid)),
            appended: watch::Sender::new(0),
            acks: Notify::new(),
            replicas: Mutex::new(Vec::new()),
            role: watch::Sender::new(Role::Primary),
            upstream: Mutex::new(UpstreamState::default()),
            link: RwLock::new(LinkInfo {
                state: LinkState::Connect,
                last_io_ms: 0,
            }),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
        }
    }

    /// True when commands must be recorded into the stream (one load; the
    /// only cost replication adds while no replica ever attached).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Turns recording on (a replica attached). The caller holds the
    /// exclusive gate, so no command runs half recorded.
    pub fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// Turns recording off (this node became a replica).
    pub fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Takes the order lock (see `active`).
    pub fn order(&self) -> MutexGuard<'_, ()> {
        self.order.lock()
    }

    /// The order lock if free now (periodic work that must not block a
    /// worker behind a long script).
    pub fn try_order(&self) -> Option<MutexGuard<'_, ()>> {
        self.order.try_lock()
    }

    /// The stream, locked.
    pub fn stream(&self) -> MutexGuard<'_, Stream> {
        self.stream.lock()
    }

    /// Appends to the stream and wakes the replica links.
    pub fn append(&self, bytes: &[u8]) {
        let end = {
            let mut s = self.stream.lock();
            s.append(bytes);
            s.offset
        };
        self.appended.send_replace(end);
    }

    /// The stream's end offset (`master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.stream.lock().offset
    }

    /// True while this node is a replica.
    pub fn is_replica(&self) -> bool {
        matches!(*self.role.borrow(), Role::Replica { .. })
    }

    /// Number of replicas that acknowledged `offset` or more.
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.acked.load(Ordering::Acquire) >= offset)
            .count()
    }

    /// Attaches a replica link.
    pub fn attach(&self, link: Arc<ReplicaLink>) {
        self.replicas.lock().push(link);
    }

    /// Detaches the replica link of client `id`.
    pub fn detach(&self, id: u64) {
        self.replicas.lock().retain(|r| r.id != id);
        self.acks.notify_waiters();
    }

    /// Becomes a primary again (REPLICAOF NO ONE): the history so far is
    /// kept as `replid2` (replicas of the old primary can continue with this
    /// node) under a new replication id, from the offset applied.
    pub fn promote(&self, new_replid: String) {
        let applied = self.upstream.lock().clone();
        let mut s = self.stream.lock();
        if let Some(old) = applied.replid {
            s.replid2 = (old, applied.offset);
            s.offset = applied.offset;
            s.backlog.clear();
        }
        s.replid = new_replid;
        s.db = None;
        drop(s);
        self.appended.send_replace(applied.offset);
        self.role.send_replace(Role::Primary);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backlog keeps the last bytes only and serves reads inside it.
    #[test]
    fn backlog_window() {
        let mut s = Stream::new("a".repeat(40));
        s.set_backlog_size(16 * 1024);
        s.append(&[1u8; 10_000]);
        assert_eq!(s.read_from(0, 5), Some(vec![1; 5]));
        assert_eq!(s.read_from(9_998, 100), Some(vec![1; 2]));
        s.append(&[2u8; 10_000]);
        assert_eq!(s.offset, 20_000);
        assert_eq!(s.backlog_start(), 20_000 - 16 * 1024);
        assert_eq!(s.read_from(0, 5), None);
        assert_eq!(s.read_from(19_998, 10), Some(vec![2, 2]));
        // Across the ring's wrap: the old bytes then the new, in order.
        let from = s.backlog_start() + 100;
        let got = s.read_from(from, usize::MAX).unwrap_or_default();
        assert_eq!(got.len() as u64, 20_000 - from);
        let ones = (10_000 - from) as usize;
        assert!(got[..ones].iter().all(|&b| b == 1) && got[ones..].iter().all(|&b| b == 2));
        assert!(s.can_continue(&"a".repeat(40), 19_000));
        assert!(!s.can_continue(&"a".repeat(40), 100));
        assert!(!s.can_continue(&"b".repeat(40), 19_000));
        assert!(!s.can_continue(&"a".repeat(40), 20_001));
    }
}
