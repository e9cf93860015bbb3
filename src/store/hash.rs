//! Hash values with Redis' two encodings: a small insertion-ordered vector of
//! pairs (reported as `listpack`) and a `Dense` hash table (`hashtable`).
//! Conversion is one-way, as in Redis: once a table, always a table.

use super::dense::Dense;

/// One field and its value.
pub type Pair = (Box<[u8]>, Box<[u8]>);

/// A borrowed field and value.
pub type PairRef<'a> = (&'a [u8], &'a [u8]);

/// Size limits of the compact encoding (`hash-max-listpack-*`).
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    /// Most pairs a listpack may hold.
    pub entries: usize,
    /// Longest field or value a listpack may hold.
    pub value: usize,
}

/// A hash value.
#[derive(Debug, Clone)]
pub enum HashValue {
    /// Small hash in insertion order (`listpack`).
    Listpack(Vec<Pair>),
    /// Large hash (`hashtable`).
    Table(Dense<Pair>),
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::Listpack(Vec::new())
    }
}

impl HashValue {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            HashValue::Listpack(v) => v.len(),
            HashValue::Table(t) => t.len(),
        }
    }

    /// True when the hash has no fields (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            HashValue::Listpack(v) => v.iter().find(|p| &*p.0 == field).map(|p| &*p.1),
            HashValue::Table(t) => t.get(field).map(|p| &*p.1),
        }
    }

    /// The pair at position `i` (`0..len`), for iteration and random picks.
    pub fn at(&self, i: usize) -> Option<PairRef<'_>> {
        let p = match self {
            HashValue::Listpack(v) => v.get(i),
            HashValue::Table(t) => t.at(i),
        }?;
        Some((&p.0, &p.1))
    }

    /// All pairs in storage order.
    pub fn iter(&self) -> impl Iterator<Item = PairRef<'_>> {
        (0..self.len()).filter_map(|i| self.at(i))
    }

    /// Converts a listpack to a table (Redis' `hashTypeConvert`).
    pub fn convert(&mut self) {
        if let HashValue::Listpack(v) = self {
            let mut t = Dense::with_capacity(v.len());
            for p in v.drain(..) {
                t.push_new(p);
            }
            *self = HashValue::Table(t);
        }
    }

    /// Converts when any of `args` is too long for a listpack (Redis'
    /// `hashTypeTryConversion`, run before a write touches the hash).
    pub fn convert_for_lengths<'a>(
        &mut self,
        args: impl IntoIterator<Item = &'a [u8]>,
        limits: HashLimits,
    ) {
        if matches!(self, HashValue::Listpack(_))
            && args.into_iter().any(|a| a.len() > limits.value)
        {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a table
    /// when the pair is too long or the hash grows past the entry limit.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        self.convert_for_lengths([field, value], limits);
        match self {
            HashValue::Listpack(v) => {
                if let Some(p) = v.iter_mut().find(|p| &*p.0 == field) {
                    p.1 = value.into();
                    return false;
                }
                v.push((field.into(), value.into()));
                if v.len() > limits.entries {
                    self.convert();
                }
                true
            }
            HashValue::Table(t) => {
                if let Some(p) = t.get_mut(field) {
                    p.1 = value.into();
                    return false;
                }
                t.push_new((field.into(), value.into()));
                true
            }
        }
    }

    /// Removes `field`; true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            HashValue::Listpack(v) => match v.iter().position(|p| &*p.0 == field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            HashValue::Table(t) => t.remove(field).is_some(),
        }
    }

    /// One HSCAN step: compact hashes return everything with cursor 0.
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<PairRef<'_>>, u64) {
        match self {
            HashValue::Listpack(v) => (v.iter().map(|p| (&*p.0, &*p.1)).collect(), 0),
            HashValue::Table(t) => {
                let (items, next) = t.scan(cursor, count);
                (items.into_iter().map(|p| (&*p.0, &*p.1)).collect(), next)
            }
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            HashValue::Listpack(_) => "listpack",
            HashValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        let payload: usize = self.iter().map(|(f, v)| f.len() + v.len()).sum();
        payload
            + match self {
                HashValue::Listpack(v) => v.capacity() * std::mem::size_of::<Pair>(),
                HashValue::Table(t) => t.overhead(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: HashLimits = HashLimits {
        entries: 2,
        value: 4,
    };

    #[test]
    fn converts_on_limits() {
        let mut h = HashValue::default();
        assert!(h.set(b"a", b"1", LIM));
        assert!(!h.set(b"a", b"2", LIM));
        assert!(h.set(b"b", b"1", LIM));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"c", b"1", LIM));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"2"[..]));
        assert!(h.remove(b"a") && h.remove(b"b") && h.remove(b"c"));
        assert!(h.is_empty());
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::default();
        h.set(b"a", b"12345", LIM);
        assert_eq!(h.encoding(), "hashtable");
    }
}
