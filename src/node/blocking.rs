//! Clients blocked in BLPOP-style commands: the queues of waiters by key and
//! the hand-off of pushed elements (node state; the connection shell waits in
//! `server::blocked`, the pops themselves are the list commands' `attempt`).
//!
//! Each blocked client is a `Waiter` queued (FIFO) under every `(db, key)` it
//! waits on. A write command that may have pushed to a waited-on key marks the
//! key ready (`signal`); right after that command (after EXEC for a
//! transaction) `serve_ready` hands the key's elements to its waiters in
//! arrival order: it runs the waiter's pop on the waiter's behalf and stores
//! the finished reply in the waiter, so an element goes to exactly one client
//! and no other command can slip in between the push and the hand-off, as in
//! Redis. The blocked connection only waits for that reply, its timeout, a
//! kill or its socket closing (`wait`).
//!
//! Lock order: `serving` → waiter state → slot locks; the queue map and the
//! ready list are only held for short, non-nested sections.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::Node;
use crate::error::CmdError;
use crate::resp::reply::Proto;
use crate::resp::Reply;
use crate::store::stream::StreamId;
use crate::store::{now_ms, End, Store};

/// What a blocked client waits to do with the first key that has elements.
#[derive(Debug, Clone)]
pub enum BlockOp {
    /// BLPOP / BRPOP: reply `[key, element]`.
    Pop(End),
    /// BLMPOP: reply `[key, [elements]]` with up to `count` elements.
    MPop(End, usize),
    /// BZPOPMIN / BZPOPMAX: reply `[key, member, score]`; BZMPOP (`count`
    /// set): reply `[key, [[member, score], ...]]`.
    ZPop {
        /// Pop the highest score instead of the lowest.
        max: bool,
        /// BZMPOP's COUNT (None for BZPOPMIN/BZPOPMAX).
        count: Option<usize>,
    },
    /// XREAD / XREADGROUP BLOCK: reply `[[key, entries]]` with the entries
    /// of the first stream that has some after the waited-for ID.
    Stream(std::sync::Arc<StreamWait>),
    /// BLMOVE / BRPOPLPUSH: move one element to `dest`, reply the element.
    Move {
        /// Destination list.
        dest: Bytes,
        /// End popped from the source.
        from: End,
        /// End pushed to on the destination.
        to: End,
    },
}

/// What a blocked XREAD / XREADGROUP waits for.
#[derive(Debug)]
pub struct StreamWait {
    /// Each stream key with the ID its entries must be greater than (for a
    /// group, unused: the group's last delivered ID at serving time counts).
    pub after: Vec<(Bytes, StreamId)>,
    /// COUNT (0: no limit).
    pub count: usize,
    /// XREADGROUP's group and consumer names, and NOACK.
    pub group: Option<(Bytes, Bytes, bool)>,
}

impl BlockOp {
    /// True when serving one waiter can leave nothing for the next (pops);
    /// stream reads do not consume, so every waiter of a key is tried.
    fn consumes(&self) -> bool {
        !matches!(self, BlockOp::Stream(_))
    }
}

/// Why a pop refused to run: a key of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source key is not a list (a blocked client keeps waiting).
    Source,
    /// The destination of a move is not a list (the client gets WRONGTYPE).
    Dest,
}

/// Runs a [`BlockOp`] on a key if it holds elements, writing the reply:
/// Ok(true) when served, Ok(false) when the key is missing (the command
/// layer's `cmd::blocking_pop::attempt`, handed in so both paths run the same pop).
pub type Attempt = fn(&Store, usize, u64, &[u8], &BlockOp, &mut Reply) -> Result<bool, Refusal>;

/// What a command asks the connection loop to block for.
#[derive(Debug)]
pub struct BlockSpec {
    /// Database of the keys.
    pub db: usize,
    /// Keys waited on, in the command's order.
    pub keys: Vec<Bytes>,
    /// The operation to run once a key has elements.
    pub op: BlockOp,
    /// None blocks forever.
    pub timeout: Option<Duration>,
    /// Protocol the reply is encoded in.
    pub proto: Proto,
}

