//! One key and its value, with expiry and LRU/LFU bits inline.
//!
//! An entry is 24 bytes: a `KeyBlob` (one allocation holding the key, its
//! access bits, optional expiry and, for strings of up to `EMBSTR_MAX` bytes,
//! the value itself, like Redis' `embstr`) and the `Value` (16 bytes; integers
//! and inline strings need no further allocation).
//!
//! The value is private so the inline form stays sound: `value()` may show a
//! `StrValue::Inline` view into the blob, `value_mut()` first moves such a
//! string to its own allocation, and `into_value()` copies it out.

use super::thin::{Extras, KeyBlob, ThinBytes};
use super::value::{StrValue, Value, EMBSTR_MAX};

/// A stored key with its value and metadata.
#[derive(Debug)]
pub struct Entry {
    kb: KeyBlob,
    value: Value,
}

impl Entry {
    /// A new entry without expiry (short strings are stored inline).
    pub fn new(key: &[u8], value: Value, lru: u32) -> Self {
        match &value {
            Value::Str(StrValue::Emb(b)) if b.len() <= EMBSTR_MAX => {
                Self::inline(key, b.as_slice(), lru, Extras::default())
            }
            _ => Entry {
                kb: KeyBlob::new(key, lru, None),
                value,
            },
        }
    }

    /// A new string entry without expiry, encoded like `StrValue::from_bytes`
    /// (integers as `int`, short strings inline) without an intermediate copy.
    pub fn new_str(key: &[u8], bytes: &[u8], lru: u32) -> Self {
        Self::new_str_with(key, bytes, lru, Extras::default())
    }

    /// Like `new_str`, with expiry and memcached flags/CAS set in the same
    /// allocation (setting them afterwards would rebuild the key blob).
    pub fn new_str_with(key: &[u8], bytes: &[u8], lru: u32, extras: Extras) -> Self {
        if bytes.len() <= EMBSTR_MAX {
            match StrValue::int_form(bytes) {
                Some(n) => Entry {
                    kb: KeyBlob::with_extras(key, lru, extras),
                    value: Value::Str(StrValue::Int(n)),
                },
                None => Self::inline(key, bytes, lru, extras),
            }
        } else {
            Entry {
                kb: KeyBlob::with_extras(key, lru, extras),
                value: Value::Str(StrValue::Emb(ThinBytes::new(bytes))),
            }
        }
    }

    fn inline(key: &[u8], bytes: &[u8], lru: u32, extras: Extras) -> Self {
        let kb = KeyBlob::with_inline(key, lru, extras, bytes);
        let value = match kb.inline_str() {
            Some(v) => Value::Str(StrValue::Inline(v)),
            None => Value::Str(StrValue::Emb(ThinBytes::new(bytes))),
        };
        Entry { kb, value }
    }

