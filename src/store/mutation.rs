//! The one mutation observer of the keyspace. Every change of a key, whatever
//! made it (a RESP command, a memcached request, a script, lazy or active
//! expiry, eviction, a migration batch, FLUSH or a slot hand-over), reaches
//! `observe` as one `Mutation` (database, slot, key, kind of change) from the
//! slot lock's methods in `store::Locked`, the only code that changes a slot
//! table. Two readers consume it today:
//!
//! - **WATCH** (Redis' `signalModifiedKey`): while a command runs with
//!   recording on (the dispatcher turns it on only when somebody watches),
//!   the keys it really modified are collected per thread and handed back by
//!   `recording`. Commands run synchronously on their thread between
//!   `.await`s, so a per-thread record is exact. Cost when nobody watches:
//!   one thread-local flag read.
//! - **Per-slot observers** (`SlotObserver`, kept in the slot table): live
//!   migration's exact dirty-key set. Cost when no observer is on: one
//!   branch on a null pointer.
//! - **Client-side caching** (`TrackingHook`, kept in the store): while some
//!   client has CLIENT TRACKING on, every change that Redis signals
//!   (`signalModifiedKey`: writes, deletions, expiry, eviction, keys dropped
//!   with a slot) is handed to the node's tracking table, which sends the
//!   invalidations. Cost when nobody tracks: one relaxed atomic load.
//! - **Replication** (`replicating`): while a node with replicas runs a
//!   command (or an expiry cycle, a memcached request, a blocked client's
//!   wake-up), every change is logged per thread, in order, and the caller
//!   turns the log into the replication stream's effects. Cost when no
//!   replica is attached: one thread-local flag read.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{OnceLock, Weak};

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Taken for an in-place write that may turn out a no-op (SADD of a
    /// present member); the command signals `Written` when it did change.
    Opened,
    /// Written: set, changed in place, or its expiry set or cleared.
    Written,
    /// Deleted by a command.
    Deleted,
    /// Removed because its TTL passed (lazily or by active expiry).
    Expired,
    /// Removed by maxmemory eviction.
    Evicted,
    /// Removed with its whole slot table (FLUSHDB/FLUSHALL, a slot handed
    /// over to another node, a failed incoming migration discarded).
    Dropped,
}

impl Change {
    /// True for the changes WATCH counts as a modification (Redis signals
    /// writes, deletions and evictions; FLUSH touches every watcher itself).
    fn touches_watchers(self) -> bool {
        matches!(self, Change::Written | Change::Deleted | Change::Evicted)
    }

    /// True for the changes that invalidate client-side caches (everything
    /// but a key only opened for a write).
    fn invalidates_caches(self) -> bool {
        !matches!(self, Change::Opened)
    }
}

/// Whoever keeps the client-tracking table (the node): told of every key
/// whose cached copies are now stale.
pub trait InvalidationSink: Send + Sync {
    /// `key` changed (in any database: Redis' tracking table ignores them).
    fn invalidate(&self, key: &[u8], change: Change);
}

/// The store's link to the tracking table: off (one atomic load per change)
/// until a client turns tracking on.
#[derive(Default)]
pub struct TrackingHook {
    on: AtomicBool,
    sink: OnceLock<Weak<dyn InvalidationSink>>,
}

impl std::fmt::Debug for TrackingHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrackingHook(on: {})", self.is_on())
    }
}

impl TrackingHook {
    /// Installs the tracking table (once).
    pub fn set_sink(&self, sink: Weak<dyn InvalidationSink>) {
        let _ = self.sink.set(sink);
    }

    /// Turns the hook on while some client tracks keys.
    pub fn set_on(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }

    /// True while some client tracks keys.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Hands a change of `key` to the tracking table when it is on.
    #[inline]
    pub fn observe(&self, key: &[u8], change: Change) {
        if self.is_on() && change.invalidates_caches() {
            self.invalidate(key, change);
        }
    }

    /// Tells the tracking table that `key` changed.
    #[cold]
    pub fn invalidate(&self, key: &[u8], change: Change) {
        if let Some(sink) = self.sink.get().and_then(Weak::upgrade) {
            sink.invalidate(key, change);
        }
    }
}

/// One change of one key.
#[derive(Clone, Copy, Debug)]
pub struct Mutation<'k> {
    /// Database index.
    pub db: usize,
    /// Cluster slot of the key.
    pub slot: u16,
    /// The key.
    pub key: &'k [u8],
    /// What happened.
    pub change: Change,
}

/// Observers of one slot table, allocated only while one is on.
#[derive(Debug, Default)]
pub struct SlotObserver {
    /// Keys changed since live migration started copying this slot (see
    /// `cluster::migrate`); `None` when the slot is not moving.
    dirty: Option<hashbrown::HashSet<Box<[u8]>>>,
}

impl SlotObserver {
    /// True when no observer is on (the table then drops this box).
    pub fn is_idle(&self) -> bool {
        self.dirty.is_none()
    }

    /// Starts (with an empty set) or stops exact dirty-key tracking.
    pub fn track_dirty(&mut self, on: bool) {
        self.dirty = on.then(hashbrown::HashSet::new);
    }

    /// The keys changed since tracking started or since the last call.
    pub fn take_dirty(&mut self) -> Vec<Box<[u8]>> {
        match &mut self.dirty {
            Some(d) => d.drain().collect(),
            None => Vec::new(),
        }
    }

    #[cold]
    fn record(&mut self, m: &Mutation<'_>) {
        if let Some(d) = &mut self.dirty {
            if !d.contains(m.key) {
                d.insert(m.key.into());
            }
        }
    }
}

