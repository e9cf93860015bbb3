//! Active expiry: Redis' sampling algorithm, adapted to slot tables.
//!
//! Each cycle walks the slot tables that hold keys with a TTL (each database
//! keeps a bitmap of them, so tables without TTLs cost nothing), round robin
//! across cycles. Small tables are checked whole; larger ones are sampled 20 keys at a
//! time, repeating while more than 25% of the sampled keys had expired. A cycle
//! stops when its time budget is spent, so expiry never stalls clients.

use std::time::{Duration, Instant};

use rand::Rng;

use super::{now_ms, Store};

thread_local! {
    static APPLYING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` as the replication stream's applier: on a replica, keys whose
/// TTL passed stay visible to it (the primary decides when they go, and its
/// DEL follows in the stream), as Redis' master client sees them.
pub fn applying_stream<R>(f: impl FnOnce() -> R) -> R {
    APPLYING.with(|a| a.set(true));
    let r = f();
    APPLYING.with(|a| a.set(false));
    r
}

/// True inside `applying_stream` on this thread.
pub fn applying_stream_now() -> bool {
    APPLYING.with(std::cell::Cell::get)
}

/// Keys sampled per round in a large slot table.
const SAMPLE: usize = 20;

/// Cursor of the active expiry walk.
#[derive(Debug, Default)]
pub struct ActiveExpiry {
    db: usize,
    slot: usize,
}

impl ActiveExpiry {
    /// Runs one cycle for at most `budget`; returns the number of keys removed.
    pub fn cycle(&mut self, store: &Store, budget: Duration) -> usize {
        let start = Instant::now();
        let now = now_ms();
        let mut removed = 0;
        let mut rng = rand::rng();
        let dbs = store.db_count();
        // Visits each database's slots that may hold keys with a TTL (the
        // volatile-slot bitmap), from the cursor on, once at most per cycle.
        let (first_db, first_slot) = (self.db, self.slot);
        let mut visited = 0;
        let mut dbs_seen = 0;
        while dbs_seen <= dbs {
            if visited % 256 == 255 && start.elapsed() > budget {
                break;
            }
            let next = store
                .db_if_used(self.db)
                .and_then(|d| d.next_volatile_slot(self.slot));
            let Some(slot) = next else {
                self.slot = 0;
                self.db = (self.db + 1) % dbs;
                dbs_seen += 1;
                continue;
            };
            if dbs_seen == dbs && self.db == first_db && slot as usize >= first_slot {
                break; // back where this cycle started
            }
            visited += 1;
            self.slot = slot as usize + 1;
            let mut l = store.lock_slot(self.db, slot, now);
            l.forget_volatile_if_none();
            if l.table().volatile() == 0 {
                continue;
            }
            let len = l.table().len();
            if len <= SAMPLE * 2 {
                let mut pos = 0;
                while pos < l.table().len() {
                    if l.reap_at(pos) {
                        removed += 1;
                    } else {
                        pos += 1;
                    }
                }
                continue;
            }
            for _ in 0..16 {
                let (mut sampled, mut expired) = (0, 0);
                for _ in 0..SAMPLE {
                    let n = l.table().len();
                    if n == 0 {
                        break;
                    }
                    let pos = rng.random_range(0..n);
                    if l.table().at(pos).and_then(|e| e.expire_at()).is_some() {
                        sampled += 1;
                        if l.reap_at(pos) {
                            expired += 1;
                        }
                    }
                }
                removed += expired;
                if sampled == 0 || expired * 4 <= sampled {
                    break;
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StrValue, Value};

    #[test]
    fn expired_keys_are_reaped() {
        let store = Store::new(1);
        let now = now_ms();
        for i in 0..1000 {
            let k = format!("k{i}");
            let key = store.key(k.as_bytes());
            let mut l = store.lock(0, &key, now);
            l.set(&key, Value::Str(StrValue::Int(i)), false, 0);
            if i % 2 == 0 {
                l.set_expire(&key, Some(now.saturating_sub(10).max(1)));
            }
        }
        let mut ae = ActiveExpiry::default();
        let removed = ae.cycle(&store, Duration::from_secs(5));
        assert_eq!(removed, 500);
        assert_eq!(store.dbsize(0), 500);
    }

    #[test]
    fn only_slots_with_ttls_are_visited_and_cleared_once_empty() {
        let store = Store::new(2);
        let now = now_ms();
        let put = |db: usize, name: &str, expire: Option<u64>| {
            let key = store.key(name.as_bytes());
            let mut l = store.lock(db, &key, now);
            l.set(&key, Value::Str(StrValue::Int(1)), false, 0);
            l.set_expire(&key, expire);
            key.slot
        };
        let plain = put(0, "plain", None);
        let soon = put(1, "soon", Some(now + 60_000));
        let gone = put(1, "gone", Some(now.saturating_sub(1).max(1)));
        assert_eq!(store.db(0).next_volatile_slot(0), None, "no TTL in db 0");
        assert_eq!(store.db(0).next_volatile_slot(plain as usize), None);
        let mut marked: Vec<u16> = vec![soon, gone];
        marked.sort_unstable();
        assert_eq!(store.db(1).next_volatile_slot(0), Some(marked[0]));
        assert_eq!(
            store.db(1).next_volatile_slot(marked[0] as usize + 1),
            Some(marked[1])
        );
        let mut ae = ActiveExpiry::default();
        assert_eq!(ae.cycle(&store, Duration::from_secs(5)), 1);
        // The emptied slot's bit goes on the next visit; the live TTL stays.
        ae.cycle(&store, Duration::from_secs(5));
        assert_eq!(store.db(1).next_volatile_slot(0), Some(soon));
        assert_eq!(store.db(1).next_volatile_slot(soon as usize + 1), None);
        assert_eq!(store.dbsize(1), 1);
    }
}
