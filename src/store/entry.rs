//! One key and its value, with expiry and LRU/LFU bits inline.
//!
//! An entry is 24 bytes: a `KeyBlob` (one allocation holding the key, its
//! access bits and optional expiry) and the `Value` (16 bytes; small strings
//! are one more allocation, integers none).

use super::thin::KeyBlob;
use super::value::Value;

/// A stored key with its value and metadata.
#[derive(Debug)]
pub struct Entry {
    kb: KeyBlob,
    /// The value.
    pub value: Value,
}

impl Entry {
    /// A new entry without expiry.
    pub fn new(key: &[u8], value: Value, lru: u32) -> Self {
        Entry {
            kb: KeyBlob::new(key, lru, None),
            value,
        }
    }

    /// This (not yet stored) entry with an expiry, for callers that build a
    /// complete entry and store it with `Locked::insert_entry`.
    pub fn with_expire(mut self, at: Option<u64>) -> Self {
        self.set_expire_raw(at);
        self
    }

    /// The key bytes.
    pub fn key(&self) -> &[u8] {
        self.kb.key()
    }

    /// Expiry as absolute unix ms, if any.
    pub fn expire_at(&self) -> Option<u64> {
        self.kb.expire()
    }

    /// True when the key has an expiry at or before `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.kb.expire().is_some_and(|t| t <= now_ms)
    }

    pub(super) fn set_expire_raw(&mut self, at: Option<u64>) {
        self.kb.set_expire(at);
    }

    /// 24-bit LRU clock (seconds) or LFU data (16-bit minutes << 8 | 8-bit counter).
    pub fn lru(&self) -> u32 {
        self.kb.lru()
    }

    /// Records an access (see `evict::touch_stamp`).
    pub fn set_lru(&mut self, lru: u32) {
        self.kb.set_lru(lru);
    }

    /// memcached client flags (0 for values written by Redis commands).
    pub fn mc_flags(&self) -> u32 {
        self.kb.mc().map_or(0, |(_, f)| f)
    }

    /// Sets the memcached client flags.
    pub fn set_mc_flags(&mut self, flags: u32) {
        self.kb.set_mc(self.mc_cas(), flags);
    }

    /// memcached CAS unique plus meta-protocol state bits (see
    /// `crate::memcache::cas`); 0 means "modified since the last CAS was
    /// handed out": a fresh one is drawn lazily when a memcached client asks.
    pub fn mc_cas(&self) -> u64 {
        self.kb.mc().map_or(0, |(c, _)| c)
    }

    /// Sets the memcached CAS word.
    pub fn set_mc_cas(&mut self, cas: u64) {
        self.kb.set_mc(cas, self.mc_flags());
    }

    /// Approximate heap bytes this entry owns (for MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Entry>() + self.kb.heap_size() + self.value.mem_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries are most of the memory per key: keep them at 24 bytes.
    #[test]
    fn entry_and_value_stay_small() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
