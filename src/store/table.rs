//! The hash table of one slot: a dense entry vector indexed by a hash table of
//! positions. Dense storage gives O(1) uniform random sampling (RANDOMKEY,
//! eviction and active-expiry sampling) and compact memory (4-byte index
//! buckets instead of whole entries in sparse buckets).

use hashbrown::HashTable;

use super::entry::Entry;

/// Keys of one slot of one database.
#[derive(Debug, Default)]
pub struct SlotTable {
    index: HashTable<u32>,
    entries: Vec<Entry>,
    /// Number of entries with an expiry set.
    volatile: usize,
    /// Keys changed since live migration started copying this slot (see
    /// `cluster::migrate`); `None`, one pointer, when the slot is not moving.
    dirty: Option<Box<hashbrown::HashSet<Box<[u8]>>>>,
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

    /// Records `key` as changed when the slot is being migrated (every
    /// mutation path of the table calls this; a no-op otherwise).
    #[inline]
    pub fn note_write(&mut self, key: &[u8]) {
        if let Some(d) = &mut self.dirty {
            note_cold(d, key);
        }
    }

    /// Starts (with an empty set) or stops exact dirty-key tracking.
    pub fn track_dirty(&mut self, on: bool) {
        self.dirty = on.then(Box::default);
    }

    /// The keys changed since tracking started or since the last call.
    pub fn take_dirty(&mut self) -> Vec<Box<[u8]>> {
        match &mut self.dirty {
            Some(d) => d.drain().collect(),
            None => Vec::new(),
        }
    }

    fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    /// The entry for `key`, expired or not.
    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        self.find(hash, key).map(|i| &self.entries[i])
    }

    /// The entry for `key`, mutably, expired or not.
    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut Entry> {
        self.find(hash, key).map(move |i| &mut self.entries[i])
    }

    /// Position of `key` in the dense vector.
    pub fn position(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.find(hash, key)
    }

    /// The entry at a dense position.
    pub fn at(&self, pos: usize) -> Option<&Entry> {
        self.entries.get(pos)
    }

    /// The entry at a dense position, mutably.
    pub fn at_mut(&mut self, pos: usize) -> Option<&mut Entry> {
        let e = self.entries.get_mut(pos)?;
        if let Some(d) = &mut self.dirty {
            note_cold(d, e.key());
        }
        Some(e)
    }

    /// Inserts or replaces; returns the replaced entry.
    pub fn insert(
        &mut self,
        hash: u64,
        entry: Entry,
        hasher: impl Fn(&[u8]) -> u64,
    ) -> Option<Entry> {
        self.note_write(entry.key());
        if let Some(i) = self.find(hash, entry.key()) {
            let old = std::mem::replace(&mut self.entries[i], entry);
            self.volatile = self.volatile + self.entries[i].expire_at().is_some() as usize
                - old.expire_at().is_some() as usize;
            return Some(old);
        }
        let pos = self.entries.len() as u32;
        self.volatile += entry.expire_at().is_some() as usize;
        if self.entries.len() == self.entries.capacity() {
            // Grow by 25% instead of doubling: entries are most of the memory.
            let extra = (self.entries.capacity() / 4).max(4);
            self.entries.reserve_exact(extra);
        }
        self.entries.push(entry);
        let entries = &self.entries;
        self.index
            .insert_unique(hash, pos, |&i| hasher(entries[i as usize].key()));
        None
    }

    /// Removes `key`; returns its entry.
    pub fn remove(
        &mut self,
        hash: u64,
        key: &[u8],
        hasher: impl Fn(&[u8]) -> u64,
    ) -> Option<Entry> {
        let pos = self.find(hash, key)?;
        Some(self.remove_at(pos, hash, hasher))
    }

    /// Removes the entry at a dense position whose key hashes to `hash`.
    pub fn remove_at(&mut self, pos: usize, hash: u64, hasher: impl Fn(&[u8]) -> u64) -> Entry {
        let p = pos as u32;
        if let Ok(slot) = self.index.find_entry(hash, |&i| i == p) {
            slot.remove();
        }
        let last = self.entries.len() - 1;
        if pos != last {
            let last_hash = hasher(self.entries[last].key());
            let l = last as u32;
            if let Some(idx) = self.index.find_mut(last_hash, |&i| i == l) {
                *idx = p;
            }
        }
        let e = self.entries.swap_remove(pos);
        self.note_write(e.key());
        self.volatile -= e.expire_at().is_some() as usize;
        if self.entries.is_empty() {
            // An emptied slot gives all its memory back (eviction relies on it).
            self.entries = Vec::new();
            self.index = HashTable::new();
        } else if self.entries.capacity() > 8 && self.entries.len() < self.entries.capacity() / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
            let entries = &self.entries;
            self.index
                .shrink_to(entries.len() * 2, |&i| hasher(entries[i as usize].key()));
        }
        e
    }

    /// Sets or clears the expiry of the entry at `pos`, keeping the volatile count.
    pub fn set_expire_at(&mut self, pos: usize, at: Option<u64>) {
        let e = &mut self.entries[pos];
        if let Some(d) = &mut self.dirty {
            note_cold(d, e.key());
        }
        let before = e.expire_at().is_some();
        e.set_expire_raw(at);
        self.volatile = self.volatile + e.expire_at().is_some() as usize - before as usize;
    }

    /// Iterates over all entries.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Drops everything, returning the entries.
    pub fn take_all(&mut self) -> Vec<Entry> {
        if let Some(d) = &mut self.dirty {
            for e in &self.entries {
                note_cold(d, e.key());
            }
        }
        self.index = HashTable::new();
        self.volatile = 0;
        std::mem::take(&mut self.entries)
    }
}

#[cold]
fn note_cold(d: &mut hashbrown::HashSet<Box<[u8]>>, key: &[u8]) {
    if !d.contains(key) {
        d.insert(key.into());
    }
}