    /// Points an inline string value at the (possibly rebuilt) blob again.
    fn refresh_inline(&mut self) {
        if let Value::Str(StrValue::Inline(_)) = self.value {
            if let Some(v) = self.kb.inline_str() {
                self.value = Value::Str(StrValue::Inline(v));
            }
        }
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value, mutably (an inline string moves to its own allocation first).
    pub fn value_mut(&mut self) -> &mut Value {
        if let Value::Str(StrValue::Inline(v)) = &self.value {
            let owned = ThinBytes::new(v.as_slice());
            self.value = Value::Str(StrValue::Emb(owned));
            self.kb.drop_inline();
        }
        &mut self.value
    }

    /// Replaces the value, keeping key, expiry and access bits.
    pub fn set_value(&mut self, value: Value) {
        let was_inline = matches!(self.value, Value::Str(StrValue::Inline(_)));
        self.value = value;
        if was_inline {
            self.kb.drop_inline();
        }
    }

    /// The value, owned (an inline string is copied out).
    pub fn into_value(self) -> Value {
        match self.value {
            Value::Str(StrValue::Inline(v)) => {
                Value::Str(StrValue::Emb(ThinBytes::new(v.as_slice())))
            }
            v => v,
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
        self.refresh_inline();
    }

    /// 24-bit LRU clock (seconds) or LFU data (16-bit minutes << 8 | 8-bit counter).
    pub fn lru(&self) -> u32 {
        self.kb.lru()
    }

    /// Sets the LRU/LFU bits (a new entry's stamp, a restored one).
    pub fn set_lru(&mut self, lru: u32) {
        self.kb.set_lru(lru);
    }

    /// Records an access at `now_ms` in the LRU/LFU bits (see
    /// `evict::touch_stamp`): what every read and write of the key does.
    pub fn touch_access(&mut self, now_ms: u64) {
        self.kb
            .set_lru(super::evict::touch_stamp(self.kb.lru(), now_ms));
    }

    /// memcached client flags (0 for values written by Redis commands).
    pub fn mc_flags(&self) -> u32 {
        self.kb.mc().map_or(0, |(_, f)| f)
    }

    /// Sets the memcached client flags.
    pub fn set_mc_flags(&mut self, flags: u32) {
        self.kb.set_mc(self.mc_cas(), flags);
        self.refresh_inline();
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
        self.refresh_inline();
    }

    /// Approximate heap bytes this entry owns (for MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<Entry>() + self.kb.heap_size() + self.value.mem_usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(e: &Entry) -> Vec<u8> {
        match e.value() {
            Value::Str(s) => s.to_vec(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn short_strings_live_in_the_key_allocation() {
        let mut e = Entry::new_str(b"k1", b"hello", 1);
        assert!(matches!(e.value(), Value::Str(StrValue::Inline(_))));
        assert_eq!(
            (e.key(), bytes(&e), e.value().encoding()),
            (&b"k1"[..], b"hello".to_vec(), "embstr")
        );
        assert_eq!(e.value().mem_usage(), 0);
        // Metadata changes rebuild the blob; the value follows it.
        e.set_expire_raw(Some(1000));
        e.set_mc_cas(42);
        e.set_mc_flags(7);
        assert_eq!(
            (bytes(&e), e.expire_at(), e.mc_cas(), e.mc_flags()),
            (b"hello".to_vec(), Some(1000), 42, 7)
        );
        // A clone is free-standing.
        let c = e.value().clone();
        assert!(matches!(c, Value::Str(StrValue::Emb(_))));
        // Mutable access moves the bytes out first.
        if let Value::Str(s) = e.value_mut() {
            s.make_raw().extend_from_slice(b"!");
        }
        assert_eq!(
            (bytes(&e), e.key(), e.expire_at()),
            (b"hello!".to_vec(), &b"k1"[..], Some(1000))
        );
        e.set_value(Value::Str(StrValue::from_bytes(b"x")));
        assert_eq!(bytes(&e), b"x".to_vec());
        // Built with its metadata at once: the same entry.
        let extras = Extras {
            expire: Some(1000),
            mc: Some((42, 7)),
        };
        let built = Entry::new_str_with(b"k1", b"hello", 1, extras);
        assert!(matches!(built.value(), Value::Str(StrValue::Inline(_))));
        assert_eq!(
            (bytes(&built), built.key(), built.expire_at()),
            (b"hello".to_vec(), &b"k1"[..], Some(1000))
        );
        assert_eq!((built.mc_cas(), built.mc_flags(), built.lru()), (42, 7, 1));
        let long = Entry::new_str_with(b"k1", &[b'v'; 400], 1, extras);
        assert_eq!(
            (
                bytes(&long).len(),
                long.expire_at(),
                long.mc_cas(),
                long.mc_flags()
            ),
            (400, Some(1000), 42, 7)
        );
        let owned = Entry::new_str(b"k2", b"world", 0).into_value();
        assert!(matches!(&owned, Value::Str(StrValue::Emb(b)) if b.as_slice() == b"world"));
        // Integers and long strings keep their own encodings.
        assert!(matches!(
            Entry::new_str(b"k", b"12", 0).value(),
            Value::Str(StrValue::Int(12))
        ));
        let long = vec![b'a'; EMBSTR_MAX + 1];
        let e = Entry::new_str(b"k", &long, 0);
        assert!(matches!(e.value(), Value::Str(StrValue::Emb(_))));
        assert_eq!(e.value().encoding(), "raw");
        assert!(matches!(
            Entry::new(b"k", Value::Str(StrValue::from_bytes(b"abc")), 0).value(),
            Value::Str(StrValue::Inline(_))
        ));
    }

    /// Entries are most of the memory per key: keep them at 24 bytes.
    #[test]
    fn entry_and_value_stay_small() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
