//! The `hashtable` encoding shared by hashes and sets: a dense item vector
//! indexed by a hash table of positions (the same layout as `SlotTable`).
//!
//! Dense storage gives O(1) uniform random picks (SPOP, SRANDMEMBER,
//! HRANDFIELD) without walking buckets. SCAN cursors are positions in hash
//! order (not vector positions), so an item present for a whole iteration is
//! returned even when other items are added or removed in between.

use std::sync::OnceLock;

use hashbrown::HashTable;

/// An item stored in a `Dense` table, found by its key bytes.
pub trait DenseItem: Clone {
    /// The bytes the item is looked up by (set member, hash field).
    fn key(&self) -> &[u8];
}

impl DenseItem for Box<[u8]> {
    fn key(&self) -> &[u8] {
        self
    }
}

impl DenseItem for (Box<[u8]>, Box<[u8]>) {
    fn key(&self) -> &[u8] {
        &self.0
    }
}

/// One hasher for every aggregate, so SCAN cursors stay meaningful across calls.
fn hasher() -> &'static ahash::RandomState {
    static H: OnceLock<ahash::RandomState> = OnceLock::new();
    H.get_or_init(ahash::RandomState::new)
}

fn hash(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

/// Cursor position of a key: 1..=2^63 in hash order (0 is reserved for "done").
fn scan_pos(key: &[u8]) -> u64 {
    (hash(key) >> 1) + 1
}

/// Items unique by key, with O(1) lookup, insert, remove and random access.
#[derive(Debug, Clone, Default)]
pub struct Dense<T> {
    items: Vec<T>,
    index: HashTable<u32>,
}

impl<T: DenseItem> Dense<T> {
    /// An empty table with room for `n` items.
    pub fn with_capacity(n: usize) -> Self {
        Dense {
            items: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
        }
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        let items = &self.items;
        self.index
            .find(hash(key), |&i| items[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    /// The item with `key`.
    pub fn get(&self, key: &[u8]) -> Option<&T> {
        self.find(key).map(|i| &self.items[i])
    }

    /// The item with `key`, mutably (its key must not change).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
        self.find(key).map(move |i| &mut self.items[i])
    }

    /// The item at a dense position (`0..len`).
    pub fn at(&self, pos: usize) -> Option<&T> {
        self.items.get(pos)
    }

    /// Adds an item whose key is not present yet (callers check with `get`).
    pub fn push_new(&mut self, item: T) {
        let pos = self.items.len() as u32;
        let h = hash(item.key());
        self.items.push(item);
        let items = &self.items;
        self.index
            .insert_unique(h, pos, |&i| hash(items[i as usize].key()));
    }

    /// Removes the item with `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<T> {
        let pos = self.find(key)?;
        Some(self.remove_at(pos))
    }

    /// Removes the item at a dense position (`pos < len`).
    pub fn remove_at(&mut self, pos: usize) -> T {
        let p = pos as u32;
        if let Ok(slot) = self
            .index
            .find_entry(hash(self.items[pos].key()), |&i| i == p)
        {
            slot.remove();
        }
        let last = self.items.len() - 1;
        if pos != last {
            let l = last as u32;
            if let Some(idx) = self
                .index
                .find_mut(hash(self.items[last].key()), |&i| i == l)
            {
                *idx = p;
            }
        }
        let item = self.items.swap_remove(pos);
        if self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
            let items = &self.items;
            self.index
                .shrink_to(items.len() * 2, |&i| hash(items[i as usize].key()));
        }
        item
    }

    /// All items in storage order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// One SCAN step: items at cursor position `cursor` or later in hash order,
    /// about `count` of them (items sharing a position are never split).
    /// Returns the items and the next cursor (0 when the iteration is over).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<&T>, u64) {
        let mut due: Vec<(u64, &T)> = self
            .items
            .iter()
            .map(|t| (scan_pos(t.key()), t))
            .filter(|(p, _)| *p >= cursor)
            .collect();
        let count = count.max(1);
        if due.len() <= count {
            return (due.into_iter().map(|(_, t)| t).collect(), 0);
        }
        due.select_nth_unstable_by_key(count - 1, |(p, _)| *p);
        let bound = due[count - 1].0;
        let out = due
            .into_iter()
            .filter(|(p, _)| *p <= bound)
            .map(|(_, t)| t)
            .collect();
        (out, bound + 1)
    }

    /// Approximate heap bytes of the table itself (not of the items' own buffers).
    pub fn overhead(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>() + self.index.capacity() * 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn insert_remove_lookup() {
        let mut d = Dense::with_capacity(0);
        for i in 0..100 {
            d.push_new(item(&i.to_string()));
        }
        assert_eq!(d.len(), 100);
        for i in (0..100).step_by(3) {
            assert!(d.remove(i.to_string().as_bytes()).is_some());
        }
        for i in 0..100 {
            assert_eq!(d.get(i.to_string().as_bytes()).is_some(), i % 3 != 0);
        }
        assert!(d.remove(b"0").is_none());
    }

    #[test]
    fn scan_survives_changes() {
        let mut d = Dense::with_capacity(0);
        for i in 0..200 {
            d.push_new(item(&format!("k{i}")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (items, next) = d.scan(cursor, 7);
            seen.extend(items.iter().map(|t| t.to_vec()));
            // Churn other items between calls.
            d.push_new(item(&format!("new{round}")));
            d.remove(format!("new{round}").as_bytes());
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..200 {
            assert!(seen.contains(format!("k{i}").as_bytes()));
        }
    }
}
