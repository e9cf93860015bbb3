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

    /// Approximate heap bytes this entry owns (for MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Entry>() + self.kb.heap_size() + self.value.mem_usage()
    }
}
