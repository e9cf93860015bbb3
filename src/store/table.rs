//! The hash table of one slot: a dense entry vector indexed by a hash table of
//! positions. Dense storage gives O(1) uniform random sampling (RANDOMKEY,
//! eviction and active-expiry sampling) and compact memory (2-byte index
//! buckets while a slot holds fewer than 65536 keys, 4-byte ones beyond,
//! instead of whole entries in sparse buckets).

use hashbrown::HashTable;

use super::entry::Entry;
use super::mutation::SlotObserver;

/// Positions of entries in the dense vector, hashed by key.
#[derive(Debug)]
enum Index {
    /// Slots with up to `u16::MAX + 1` keys (all of them in practice).
    Small(HashTable<u16>),
    /// Slots with more keys (hash tags can put any number in one slot).
    Large(HashTable<u32>),
}

impl Default for Index {
    fn default() -> Self {
        Index::Small(HashTable::new())
    }
}

/// Runs the same code on either index width; `$p` converts a position in.
macro_rules! with_index {
    ($idx:expr, $t:ident, $p:ident, $body:expr) => {
        match $idx {
            Index::Small($t) => {
                #[allow(unused_macros)]
                macro_rules! $p {
                    ($e:expr) => {
                        $e as u16
                    };
                }
                $body
            }
            Index::Large($t) => {
                #[allow(unused_macros)]
                macro_rules! $p {
                    ($e:expr) => {
                        $e as u32
                    };
                }
                $body
            }
        }
    };
}

/// Keys of one slot of one database.
#[derive(Debug, Default)]
pub struct SlotTable {
    index: Index,
    entries: Vec<Entry>,
    /// Number of entries with an expiry set.
    volatile: usize,
    /// The slot's mutation observers (see `store::mutation`); `None`, one
    /// pointer, while none is on.
    observer: Option<Box<SlotObserver>>,
}

impl SlotTable {
    /// Number of keys (expired but not yet reclaimed ones included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the slot holds no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of keys with an expiry.
    pub fn volatile(&self) -> usize {
        self.volatile
    }

    /// Heap bytes of the table itself: its entry array and its hash index
    /// (one control byte and one position per bucket), not the keys' and
    /// values' own buffers (MEMORY STATS' `overhead.hashtable.main`).
    pub fn overhead(&self) -> usize {
        let index = match &self.index {
            Index::Small(t) => t.capacity() * (std::mem::size_of::<u16>() + 1),
            Index::Large(t) => t.capacity() * (std::mem::size_of::<u32>() + 1),
        };
        self.entries.capacity() * std::mem::size_of::<Entry>() + index
    }

    /// The slot's mutation observer when one is on (for `store::mutation::observe`).
    #[inline]
    pub(super) fn observer(&mut self) -> Option<&mut SlotObserver> {
        self.observer.as_deref_mut()
    }

    /// Starts (with an empty set) or stops exact dirty-key tracking (live
    /// migration of this slot).
    pub fn track_dirty(&mut self, on: bool) {
        let o = self.observer.get_or_insert_with(Box::default);
        o.track_dirty(on);
        if o.is_idle() {
            self.observer = None;
        }
    }

    /// The keys changed since tracking started or since the last call.
    pub fn take_dirty(&mut self) -> Vec<Box<[u8]>> {
        self.observer
            .as_deref_mut()
            .map(SlotObserver::take_dirty)
            .unwrap_or_default()
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        with_index!(&self.index, t, _pos, {
            t.find(hash, |&i| entries[i as usize].key() == key)
                .map(|&i| i as usize)
        })
    }

