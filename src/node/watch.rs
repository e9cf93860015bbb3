//! WATCH bookkeeping: which clients watch which keys, so writes can mark their
//! transactions dirty (EXEC then answers a null array).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::clients::ClientHandle;

/// Clients watching one key.
type Watchers = Vec<Arc<ClientHandle>>;

/// Watched keys by (db, key).
#[derive(Debug, Default)]
pub struct Watches {
    map: Mutex<HashMap<(usize, Bytes), Watchers>>,
    count: AtomicUsize,
}

impl Watches {
    /// True when nobody watches anything (the write path's fast exit).
    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Registers `client` as watching `key`.
    pub fn watch(&self, db: usize, key: Bytes, client: &Arc<ClientHandle>) {
        let mut m = self.map.lock();
        let v = m.entry((db, key)).or_default();
        if !v.iter().any(|c| c.id == client.id) {
            v.push(client.clone());
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes all of a client's watches.
    pub fn unwatch_all(&self, client_id: u64, keys: &[(usize, Bytes)]) {
        let mut m = self.map.lock();
        for k in keys {
            if let Some(v) = m.get_mut(k) {
                let before = v.len();
                v.retain(|c| c.id != client_id);
                self.count.fetch_sub(before - v.len(), Ordering::Relaxed);
                if v.is_empty() {
                    m.remove(k);
                }
            }
        }
    }

    /// Runs `f` (a command, a memcached request) and, when `succeeded` says
    /// so of its result, marks the watchers of every key it modified dirty:
    /// Redis' `signalModifiedKey`, fed by the store's mutation observer. The
    /// keys are recorded only while somebody watches.
    #[inline]
    pub fn signal_modified_by<R>(&self, f: impl FnOnce() -> R, succeeded: fn(&R) -> bool) -> R {
        if self.is_empty() {
            return f();
        }
        let (r, modified) = crate::store::mutation::recording(f);
        if succeeded(&r) {
            for (db, key) in modified {
                self.touch(db, &key);
            }
        }
        r
    }

    /// Marks watchers of `key` dirty.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.is_empty() {
            return;
        }
        let m = self.map.lock();
        if let Some(v) = m.get(&(db, Bytes::copy_from_slice(key))) {
            for c in v {
                c.dirty.store(true, Ordering::Release);
            }
        }
    }

    /// Marks every watcher of database `db` (or of all with `None`) dirty.
    pub fn touch_db(&self, db: Option<usize>) {
        if self.is_empty() {
            return;
        }
        for ((d, _), v) in self.map.lock().iter() {
            if db.is_none_or(|x| x == *d) {
                for c in v {
                    c.dirty.store(true, Ordering::Release);
                }
            }
        }
    }
}
