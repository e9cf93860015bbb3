//! One key and its value, with expiry and LRU/LFU bits inline.

use super::value::Value;

/// A stored key with its value and metadata.
#[derive(Debug)]
pub struct Entry {
    key: Box<[u8]>,
    /// The value.
    pub value: Value,
    /// Absolute expiry in unix milliseconds; 0 means no expiry.
    expire_ms: u64,
    /// 24-bit LRU clock (seconds) or LFU data (16-bit minutes << 8 | 8-bit counter).
    pub lru: u32,
    /// memcached client flags (0 for values written by Redis commands). Fits in
    /// the padding after `lru`, so it costs no space.
    pub mc_flags: u32,
    /// memcached CAS unique plus meta-protocol state bits (see
    /// `crate::memcache::cas`); 0 means "modified since the last CAS was
    /// handed out": a fresh one is drawn lazily when a memcached client asks.
    pub mc_cas: u64,
}

impl Entry {
    /// A new entry without expiry.
    pub fn new(key: &[u8], value: Value, lru: u32) -> Self {
        Entry {
            key: key.into(),
            value,
            expire_ms: 0,
            lru,
            mc_flags: 0,
            mc_cas: 0,
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
        &self.key
    }

    /// Expiry as absolute unix ms, if any.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_ms != 0).then_some(self.expire_ms)
    }

    /// True when the key has an expiry at or before `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_ms != 0 && self.expire_ms <= now_ms
    }

    pub(super) fn set_expire_raw(&mut self, at: Option<u64>) {
        self.expire_ms = at.map(|t| t.max(1)).unwrap_or(0);
    }

    /// Approximate heap bytes this entry owns (for eviction estimates and MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Entry>() + self.key.len() + self.value.mem_usage()
    }
}