/// The hook: hands `m` to every reader that is on. `slot` is the observer of
/// the key's slot table, if any.
#[inline]
pub fn observe(m: Mutation<'_>, slot: Option<&mut SlotObserver>) {
    if m.change.touches_watchers() && RECORDING.with(Cell::get) {
        note_modified(m.db, m.key);
    }
    if let Some(o) = slot {
        o.record(&m);
    }
    if REPLICATING.with(Cell::get) {
        note_replicated(&m);
    }
}

/// Changes logged for replication, in order: (database, key, change).
pub type Logged = Vec<(usize, Box<[u8]>, Change)>;

thread_local! {
    static REPLICATING: Cell<bool> = const { Cell::new(false) };
    static REPL_LOG: RefCell<Logged> = const { RefCell::new(Vec::new()) };
}

#[cold]
fn note_replicated(m: &Mutation<'_>) {
    REPL_LOG.with(|l| l.borrow_mut().push((m.db, m.key.into(), m.change)));
}

/// True while `replicating` runs on this thread (a nested run, such as a
/// command called by a script, adds to the outer log).
pub fn is_replicating() -> bool {
    REPLICATING.with(Cell::get)
}

/// Runs `f` with the replication log on and returns its result with every
/// change it made, in order. Not reentrant: callers check `is_replicating`.
pub fn replicating<R>(f: impl FnOnce() -> R) -> (R, Logged) {
    REPLICATING.with(|o| o.set(true));
    let r = f();
    REPLICATING.with(|o| o.set(false));
    (r, REPL_LOG.with(|l| std::mem::take(&mut *l.borrow_mut())))
}

/// Keys modified by the running command, as (database, key).
pub type Modified = Vec<(usize, Box<[u8]>)>;

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static MODIFIED: RefCell<Modified> = const { RefCell::new(Vec::new()) };
}

#[cold]
fn note_modified(db: usize, key: &[u8]) {
    MODIFIED.with(|k| k.borrow_mut().push((db, key.into())));
}

/// Runs `f` with WATCH recording on and returns its result with the keys it
/// modified. Nests: an inner recording (a command run by a script) returns
/// only its own keys and the outer one resumes afterwards.
pub fn recording<R>(f: impl FnOnce() -> R) -> (R, Modified) {
    let was_on = RECORDING.with(|o| o.replace(true));
    let outer = MODIFIED.with(|k| std::mem::take(&mut *k.borrow_mut()));
    let r = f();
    let mine = MODIFIED.with(|k| std::mem::replace(&mut *k.borrow_mut(), outer));
    RECORDING.with(|o| o.set(was_on));
    (r, mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &[u8], change: Change) {
        observe(
            Mutation {
                db: 0,
                slot: 0,
                key,
                change,
            },
            None,
        );
    }

    /// Only changes made inside a recording are returned, nested ones to the
    /// inner recording only, and nothing is kept once recording ends.
    #[test]
    fn records_only_inside_and_nests() {
        change(b"before", Change::Written);
        let ((), outer) = recording(|| {
            change(b"a", Change::Written);
            let ((), inner) = recording(|| {
                observe(
                    Mutation {
                        db: 1,
                        slot: 0,
                        key: b"b",
                        change: Change::Deleted,
                    },
                    None,
                )
            });
            assert_eq!(inner, vec![(1, b"b"[..].into())]);
            change(b"c", Change::Evicted);
        });
        assert_eq!(outer, vec![(0, b"a"[..].into()), (0, b"c"[..].into())]);
        change(b"after", Change::Written);
        let ((), none) = recording(|| ());
        assert!(none.is_empty());
    }

    /// The replication log holds every change made inside, in order, and
    /// nothing made outside.
    #[test]
    fn replication_log_keeps_order_and_kinds() {
        change(b"outside", Change::Written);
        assert!(!is_replicating());
        let (inside, log) = replicating(|| {
            change(b"a", Change::Expired);
            change(b"a", Change::Written);
            change(b"b", Change::Deleted);
            is_replicating()
        });
        assert!(inside);
        let kinds: Vec<(&[u8], Change)> = log.iter().map(|(_, k, c)| (&k[..], *c)).collect();
        assert_eq!(
            kinds,
            vec![
                (&b"a"[..], Change::Expired),
                (b"a", Change::Written),
                (b"b", Change::Deleted)
            ]
        );
        change(b"after", Change::Written);
        assert!(replicating(|| ()).1.is_empty());
    }

    /// WATCH ignores expiry, whole-table drops and keys only opened for a
    /// write (and hands back each write); the dirty set sees every change,
    /// once per key.
    #[test]
    fn readers_see_their_kinds() {
        let mut obs = SlotObserver::default();
        let ((), seen) = recording(|| {
            obs.track_dirty(true);
            for (key, c) in [
                (&b"opened"[..], Change::Opened),
                (b"expired", Change::Expired),
                (b"dropped", Change::Dropped),
                (b"written", Change::Written),
                (b"written", Change::Written),
            ] {
                let m = Mutation {
                    db: 0,
                    slot: 7,
                    key,
                    change: c,
                };
                observe(m, Some(&mut obs));
            }
        });
        let written: (usize, Box<[u8]>) = (0, b"written"[..].into());
        assert_eq!(seen, vec![written.clone(), written]);
        let mut dirty = obs.take_dirty();
        dirty.sort();
        let want: Vec<Box<[u8]>> = ["dropped", "expired", "opened", "written"]
            .iter()
            .map(|k| k.as_bytes().into())
            .collect();
        assert_eq!(dirty, want);
        obs.track_dirty(false);
        assert!(obs.is_idle());
    }
}