/// Where a waiter stands; only moves away from `Waiting` once.
#[derive(Debug)]
enum State {
    Waiting,
    /// Served: the complete reply to send.
    Served(BytesMut),
    /// Timed out, killed or disconnected.
    Gone,
}

#[derive(Debug)]
struct Waiter {
    /// Client id (CLIENT UNBLOCK).
    client: u64,
    db: usize,
    keys: Vec<Bytes>,
    op: BlockOp,
    proto: Proto,
    state: Mutex<State>,
    notify: Notify,
}

type Queues = HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>;

/// The registry of blocked clients (one per node).
#[derive(Debug, Default)]
pub struct Blocking {
    queues: Mutex<Queues>,
    /// Registered waiters: the write path's fast exit when zero.
    waiters: AtomicUsize,
    ready: Mutex<Vec<(usize, Bytes)>>,
    /// True from a `signal` until the serving that handles it has finished.
    has_ready: AtomicBool,
    serving: Mutex<()>,
}

impl Blocking {
    /// True when some client is blocked (cheap check for every write).
    pub fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// Notes that `key` may have received elements; its waiters are served by
    /// the next `serve_ready`.
    pub fn signal(&self, db: usize, key: &[u8]) {
        if !self.has_waiters() {
            return;
        }
        let key = Bytes::copy_from_slice(key);
        if self.queues.lock().contains_key(&(db, key.clone())) {
            self.mark_ready(db, key);
        }
    }

    /// Marks every waited-on key of the databases `dbs` ready (SWAPDB
    /// changes all their contents at once).
    pub fn signal_dbs(&self, dbs: &[usize]) {
        if !self.has_waiters() {
            return;
        }
        let keys: Vec<(usize, Bytes)> = self
            .queues
            .lock()
            .keys()
            .filter(|(db, _)| dbs.contains(db))
            .cloned()
            .collect();
        for (db, key) in keys {
            self.mark_ready(db, key);
        }
    }

    fn mark_ready(&self, db: usize, key: Bytes) {
        let mut r = self.ready.lock();
        if !r.iter().any(|(d, k)| *d == db && *k == key) {
            r.push((db, key));
        }
        self.has_ready.store(true, Ordering::Release);
    }

    /// Serves the waiters of every signalled key (no-op when none was).
    pub fn serve_ready(&self, node: &Node, attempt: Attempt) {
        if !self.has_ready.load(Ordering::Acquire) {
            return;
        }
        let _serving = self.serving.lock();
        loop {
            let batch = {
                let mut r = self.ready.lock();
                if r.is_empty() {
                    self.has_ready.store(false, Ordering::Release);
                    return;
                }
                std::mem::take(&mut *r)
            };
            for (db, key) in batch {
                self.serve_key(node, attempt, db, &key);
            }
        }
    }

    /// Hands elements of `key` to its waiters, oldest first, while it has
    /// some (a pop that finds none stops; a stream read that finds nothing
    /// for one waiter goes on to the next).
    fn serve_key(&self, node: &Node, attempt: Attempt, db: usize, key: &Bytes) {
        let waiters: Vec<Arc<Waiter>> = match self.queues.lock().get(&(db, key.clone())) {
            Some(q) => q.iter().cloned().collect(),
            None => return,
        };
        for w in waiters {
            let mut state = w.state.lock();
            if !matches!(*state, State::Waiting) {
                drop(state);
                self.unregister(&w);
                continue;
            }
            let mut out = Reply {
                buf: BytesMut::new(),
                proto: w.proto,
            };
            match attempt(&node.store, db, now_ms(), key, &w.op, &mut out) {
                Ok(true) => {
                    // A plain XREAD only reads; everything else wrote the key.
                    if !matches!(&w.op, BlockOp::Stream(sw) if sw.group.is_none()) {
                        node.watches.touch(db, key);
                    }
                    if let BlockOp::Move { dest, .. } = &w.op {
                        node.watches.touch(db, dest);
                        self.signal(db, dest);
                    }
                }
                Ok(false) | Err(Refusal::Source) if w.op.consumes() => return,
                Ok(false) | Err(Refusal::Source) => continue,
                Err(Refusal::Dest) => out.error(&CmdError::WrongType.to_string()),
            }
            *state = State::Served(out.buf);
            drop(state);
            self.unregister(&w);
            w.notify.notify_one();
        }
    }

