//! Active expiry: Redis' sampling algorithm, adapted to slot tables.
//!
//! Each cycle walks slot tables that hold keys with a TTL, round robin across
//! cycles. Small tables are checked whole; larger ones are sampled 20 keys at a
//! time, repeating while more than 25% of the sampled keys had expired. A cycle
//! stops when its time budget is spent, so expiry never stalls clients.

use std::time::{Duration, Instant};

use rand::Rng;

use super::{now_ms, Store, SLOTS};

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
        let total = SLOTS * store.db_count();
        for step in 0..total {
            if step % 256 == 0 && start.elapsed() > budget {
                break;
            }
            let (db, slot) = (self.db, self.slot);
            self.slot += 1;
            if self.slot == SLOTS {
                self.slot = 0;
                self.db = (self.db + 1) % store.db_count();
            }
            if store.db_if_used(db).is_none() {
                continue;
            }
            let mut l = store.lock_slot(db, slot as u16, now);
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
}
