//! Clients blocked in BLPOP-style commands.
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, Notify};

use super::pubsub::Mailbox;
use super::{ClientHandle, Shared};
use crate::cmd::list::{attempt, BlockOp, Refusal};
use crate::error::CmdError;
use crate::resp::reply::Proto;
use crate::resp::Reply;
use crate::store::now_ms;

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

/// The registry of blocked clients (one per node, in `Shared`).
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
    pub fn serve_ready(&self, shared: &Shared) {
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
                self.serve_key(shared, db, &key);
            }
        }
    }

    /// Hands elements of `key` to its waiters, oldest first, while it has some.
    fn serve_key(&self, shared: &Shared, db: usize, key: &Bytes) {
        loop {
            let head = self
                .queues
                .lock()
                .get(&(db, key.clone()))
                .and_then(|q| q.front().cloned());
            let Some(w) = head else { return };
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
            match attempt(&shared.store, db, now_ms(), key, &w.op, &mut out) {
                Ok(true) => {
                    shared.watches.touch(db, key);
                    if let BlockOp::Move { dest, .. } = &w.op {
                        shared.watches.touch(db, dest);
                        self.signal(db, dest);
                    }
                }
                Ok(false) | Err(Refusal::Source) => return,
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

/// Writes a blocked subscriber's pending push messages; false when the
/// connection failed.
async fn deliver<S: AsyncWrite + Unpin>(
    shared: &Shared,
    mailbox: &Mailbox,
    proto: Proto,
    sock: &mut S,
) -> bool {
    while mailbox.has_pending() {
        let mut out = Reply {
            buf: BytesMut::new(),
            proto,
        };
        // A dropped shard channel waits for the connection loop, which
        // owns the subscription set.
        let stopped = mailbox.drain_into(&mut out, 64 * 1024, None);
        shared
            .stats
            .net_output_bytes
            .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
        if sock.write_all(&out.buf).await.is_err() {
            return false;
        }
        if stopped {
            break;
        }
    }
    true
}

async fn deadline(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Blocks the connection for `spec`: returns the reply to send (the served
/// element, a WRONGTYPE error or the timeout's null array), or None when the
/// connection must close (peer gone, CLIENT KILL, shutdown). Input arriving
/// meanwhile is buffered in `inbuf` for after the wait.
#[allow(clippy::too_many_arguments)]
pub async fn wait<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    handle: &ClientHandle,
    spec: BlockSpec,
    sock: &mut S,
    inbuf: &mut BytesMut,
    stop: &mut watch::Receiver<bool>,
    mailbox: Option<&Mailbox>,
) -> Option<BytesMut> {
    let until = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut keys = spec.keys;
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    let w = Arc::new(Waiter {
        client: handle.id,
        db: spec.db,
        keys,
        op: spec.op,
        proto: spec.proto,
        state: Mutex::new(State::Waiting),
        notify: Notify::new(),
    });
    let b = &shared.blocking;
    shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
    let flags = std::mem::replace(&mut handle.meta.lock().flags, "b".to_string());
    {
        // Serving pops keys: never in the middle of an EXEC or script.
        let _gate = shared.gate.read();
        b.register(&w);
        // Elements may have arrived between the command's own attempt and now.
        for k in &w.keys {
            b.mark_ready(w.db, k.clone());
        }
        b.serve_ready(shared);
    }
    let open = loop {
        tokio::select! {
            _ = w.notify.notified() => break true,
            _ = deadline(until) => break true,
            r = sock.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let limit = shared.config.read().client_query_buffer_limit as usize;
                    if inbuf.len() > limit {
                        break false;
                    }
                }
            },
            _ = handle.wake.notified() => {
                if handle.killed.load(Ordering::Acquire) {
                    break false;
                }
                // A RESP3 subscriber gets its messages while blocked, as in Redis.
                if let Some(mb) = mailbox {
                    if !deliver(shared, mb, spec.proto, sock).await {
                        break false;
                    }
                }
            }
            _ = stop.changed() => break false,
        }
    };
    let outcome = std::mem::replace(&mut *w.state.lock(), State::Gone);
    b.unregister(&w);
    handle.meta.lock().flags = flags;
    shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    if !open {
        return None;
    }
    Some(match outcome {
        State::Served(reply) => reply,
        State::Waiting | State::Gone => unblocked_reply(w.proto, false),
    })
}
