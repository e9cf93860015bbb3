//! The keyspace: databases split into 16384 slot tables, each behind its own
//! short lock, so commands on different slots never contend and a slot can be
//! counted, listed, migrated or dropped on its own.
//!
//! Locking rules: a slot lock is held for O(1) work (or O(n) of that one key's
//! value) and never across an `.await`. Multi-slot commands lock their slots in
//! ascending slot order (`Store::lock_many`). Work that must be atomic against
//! everything (MULTI/EXEC, scripts, SWAPDB) takes the server's exclusive gate
//! (see `node::gate`) on top. Every change of a key passes one observer,
//! `mutation::observe`, from the methods of `Locked`.

pub mod dense;
pub mod entry;
pub mod evict;
pub mod expire;
pub mod hash;
pub mod hll;
pub mod list;
pub mod mutation;
pub mod notify;
pub mod rdb;
pub mod set;
pub mod slot;
pub mod stream;
pub mod table;
pub mod thin;
pub mod value;
pub mod zset;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::{Mutex, MutexGuard};

use mutation::{Change, Mutation};

pub use entry::Entry;
pub use list::{End, List};
pub use slot::{key_slot, SLOTS};
pub use table::SlotTable;
pub use value::{StrValue, Value};

/// A key with its slot and table hash computed once per command.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// The key bytes.
    pub bytes: &'a [u8],
    /// Cluster slot.
    pub slot: u16,
    /// Hash for the slot table.
    pub hash: u64,
}

/// Keyspace counters reported by INFO stats.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Keys removed because their TTL passed.
    pub expired_keys: AtomicU64,
    /// Keys removed by maxmemory eviction.
    pub evicted_keys: AtomicU64,
    /// Successful key lookups by read commands.
    pub keyspace_hits: AtomicU64,
    /// Failed key lookups by read commands.
    pub keyspace_misses: AtomicU64,
}

/// One logical database: 16384 slot tables.
#[derive(Debug)]
pub struct Db {
    slots: Box<[Mutex<SlotTable>]>,
    /// One bit per slot that may hold keys with a TTL (a superset: set when a
    /// lock is released over a table with volatile keys, cleared by active
    /// expiry when it finds none), so active expiry visits only those slots.
    volatile_slots: Box<[AtomicU64]>,
}

impl Db {
    fn new() -> Self {
        Db {
            slots: (0..SLOTS)
                .map(|_| Mutex::new(SlotTable::default()))
                .collect(),
            volatile_slots: (0..SLOTS / 64).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Locks one slot table.
    pub fn lock_slot(&self, slot: u16) -> MutexGuard<'_, SlotTable> {
        self.slots[slot as usize].lock()
    }

    /// Records that `slot` holds keys with a TTL.
    fn mark_volatile(&self, slot: u16) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        let w = &self.volatile_slots[word];
        if w.load(Ordering::Relaxed) & bit == 0 {
            w.fetch_or(bit, Ordering::Relaxed);
        }
    }

    /// Records that `slot` holds no key with a TTL (call with its lock held).
    fn clear_volatile(&self, slot: u16) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        self.volatile_slots[word].fetch_and(!bit, Ordering::Relaxed);
    }

    /// The first slot at or after `from` that may hold keys with a TTL.
    pub fn next_volatile_slot(&self, from: usize) -> Option<u16> {
        let mut word = from / 64;
        let mut bits =
            self.volatile_slots.get(word)?.load(Ordering::Relaxed) & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some((word * 64 + bits.trailing_zeros() as usize) as u16);
            }
            word += 1;
            bits = self.volatile_slots.get(word)?.load(Ordering::Relaxed);
        }
    }

    /// Number of keys in the database (sum of per-slot counts).
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.lock().len()).sum()
    }

    /// True when the database holds no keys.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.lock().is_empty())
    }
}