    /// The entry for `key`, expired or not.
    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.find(hash, key).map(|i| &self.entries[i])
    }

    /// Position of `key` in the dense vector.
    pub fn position(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.find(hash, key)
    }

    /// The entry at a dense position.
    pub fn at(&self, pos: usize) -> Option<&Entry> {
        self.entries.get(pos)
    }

    /// The entry at a dense position, mutably (the caller observes the change).
    pub(super) fn at_mut(&mut self, pos: usize) -> Option<&mut Entry> {
        self.entries.get_mut(pos)
    }

    /// Inserts or replaces; returns the replaced entry.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        entry: Entry,
        hasher: impl Fn(&[u8]) -> u64,
    ) -> Option<Entry> {
        self.upsert(hash, entry, hasher).1
    }

    /// Inserts or replaces with one lookup; returns the entry's position and
    /// the replaced entry.
    pub(super) fn upsert(
        &mut self,
        hash: u64,
        entry: Entry,
        hasher: impl Fn(&[u8]) -> u64,
    ) -> (usize, Option<Entry>) {
        if let Some(i) = self.find(hash, entry.key()) {
            let old = std::mem::replace(&mut self.entries[i], entry);
            self.volatile = self.volatile + self.entries[i].expire_at().is_some() as usize
                - old.expire_at().is_some() as usize;
            return (i, Some(old));
        }
        let pos = self.entries.len();
        self.volatile += entry.expire_at().is_some() as usize;
        if pos == self.entries.capacity() {
            // Grow by 1/8 instead of doubling: entries are most of the memory.
            let extra = (self.entries.capacity() / 8).max(4);
            self.entries.reserve_exact(extra);
        }
        if pos > u16::MAX as usize {
            if let Index::Small(t) = &self.index {
                let mut large = HashTable::with_capacity(t.len() + 1);
                for (i, e) in self.entries.iter().enumerate() {
                    large.insert_unique(hasher(e.key()), i as u32, |&j| {
                        hasher(self.entries[j as usize].key())
                    });
                }
                self.index = Index::Large(large);
            }
        }
        self.entries.push(entry);
        let entries = &self.entries;
        with_index!(&mut self.index, t, narrow, {
            t.insert_unique(hash, narrow!(pos), |&i| hasher(entries[i as usize].key()));
        });
        (pos, None)
    }

    /// Removes the entry at a dense position whose key hashes to `hash`.
    pub(super) fn remove_at(
        &mut self,
        pos: usize,
        hash: u64,
        hasher: impl Fn(&[u8]) -> u64,
    ) -> Entry {
        let last = self.entries.len() - 1;
        let last_hash = (pos != last).then(|| hasher(self.entries[last].key()));
        with_index!(&mut self.index, t, narrow, {
            if let Ok(slot) = t.find_entry(hash, |&i| i == narrow!(pos)) {
                slot.remove();
            }
            if let Some(h) = last_hash {
                if let Some(idx) = t.find_mut(h, |&i| i == narrow!(last)) {
                    *idx = narrow!(pos);
                }
            }
        });
        let e = self.entries.swap_remove(pos);
        self.volatile -= e.expire_at().is_some() as usize;
        if self.entries.is_empty() {
            // An emptied slot gives all its memory back (eviction relies on it).
            self.entries = Vec::new();
            self.index = Index::default();
        } else if self.entries.capacity() > 8 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            let entries = &self.entries;
            with_index!(&mut self.index, t, _pos, {
                t.shrink_to(entries.len() * 2, |&i| hasher(entries[i as usize].key()))
            });
        }
        e
    }

    /// Sets or clears the expiry of the entry at `pos`, keeping the volatile count.
    pub(super) fn set_expire_at(&mut self, pos: usize, at: Option<u64>) {
        let e = &mut self.entries[pos];
        let before = e.expire_at().is_some();
        e.set_expire_raw(at);
        self.volatile = self.volatile + e.expire_at().is_some() as usize - before as usize;
    }

    /// Iterates over all entries.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Drops everything, returning the entries.
    pub(super) fn take_all(&mut self) -> Vec<Entry> {
        self.index = Index::default();
        self.volatile = 0;
        std::mem::take(&mut self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::value::{StrValue, Value};

    fn h(k: &[u8]) -> u64 {
        // A weak hash is enough here and keeps the test deterministic.
        k.iter().fold(1469598103934665603u64, |a, &b| {
            (a ^ b as u64).wrapping_mul(1099511628211)
        })
    }

    /// A slot outgrowing 16-bit positions switches to the wide index and
    /// keeps every key reachable, through inserts, removals and shrinking.
    #[test]
    fn index_widens_past_65536_keys() {
        let mut t = SlotTable::default();
        let n = 70_000usize;
        for i in 0..n {
            let k = format!("{{t}}{i}");
            let e = Entry::new(k.as_bytes(), Value::Str(StrValue::Int(i as i64)), 0);
            assert!(t.insert(h(k.as_bytes()), e, h).is_none());
        }
        assert!(matches!(t.index, Index::Large(_)));
        for i in (0..n).step_by(3) {
            let k = format!("{{t}}{i}");
            let pos = t.position(h(k.as_bytes()), k.as_bytes()).expect("present");
            t.remove_at(pos, h(k.as_bytes()), h);
        }
        for i in 0..n {
            let k = format!("{{t}}{i}");
            let found = t.get(h(k.as_bytes()), k.as_bytes());
            assert_eq!(found.is_some(), i % 3 != 0, "{k}");
            if let Some(e) = found {
                assert!(matches!(e.value(), Value::Str(StrValue::Int(v)) if *v == i as i64));
            }
        }
        let (pos, old) = t.upsert(
            h(b"{t}1"),
            Entry::new(b"{t}1", Value::Str(StrValue::Int(0)), 0),
            h,
        );
        assert!(old.is_some());
        assert_eq!(t.at(pos).map(|e| e.key()), Some(&b"{t}1"[..]));
        assert_eq!(t.take_all().len(), n - n.div_ceil(3));
        assert!(matches!(t.index, Index::Small(_)));
    }
}