    /// CLIENT UNBLOCK: ends the wait of client `id` with the timeout reply
    /// or an UNBLOCKED error; false when that client is not blocked.
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let found = self
            .queues
            .lock()
            .values()
            .flat_map(|q| q.iter())
            .find(|w| w.client == id)
            .cloned();
        let Some(w) = found else { return false };
        let mut state = w.state.lock();
        if !matches!(*state, State::Waiting) {
            return false;
        }
        *state = State::Served(unblocked_reply(w.proto, error));
        drop(state);
        self.unregister(&w);
        w.notify.notify_one();
        true
    }

    fn register(&self, w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        for k in &w.keys {
            q.entry((w.db, k.clone())).or_default().push_back(w.clone());
        }
        self.waiters.fetch_add(1, Ordering::AcqRel);
    }

    /// Removes `w` from all its queues (idempotent).
    fn unregister(&self, w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        let mut found = false;
        for k in &w.keys {
            let id = (w.db, k.clone());
            if let Some(queue) = q.get_mut(&id) {
                let before = queue.len();
                queue.retain(|x| !Arc::ptr_eq(x, w));
                found |= queue.len() != before;
                if queue.is_empty() {
                    q.remove(&id);
                }
            }
        }
        if found {
            self.waiters.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The reply of a wait that ended without an element: the timeout's null
/// array, or CLIENT UNBLOCK ... ERROR's error.
fn unblocked_reply(proto: Proto, error: bool) -> BytesMut {
    let mut r = Reply {
        buf: BytesMut::new(),
        proto,
    };
    if error {
        r.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else {
        r.null_array();
    }
    r.buf
}

/// One blocked client's registration, from [`Blocking::enter`] to
/// [`Blocking::leave`].
#[derive(Debug)]
pub struct BlockedWait {
    waiter: Arc<Waiter>,
}

impl BlockedWait {
    /// Resolves once the wait was served (an element, a WRONGTYPE error) or
    /// ended by CLIENT UNBLOCK.
    pub async fn served(&self) {
        self.waiter.notify.notified().await
    }
}

impl Blocking {
    /// Registers client `client` as waiting for `spec` (duplicate keys
    /// folded) and serves it at once when an element arrived between the
    /// command's own attempt and now. The caller holds the gate shared.
    pub fn enter(
        &self,
        node: &Node,
        attempt: Attempt,
        client: u64,
        spec: BlockSpec,
    ) -> BlockedWait {
        let mut keys = spec.keys;
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        let w = Arc::new(Waiter {
            client,
            db: spec.db,
            keys,
            op: spec.op,
            proto: spec.proto,
            state: Mutex::new(State::Waiting),
            notify: Notify::new(),
        });
        self.register(&w);
        for k in &w.keys {
            self.mark_ready(w.db, k.clone());
        }
        self.serve_ready(node, attempt);
        BlockedWait { waiter: w }
    }

    /// Ends a wait: the reply to send (the served element, a WRONGTYPE
    /// error, CLIENT UNBLOCK's reply, or the timeout's null array).
    pub fn leave(&self, wait: BlockedWait) -> BytesMut {
        let w = wait.waiter;
        let outcome = std::mem::replace(&mut *w.state.lock(), State::Gone);
        self.unregister(&w);
        match outcome {
            State::Served(reply) => reply,
            State::Waiting | State::Gone => unblocked_reply(w.proto, false),
        }
    }
}