/// The whole keyspace.
#[derive(Debug)]
pub struct Store {
    dbs: Box<[OnceLock<Db>]>,
    hasher: ahash::RandomState,
    /// Keyspace counters.
    pub stats: StoreStats,
    /// The publisher of keyspace events (see `notify`).
    events: notify::SinkSlot,
    /// The client-tracking table's hook (see `mutation::TrackingHook`).
    pub tracking: mutation::TrackingHook,
    /// Set while this node is a replica: keys expire only when the primary
    /// says so (its DEL in the stream); until then reads hide a key whose
    /// TTL passed and the stream's own commands still see it (see
    /// `expire::applying_stream`).
    pub replica: AtomicBool,
}

impl Store {
    /// A store with `databases` logical databases (allocated on first use).
    pub fn new(databases: usize) -> Self {
        let dbs: Box<[OnceLock<Db>]> = (0..databases.max(1)).map(|_| OnceLock::new()).collect();
        let store = Store {
            dbs,
            hasher: ahash::RandomState::new(),
            stats: StoreStats::default(),
            events: notify::SinkSlot::default(),
            tracking: mutation::TrackingHook::default(),
            replica: AtomicBool::new(false),
        };
        store.db(0);
        store
    }

    /// Number of logical databases.
    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `i` (callers validate `i`).
    pub fn db(&self, i: usize) -> &Db {
        self.dbs[i].get_or_init(Db::new)
    }

    /// Database `i` if it was ever used.
    pub fn db_if_used(&self, i: usize) -> Option<&Db> {
        self.dbs.get(i).and_then(|d| d.get())
    }

    /// Hash of a key for slot tables.
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Computes slot and hash of a key.
    pub fn key<'a>(&self, bytes: &'a [u8]) -> Key<'a> {
        Key {
            bytes,
            slot: key_slot(bytes),
            hash: self.hash(bytes),
        }
    }

    /// Locks the slot of `key` in database `db` for work at time `now_ms`.
    pub fn lock<'s>(&'s self, db: usize, key: &Key<'_>, now_ms: u64) -> Locked<'s> {
        self.lock_slot(db, key.slot, now_ms)
    }

    /// Locks one slot by number.
    pub fn lock_slot(&self, db: usize, slot: u16, now_ms: u64) -> Locked<'_> {
        let home = self.db(db);
        Locked {
            table: home.lock_slot(slot),
            home,
            slot,
            store: self,
            db,
            now_ms,
        }
    }

    /// Locks the distinct slots of `keys` in ascending order (deadlock-free) and
    /// returns them keyed by slot.
    pub fn lock_many<'s>(&'s self, db: usize, keys: &[Key<'_>], now_ms: u64) -> LockedMany<'s> {
        let mut slots: Vec<u16> = keys.iter().map(|k| k.slot).collect();
        slots.sort_unstable();
        slots.dedup();
        let d = self.db(db);
        let guards = slots
            .iter()
            .map(|&s| Locked {
                table: d.lock_slot(s),
                home: d,
                slot: s,
                store: self,
                db,
                now_ms,
            })
            .collect();
        LockedMany { slots, guards }
    }

    /// Number of keys in database `db`.
    pub fn dbsize(&self, db: usize) -> usize {
        self.db_if_used(db).map(|d| d.len()).unwrap_or(0)
    }

    /// Removes every key of database `db`; returns how many were removed.
    pub fn flush_db(&self, db: usize) -> usize {
        if self.db_if_used(db).is_none() {
            return 0;
        }
        let mut n = 0;
        for slot in 0..SLOTS as u16 {
            // FLUSH tells tracking clients with one null invalidation instead.
            let dropped = self.lock_slot(db, slot, 0).drop_entries(false);
            n += dropped.len();
            drop(dropped);
        }
        n
    }

    /// Swaps the contents of two databases slot by slot (callers hold the exclusive gate).
    pub fn swap_dbs(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (da, db) = (self.db(a), self.db(b));
        for (sa, sb) in da.slots.iter().zip(db.slots.iter()) {
            let (mut ga, mut gb) = if a < b {
                let x = sa.lock();
                (x, sb.lock())
            } else {
                let y = sb.lock();
                (sa.lock(), y)
            };
            std::mem::swap(&mut *ga, &mut *gb);
        }
    }

    /// Heap bytes of database `db`'s slot tables themselves (see
    /// `SlotTable::overhead`); 0 for a database never used.
    pub fn db_overhead(&self, db: usize) -> usize {
        self.db_if_used(db)
            .map_or(0, |d| d.slots.iter().map(|s| s.lock().overhead()).sum())
    }

    /// Keys per database with their volatile count: `(db, keys, expires)` for INFO keyspace.
    pub fn keyspace(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for i in 0..self.dbs.len() {
            if let Some(d) = self.db_if_used(i) {
                let (mut keys, mut vol) = (0, 0);
                for s in d.slots.iter() {
                    let t = s.lock();
                    keys += t.len();
                    vol += t.volatile();
                }
                if keys > 0 {
                    out.push((i, keys, vol));
                }
            }
        }
        out
    }
}

