//! The list value: a double-ended queue of byte strings with Redis' index
//! rules (negative indexes count from the tail) and the byte total kept
//! incrementally so memory accounting stays O(1).

use std::collections::VecDeque;

/// Which end of a list an operation works on (`LEFT` = head, `RIGHT` = tail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (LPUSH, LPOP, `LEFT`).
    Left,
    /// The tail (RPUSH, RPOP, `RIGHT`).
    Right,
}

impl End {
    /// Parses `LEFT` / `RIGHT` (any case).
    pub fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }
}

/// Per-element bookkeeping bytes counted by `mem_usage` (the boxed slice header).
const ELEM_OVERHEAD: usize = std::mem::size_of::<Box<[u8]>>();

/// A list of byte strings.
#[derive(Debug, Clone, Default)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
    /// Sum of the element lengths.
    bytes: usize,
}

impl List {
    /// An empty list.
    pub fn new() -> Self {
        List::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the list has no elements (such keys are deleted by commands).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Adds an element at `end`.
    pub fn push(&mut self, end: End, item: &[u8]) {
        self.push_owned(end, item.into());
    }

    /// Adds an already owned element at `end` (LMOVE moves without copying).
    pub fn push_owned(&mut self, end: End, item: Box<[u8]>) {
        self.bytes += item.len();
        match end {
            End::Left => self.items.push_front(item),
            End::Right => self.items.push_back(item),
        }
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<Box<[u8]>> {
        let item = match end {
            End::Left => self.items.pop_front(),
            End::Right => self.items.pop_back(),
        }?;
        self.bytes -= item.len();
        Some(item)
    }

    /// Resolves a Redis index (negative from the tail) to a position.
    fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 { len + index } else { index };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at a Redis index.
    pub fn get(&self, index: i64) -> Option<&[u8]> {
        self.position(index).map(|p| &*self.items[p])
    }

    /// Replaces the element at a Redis index; false when out of range.
    pub fn set(&mut self, index: i64, item: &[u8]) -> bool {
        let Some(p) = self.position(index) else {
            return false;
        };
        self.bytes = self.bytes - self.items[p].len() + item.len();
        self.items[p] = item.into();
        true
    }

    /// The inclusive position range `[start, stop]` of LRANGE/LTRIM indexes,
    /// or None when it selects nothing.
    pub fn span(&self, start: i64, stop: i64) -> Option<(usize, usize)> {
        let len = self.items.len() as i64;
        let mut start = if start < 0 {
            len.saturating_add(start)
        } else {
            start
        };
        let mut stop = if stop < 0 {
            len.saturating_add(stop)
        } else {
            stop
        };
        if start < 0 {
            start = 0;
        }
        if start > stop || start >= len {
            return None;
        }
        if stop >= len {
            stop = len - 1;
        }
        Some((start as usize, stop as usize))
    }

    /// The elements at positions `start..=stop` (from `span`).
    pub fn range(&self, start: usize, stop: usize) -> impl Iterator<Item = &[u8]> {
        self.items.range(start..=stop).map(|b| &**b)
    }

    /// Keeps only positions `start..=stop` (None: keeps nothing).
    pub fn retain_span(&mut self, span: Option<(usize, usize)>) {
        match span {
            None => {
                self.items.clear();
                self.bytes = 0;
            }
            Some((start, stop)) => {
                self.items.truncate(stop + 1);
                self.items.drain(..start);
                self.bytes = self.items.iter().map(|b| b.len()).sum();
            }
        }
    }

    /// Removes up to `count` occurrences of `item` (0: all; negative: from
    /// the tail), returning how many were removed.
    pub fn remove(&mut self, count: i64, item: &[u8]) -> usize {
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let mut removed = 0;
        if count >= 0 {
            let mut i = 0;
            while i < self.items.len() && removed < limit {
                if &*self.items[i] == item {
                    self.items.remove(i);
                    removed += 1;
                } else {
                    i += 1;
                }
            }
        } else {
            let mut i = self.items.len();
            while i > 0 && removed < limit {
                i -= 1;
                if &*self.items[i] == item {
                    self.items.remove(i);
                    removed += 1;
                }
            }
        }
        self.bytes -= removed * item.len();
        removed
    }

    /// Inserts `item` before (`End::Left`) or after (`End::Right`) the first
    /// occurrence of `pivot`; false when the pivot is absent.
    pub fn insert(&mut self, side: End, pivot: &[u8], item: &[u8]) -> bool {
        let Some(p) = self.items.iter().position(|e| &**e == pivot) else {
            return false;
        };
        let at = match side {
            End::Left => p,
            End::Right => p + 1,
        };
        self.bytes += item.len();
        self.items.insert(at, item.into());
        true
    }

    /// Iterates from head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|b| &**b)
    }

    /// The OBJECT ENCODING name: Redis 7.0 stores every list as a quicklist.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Approximate heap bytes owned by the list.
    pub fn mem_usage(&self) -> usize {
        std::mem::size_of::<List>() + self.bytes + self.items.capacity() * ELEM_OVERHEAD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> List {
        let mut l = List::new();
        for i in items {
            l.push(End::Right, i.as_bytes());
        }
        l
    }

    fn items(l: &List) -> Vec<String> {
        l.iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn spans_follow_redis_rules() {
        let l = list(&["a", "b", "c", "d"]);
        assert_eq!(l.span(0, -1), Some((0, 3)));
        assert_eq!(l.span(-100, 100), Some((0, 3)));
        assert_eq!(l.span(2, 1), None);
        assert_eq!(l.span(4, 10), None);
        assert_eq!(l.span(-2, -1), Some((2, 3)));
        assert_eq!(l.span(i64::MIN, i64::MAX), Some((0, 3)));
    }

    #[test]
    fn remove_counts_and_bytes() {
        let mut l = list(&["x", "a", "x", "b", "x"]);
        assert_eq!(l.remove(-2, b"x"), 2);
        assert_eq!(items(&l), ["x", "a", "b"]);
        assert_eq!(l.remove(0, b"x"), 1);
        assert_eq!(l.bytes, 2);
        let mut t = list(&["a", "b", "c", "d"]);
        t.retain_span(t.span(1, 2));
        assert_eq!(items(&t), ["b", "c"]);
        assert_eq!(t.bytes, 2);
    }
}
