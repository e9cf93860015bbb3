//! Set values with Redis 7.0's two encodings: a sorted vector of integers
//! (`intset`) while every member is a canonical 64-bit integer and the set is
//! small, else a `Dense` hash table (`hashtable`). Conversion is one-way.
//! (Redis 7.0 has no listpack encoding for sets; it arrived in 7.2.)

use super::dense::Dense;
use crate::util::parse_i64;

/// A member borrowed from a set (or a command argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// A member of an intset.
    Int(i64),
    /// A member stored as bytes.
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member of an argument: integers as `Int` (Redis' `string2ll` rules).
    pub fn parse(b: &'a [u8]) -> Self {
        match as_int(b) {
            Some(n) => Member::Int(n),
            None => Member::Bytes(b),
        }
    }

    /// The member's bytes, formatting integers into `buf`.
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Member::Int(n) => buf.format(*n).as_bytes(),
            Member::Bytes(b) => b,
        }
    }
}

/// The integer an intset would store for `b`, if any.
fn as_int(b: &[u8]) -> Option<i64> {
    if b.len() > 20 {
        return None;
    }
    parse_i64(b)
}

/// A set value.
#[derive(Debug, Clone)]
pub enum SetValue {
    /// Small all-integer set, sorted ascending (`intset`).
    Intset(Vec<i64>),
    /// Any other set (`hashtable`).
    Table(Dense<Box<[u8]>>),
}

impl SetValue {
    /// The empty set Redis creates for a first member (`setTypeCreate`):
    /// an intset when that member is an integer.
    pub fn for_first(member: &[u8]) -> Self {
        if as_int(member).is_some() {
            SetValue::Intset(Vec::new())
        } else {
            SetValue::Table(Dense::with_capacity(0))
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.len(),
            SetValue::Table(t) => t.len(),
        }
    }

    /// True when the set has no members (the key must then be deleted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when `m` is a member.
    pub fn contains(&self, m: Member<'_>) -> bool {
        match (self, m) {
            (SetValue::Intset(v), Member::Int(n)) => v.binary_search(&n).is_ok(),
            (SetValue::Intset(v), Member::Bytes(b)) => {
                as_int(b).is_some_and(|n| v.binary_search(&n).is_ok())
            }
            (SetValue::Table(t), m) => {
                let mut buf = itoa::Buffer::new();
                t.get(m.bytes(&mut buf)).is_some()
            }
        }
    }

    /// True when the argument `b` is a member.
    pub fn contains_bytes(&self, b: &[u8]) -> bool {
        self.contains(Member::parse(b))
    }

    /// The member at position `i` (`0..len`), for iteration and random picks.
    pub fn at(&self, i: usize) -> Option<Member<'_>> {
        match self {
            SetValue::Intset(v) => v.get(i).map(|&n| Member::Int(n)),
            SetValue::Table(t) => t.at(i).map(|b| Member::Bytes(b)),
        }
    }

    /// All members in storage order (ascending for intsets).
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        (0..self.len()).filter_map(|i| self.at(i))
    }

    fn convert(&mut self) {
        if let SetValue::Intset(v) = self {
            let mut t = Dense::with_capacity(v.len() + 1);
            let mut buf = itoa::Buffer::new();
            for &n in v.iter() {
                t.push_new(buf.format(n).as_bytes().into());
            }
            *self = SetValue::Table(t);
        }
    }

    /// Adds `m`; true when it is new. An intset becomes a table when `m` is
    /// not an integer or the set grows past `max_intset` members.
    pub fn add(&mut self, m: Member<'_>, max_intset: usize) -> bool {
        if let SetValue::Intset(v) = self {
            let n = match m {
                Member::Int(n) => Some(n),
                Member::Bytes(b) => as_int(b),
            };
            if let Some(n) = n {
                let Err(pos) = v.binary_search(&n) else {
                    return false;
                };
                v.insert(pos, n);
                if v.len() > max_intset {
                    self.convert();
                }
                return true;
            }
            self.convert();
        }
        let SetValue::Table(t) = self else {
            return false;
        };
        let mut buf = itoa::Buffer::new();
        let b = m.bytes(&mut buf);
        if t.get(b).is_some() {
            return false;
        }
        t.push_new(b.into());
        true
    }

    /// Removes `m`; true when it was a member.
    pub fn remove(&mut self, m: Member<'_>) -> bool {
        match self {
            SetValue::Intset(v) => {
                let n = match m {
                    Member::Int(n) => Some(n),
                    Member::Bytes(b) => as_int(b),
                };
                match n.map(|n| v.binary_search(&n)) {
                    Some(Ok(i)) => {
                        v.remove(i);
                        true
                    }
                    _ => false,
                }
            }
            SetValue::Table(t) => {
                let mut buf = itoa::Buffer::new();
                t.remove(m.bytes(&mut buf)).is_some()
            }
        }
    }

    /// Removes and returns the member at position `i` (`i < len`) as bytes.
    pub fn remove_at(&mut self, i: usize) -> Vec<u8> {
        match self {
            SetValue::Intset(v) => itoa::Buffer::new().format(v.remove(i)).as_bytes().to_vec(),
            SetValue::Table(t) => t.remove_at(i).into_vec(),
        }
    }

    /// One SSCAN step: intsets return everything with cursor 0.
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Member<'_>>, u64) {
        match self {
            SetValue::Intset(v) => (v.iter().map(|&n| Member::Int(n)).collect(), 0),
            SetValue::Table(t) => {
                let (items, next) = t.scan(cursor, count);
                (items.into_iter().map(|b| Member::Bytes(b)).collect(), next)
            }
        }
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            SetValue::Intset(_) => "intset",
            SetValue::Table(_) => "hashtable",
        }
    }

    /// Approximate heap bytes.
    pub fn mem_usage(&self) -> usize {
        match self {
            SetValue::Intset(v) => v.capacity() * 8,
            SetValue::Table(t) => t.overhead() + t.iter().map(|b| b.len()).sum::<usize>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_then_table() {
        let mut s = SetValue::for_first(b"3");
        assert!(s.add(Member::parse(b"3"), 3));
        assert!(s.add(Member::parse(b"1"), 3));
        assert!(!s.add(Member::parse(b"1"), 3));
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Member::Int(1), Member::Int(3)]
        );
        assert!(s.add(Member::parse(b"01"), 3));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains_bytes(b"1") && s.contains_bytes(b"01") && !s.contains_bytes(b"2"));
        assert!(s.remove(Member::parse(b"3")));
        assert_eq!(s.len(), 2);
        let mut s = SetValue::for_first(b"1");
        for i in 0..4 {
            s.add(Member::Int(i), 3);
        }
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(Member::Int(2)));
    }
}