/// A locked slot table with the lazy-expiry and bookkeeping rules applied.
pub struct Locked<'s> {
    table: MutexGuard<'s, SlotTable>,
    /// The database the table belongs to, and the table's slot, for the
    /// volatile-slot bitmap kept up to date on release.
    home: &'s Db,
    slot: u16,
    store: &'s Store,
    /// The database, for the mutation observer.
    db: usize,
    now_ms: u64,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if self.table.volatile() > 0 {
            self.home.mark_volatile(self.slot);
        }
    }
}

impl<'s> Locked<'s> {
    /// Clears this slot's bit in the volatile-slot bitmap when the table
    /// holds no key with a TTL (for active expiry, under the lock).
    pub fn forget_volatile_if_none(&self) {
        if self.table.volatile() == 0 {
            self.home.clear_volatile(self.slot);
        }
    }

    /// Hands one change of `key` to the mutation observer: every change of
    /// the keyspace passes here.
    #[inline]
    fn observe(&mut self, key: &[u8], change: Change) {
        let m = Mutation {
            db: self.db,
            slot: self.slot,
            key,
            change,
        };
        mutation::observe(m, self.table.observer());
        self.store.tracking.observe(key, change);
    }

    fn hasher(&self) -> impl Fn(&[u8]) -> u64 + 's {
        let st = self.store;
        move |k| st.hash(k)
    }

    /// Position of the live entry of `key`, removing it first if its TTL has
    /// passed (one index lookup either way).
    fn live(&mut self, key: &Key<'_>) -> Option<usize> {
        let pos = self.table.position(key.hash, key.bytes)?;
        if !self.table.at(pos)?.is_expired(self.now_ms) {
            return Some(pos);
        }
        if self.store.replica.load(Ordering::Relaxed) {
            return self.stream_sees_expired().then_some(pos);
        }
        let h = self.hasher();
        self.table.remove_at(pos, key.hash, h);
        self.expired(key.bytes);
        None
    }

    /// Observes and counts the removal of an expired key, and raises its
    /// `expired` event.
    fn expired(&mut self, key: &[u8]) {
        self.observe(key, Change::Expired);
        self.store
            .stats
            .expired_keys
            .fetch_add(1, Ordering::Relaxed);
        self.store.notify(self.db, notify::EXPIRED, "expired", key);
    }

    /// True when a key whose TTL passed still counts as live here: on a
    /// replica, for the replication stream's applier.
    fn stream_sees_expired(&self) -> bool {
        self.store.replica.load(Ordering::Relaxed) && expire::applying_stream_now()
    }

    /// Removes the key if its TTL has passed.
    fn expire_if_needed(&mut self, key: &Key<'_>) {
        self.live(key);
    }

    /// The live (not expired) entry of `key`.
    pub fn get(&mut self, key: &Key<'_>) -> Option<&Entry> {
        let pos = self.live(key)?;
        self.table.at(pos)
    }

    /// The live entry of `key`, mutably, for a modification: the entry's
    /// memcached CAS unique is invalidated (one store), so a memcached `cas`
    /// against a value changed by any command fails as it must.
    pub fn get_mut(&mut self, key: &Key<'_>) -> Option<&mut Entry> {
        let pos = self.live(key)?;
        self.observe(key.bytes, Change::Written);
        self.opened_at(pos)
    }

    /// `get_mut` for an in-place change that may turn out a no-op (SADD of a
    /// present member): the key is not noted as modified; the caller calls
    /// `signal_modified` when it did change something.
    pub fn get_mut_quiet(&mut self, key: &Key<'_>) -> Option<&mut Entry> {
        let pos = self.live(key)?;
        self.observe(key.bytes, Change::Opened);
        self.opened_at(pos)
    }

    /// The entry at `pos` opened for a write: its memcached CAS unique is
    /// invalidated.
    fn opened_at(&mut self, pos: usize) -> Option<&mut Entry> {
        let e = self.table.at_mut(pos)?;
        e.set_mc_cas(0);
        Some(e)
    }

    /// Notes `key` as written (WATCH invalidation, every other observer)
    /// after a `get_mut_quiet` that did change it, or an in-place change of
    /// an entry reached by position.
    pub fn signal_modified(&mut self, key: &Key<'_>) {
        self.observe(key.bytes, Change::Written);
    }

    /// The live entry of `key`, mutably, for a read that only updates access
    /// metadata (LRU/LFU bits, memcached fetched bit): keeps the CAS unique.
    pub fn get_access(&mut self, key: &Key<'_>) -> Option<&mut Entry> {
        let pos = self.live(key)?;
        self.table.at_mut(pos)
    }

    /// The entry at dense position `pos` (from `table().position`), mutably,
    /// for access metadata like `get_access`; a caller that changes the
    /// value calls `signal_modified` afterwards.
    pub fn access_at(&mut self, pos: usize) -> Option<&mut Entry> {
        self.table.at_mut(pos)
    }

    /// True when `key` exists and is live.
    pub fn exists(&mut self, key: &Key<'_>) -> bool {
        self.live(key).is_some()
    }

    /// Stores `value` under `key`, replacing any old value. With `keep_ttl` an
    /// existing expiry is kept, otherwise it is cleared. Returns the old entry.
    pub fn set(&mut self, key: &Key<'_>, value: Value, keep_ttl: bool, lru: u32) -> Option<Entry> {
        self.put(key, Entry::new(key.bytes, value, lru), keep_ttl)
    }

    /// `set` of a string given as a command argument, encoded like
    /// `StrValue::from_bytes` (short strings stored inline with the key, no
    /// intermediate copy; a big argument received in its own buffer is kept
    /// as it is, see `StrValue::adopt`).
    pub fn set_str(
        &mut self,
        key: &Key<'_>,
        bytes: &bytes::Bytes,
        keep_ttl: bool,
        lru: u32,
    ) -> Option<Entry> {
        let entry = match StrValue::adopt(bytes) {
            Some(big) => Entry::new(key.bytes, Value::Str(big), lru),
            None => Entry::new_str(key.bytes, bytes, lru),
        };
        self.put(key, entry, keep_ttl)
    }

    /// Stores a new entry with one index lookup; an expired old entry counts
    /// as expired and is not returned.
    fn put(&mut self, key: &Key<'_>, entry: Entry, keep_ttl: bool) -> Option<Entry> {
        self.observe(key.bytes, Change::Written);
        let h = self.hasher();
        let (pos, old) = self.table.upsert(key.hash, entry, h);
        let Some(old) = old else {
            self.created(key.bytes);
            return None;
        };
        if old.is_expired(self.now_ms) && !self.stream_sees_expired() {
            self.expired(key.bytes);
            self.created(key.bytes);
            return None;
        }
        if keep_ttl && old.expire_at().is_some() {
            self.table.set_expire_at(pos, old.expire_at());
        }
        Some(old)
    }

    /// Inserts a complete entry (with its expiry), replacing any old one.
    pub fn insert_entry(&mut self, key: &Key<'_>, entry: Entry) -> Option<Entry> {
        self.observe(key.bytes, Change::Written);
        let h = self.hasher();
        let old = self.table.insert(key.hash, entry, h);
        if old.is_none() {
            self.created(key.bytes);
        }
        old
    }

    /// Raises the `new` event of a key just created (Redis' `dbAdd`).
    #[inline]
    fn created(&self, key: &[u8]) {
        self.store.notify(self.db, notify::NEW, "new", key);
    }

    /// Deletes `key`; returns its entry if it was live.
    pub fn remove(&mut self, key: &Key<'_>) -> Option<Entry> {
        let pos = self.live(key)?;
        self.observe(key.bytes, Change::Deleted);
        let h = self.hasher();
        Some(self.table.remove_at(pos, key.hash, h))
    }

    /// Sets (or clears with `None`) the expiry of a live key; false if missing.
    pub fn set_expire(&mut self, key: &Key<'_>, at: Option<u64>) -> bool {
        match self.live(key) {
            Some(p) => {
                self.observe(key.bytes, Change::Written);
                self.table.set_expire_at(p, at);
                true
            }
            None => false,
        }
    }

    /// Removes the entry at dense position `pos` if its TTL passed; true when removed.
    pub fn reap_at(&mut self, pos: usize) -> bool {
        let Some(e) = self.table.at(pos) else {
            return false;
        };
        if !e.is_expired(self.now_ms) || self.store.replica.load(Ordering::Relaxed) {
            return false;
        }
        let hash = self.store.hash(e.key());
        let h = self.hasher();
        let gone = self.table.remove_at(pos, hash, h);
        self.expired(gone.key());
        true
    }

    /// Evicts `key` (maxmemory) and counts it; true when it was live.
    pub fn evict(&mut self, key: &Key<'_>) -> bool {
        let Some(pos) = self.live(key) else {
            return false;
        };
        self.observe(key.bytes, Change::Evicted);
        let h = self.hasher();
        drop(self.table.remove_at(pos, key.hash, h));
        self.store
            .stats
            .evicted_keys
            .fetch_add(1, Ordering::Relaxed);
        self.store
            .notify(self.db, notify::EVICTED, "evicted", key.bytes);
        true
    }

    /// Empties the slot table (FLUSH, a slot handed over or discarded) and
    /// returns its entries, for the caller to drop where it costs nobody.
    pub fn drop_all(&mut self) -> Vec<Entry> {
        self.drop_entries(true)
    }

    /// `drop_all`, telling the tracking table of each key when `invalidate`.
    fn drop_entries(&mut self, invalidate: bool) -> Vec<Entry> {
        let dropped = self.table.take_all();
        let track = invalidate && self.store.tracking.is_on();
        if track || self.table.observer().is_some() {
            for e in &dropped {
                let m = Mutation {
                    db: self.db,
                    slot: self.slot,
                    key: e.key(),
                    change: Change::Dropped,
                };
                mutation::observe(m, self.table.observer());
                if track {
                    self.store.tracking.invalidate(e.key(), Change::Dropped);
                }
            }
        }
        self.home.clear_volatile(self.slot);
        dropped
    }

    /// The underlying table (for scans and sampling).
    pub fn table(&mut self) -> &mut SlotTable {
        &mut self.table
    }

    /// Raises keyspace event `event` of `class` for `key` in this lock's
    /// database (see `notify`).
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.store.notify(self.db, class, event, key);
    }

    /// The time this lock works at.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

/// Several slot tables locked in ascending slot order.
pub struct LockedMany<'s> {
    slots: Vec<u16>,
    guards: Vec<Locked<'s>>,
}

impl<'s> LockedMany<'s> {
    /// The locked table holding `key`.
    pub fn of(&mut self, key: &Key<'_>) -> &mut Locked<'s> {
        let i = self.slots.binary_search(&key.slot).unwrap_or(0);
        &mut self.guards[i]
    }

    /// The live entries of `keys` (lazy expiry applied first), borrowed
    /// together, for commands that read several keys at once (SINTER).
    pub fn entries(&mut self, keys: &[Key<'_>]) -> Vec<Option<&Entry>> {
        for k in keys {
            self.of(k).expire_if_needed(k);
        }
        keys.iter()
            .map(|k| {
                let i = self.slots.binary_search(&k.slot).unwrap_or(0);
                self.guards[i].table.get(k.hash, k.bytes)
            })
            .collect()
    }
}

/// Milliseconds since the unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
