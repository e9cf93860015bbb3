//! Sorted set values.
//!
//! Small sets use a compact sorted vector (reported as `listpack`, like Redis'
//! small encoding: linear member lookup, binary-searched ranks). Large sets use
//! a skiplist with spans (Redis' `zskiplist`) for O(log n) insert, delete,
//! rank and rank-to-node, plus a member → node hash index for O(1) score
//! lookup (Redis' `dict`). Nodes live in an arena (`Vec`) addressed by `u32`
//! indices, so the structure is safe Rust, compact, and `Clone`.
//!
//! Elements are ordered by score, then by member bytes (memcmp order); `-0.0`
//! and `0.0` compare equal, as in Redis.

use std::cmp::Ordering;

use hashbrown::HashTable;

/// Orders two elements the way Redis orders a sorted set.
pub fn cmp_elem(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    match a_score.partial_cmp(&b_score) {
        Some(Ordering::Less) => Ordering::Less,
        Some(Ordering::Greater) => Ordering::Greater,
        _ => a_member.cmp(b_member),
    }
}

/// Limits of the compact sorted-set encoding (`zset-max-listpack-entries` / `-value`).
#[derive(Clone, Copy, Debug)]
pub struct ZsetLimits {
    /// Most elements a compact set may hold.
    pub entries: usize,
    /// Longest member (bytes) a compact set may hold.
    pub value: usize,
}

const MAX_LEVEL: usize = 32;
/// Index of the header node; as a link it means "none".
const HEAD: u32 = 0;

#[derive(Debug, Clone, Copy, Default)]
struct Level {
    forward: u32,
    span: u32,
}

#[derive(Debug, Clone)]
struct Node {
    member: Box<[u8]>,
    score: f64,
    backward: u32,
    levels: Box<[Level]>,
}

/// Skiplist with spans plus a member index: the large sorted set encoding.
#[derive(Debug, Clone)]
pub struct SkipList {
    /// Arena; `nodes[0]` is the header.
    nodes: Vec<Node>,
    /// Arena slots free for reuse.
    free: Vec<u32>,
    /// Member → node index.
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    tail: u32,
    level: usize,
    len: usize,
}

fn random_level() -> usize {
    let mut lvl = 1;
    // P = 1/4 per level, as in Redis.
    while lvl < MAX_LEVEL && rand::random::<u32>() & 0xFFFF < 0xFFFF / 4 {
        lvl += 1;
    }
    lvl
}

impl SkipList {
    fn new() -> Self {
        let head = Node {
            member: Box::default(),
            score: 0.0,
            backward: HEAD,
            levels: vec![Level::default(); MAX_LEVEL].into_boxed_slice(),
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            index: HashTable::new(),
            hasher: ahash::RandomState::new(),
            tail: HEAD,
            level: 1,
            len: 0,
        }
    }

    fn lv(&self, x: u32, i: usize) -> Level {
        self.nodes[x as usize].levels[i]
    }

    fn lv_mut(&mut self, x: u32, i: usize) -> &mut Level {
        &mut self.nodes[x as usize].levels[i]
    }

    fn node(&self, x: u32) -> &Node {
        &self.nodes[x as usize]
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let h = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        self.index
            .find(h, |&i| &*nodes[i as usize].member == member)
            .copied()
    }

    /// True when node `x` orders before `(score, member)`.
    fn before(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let n = self.node(x);
        cmp_elem(n.score, &n.member, score, member) == Ordering::Less
    }

    /// Links a new element; the member must not be present.
    fn insert_new(&mut self, member: Box<[u8]>, score: f64) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.lv(x, i);
                if l.forward != HEAD && self.before(l.forward, score, &member) {
                    rank[i] += l.span;
                    x = l.forward;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let lvl = random_level();
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.lv_mut(HEAD, i).span = self.len as u32;
            }
            self.level = lvl;
        }
        let h = self.hasher.hash_one(&member[..]);
        let node = Node {
            member,
            score,
            backward: update[0],
            levels: vec![Level::default(); lvl].into_boxed_slice(),
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..lvl {
            let u = self.lv(update[i], i);
            let done = rank[0] - rank[i];
            *self.lv_mut(id, i) = Level {
                forward: u.forward,
                span: u.span.wrapping_sub(done),
            };
            *self.lv_mut(update[i], i) = Level {
                forward: id,
                span: done + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let l = self.lv_mut(u, i);
            l.span = l.span.wrapping_add(1);
        }
        let next = self.lv(id, 0).forward;
        if next != HEAD {
            self.nodes[next as usize].backward = id;
        } else {
            self.tail = id;
        }
        self.len += 1;
        let nodes = &self.nodes;
        let hs = &self.hasher;
        self.index
            .insert_unique(h, id, |&i| hs.hash_one(&nodes[i as usize].member[..]));
    }

    /// The last node on each level that orders before `(score, member)`.
    fn predecessors(&self, score: f64, member: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.lv(x, i).forward;
                if f != HEAD && self.before(f, score, member) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        update
    }

    /// Unlinks node `id` from every level (it stays in the arena).
    fn unlink(&mut self, id: u32) {
        let update = {
            let n = self.node(id);
            self.predecessors(n.score, &n.member)
        };
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.lv(u, i);
            if ul.forward == id {
                let l = self.lv(id, i);
                *self.lv_mut(u, i) = Level {
                    forward: l.forward,
                    span: (ul.span + l.span).wrapping_sub(1),
                };
            } else {
                let l = self.lv_mut(u, i);
                l.span = l.span.wrapping_sub(1);
            }
        }
        let (next, back) = (self.lv(id, 0).forward, self.node(id).backward);
        if next != HEAD {
            self.nodes[next as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.lv(HEAD, self.level - 1).forward == HEAD {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Removes `member`; returns its bytes and score.
    fn remove(&mut self, member: &[u8]) -> Option<(Box<[u8]>, f64)> {
        let h = self.hasher.hash_one(member);
        let nodes = &self.nodes;
        let id = self
            .index
            .find_entry(h, |&i| &*nodes[i as usize].member == member)
            .ok()?
            .remove()
            .0;
        self.unlink(id);
        let n = &mut self.nodes[id as usize];
        let m = std::mem::take(&mut n.member);
        n.levels = Box::default();
        self.free.push(id);
        Some((m, n.score))
    }

    /// Changes the score of an existing member (in place when its position holds).
    fn set_score(&mut self, id: u32, score: f64) {
        let n = self.node(id);
        let back = n.backward;
        let next = self.lv(id, 0).forward;
        let back_ok = back == HEAD || self.before(back, score, &n.member);
        let next_ok = next == HEAD || {
            let m = self.node(next);
            cmp_elem(m.score, &m.member, score, &n.member) == Ordering::Greater
        };
        if back_ok && next_ok {
            self.nodes[id as usize].score = score;
            return;
        }
        let member: Box<[u8]> = n.member.clone();
        if let Some((m, _)) = self.remove(&member) {
            self.insert_new(m, score);
        }
    }

    /// 0-based rank of node `id`.
    fn rank_of(&self, id: u32) -> usize {
        let n = self.node(id);
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.forward != HEAD && !self.after(l.forward, n.score, &n.member) {
                    rank += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
            if x == id {
                return rank - 1;
            }
        }
        rank.saturating_sub(1)
    }

    /// True when node `x` orders after `(score, member)`.
    fn after(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let n = self.node(x);
        cmp_elem(n.score, &n.member, score, member) == Ordering::Greater
    }

    /// Node at 0-based `rank` (HEAD when out of range).
    fn node_at(&self, rank: usize) -> u32 {
        let target = rank + 1;
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.forward != HEAD && traversed + l.span as usize <= target {
                    traversed += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
            if traversed == target {
                return x;
            }
        }
        HEAD
    }

    /// Length of the longest prefix whose elements all satisfy `pred`
    /// (`pred` must hold for a prefix of the order and fail after it).
    fn prefix_len(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lv(x, i);
                if l.forward != HEAD && {
                    let n = self.node(l.forward);
                    pred(n.score, &n.member)
                } {
                    traversed += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
        }
        traversed
    }
}

/// A sorted set.
#[derive(Debug, Clone)]
pub enum ZSet {
    /// Compact encoding: elements sorted by (score, member). `listpack` in OBJECT ENCODING.
    Small(Vec<(Box<[u8]>, f64)>),
    /// Skiplist plus member index. `skiplist` in OBJECT ENCODING.
    Big(Box<SkipList>),
}

/// The compact encoding stores scores as text like Redis' listpack, which turns -0 into 0.
fn compact_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

impl ZSet {
    /// An empty set whose first member is `first_len` bytes long, encoded as Redis would.
    pub fn new(limits: ZsetLimits, first_len: usize) -> Self {
        if limits.entries == 0 || first_len > limits.value {
            ZSet::Big(Box::new(SkipList::new()))
        } else {
            ZSet::Small(Vec::new())
        }
    }

    /// A set from elements already sorted by (score, member) with distinct members;
    /// compact when it fits the limits (as Redis converts store results).
    pub fn from_sorted(elems: Vec<(Box<[u8]>, f64)>, limits: ZsetLimits) -> Self {
        let fits =
            elems.len() <= limits.entries && elems.iter().all(|(m, _)| m.len() <= limits.value);
        if fits {
            ZSet::Small(
                elems
                    .into_iter()
                    .map(|(m, s)| (m, compact_score(s)))
                    .collect(),
            )
        } else {
            let mut sl = SkipList::new();
            for (m, s) in elems {
                sl.insert_new(m, s);
            }
            ZSet::Big(Box::new(sl))
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Small(v) => v.len(),
            ZSet::Big(s) => s.len,
        }
    }

    /// True when the set has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Small(_) => "listpack",
            ZSet::Big(_) => "skiplist",
        }
    }

    /// Approximate heap bytes owned.
    pub fn mem_usage(&self) -> usize {
        match self {
            ZSet::Small(v) => {
                v.capacity() * std::mem::size_of::<(Box<[u8]>, f64)>()
                    + v.iter().map(|(m, _)| m.len()).sum::<usize>()
            }
            ZSet::Big(s) => {
                s.nodes.capacity() * std::mem::size_of::<Node>()
                    + s.nodes
                        .iter()
                        .map(|n| n.member.len() + n.levels.len() * 8)
                        .sum::<usize>()
                    + s.index.capacity() * 5
            }
        }
    }

    fn small_pos(v: &[(Box<[u8]>, f64)], member: &[u8]) -> Option<usize> {
        v.iter().position(|(m, _)| &**m == member)
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(v) => Self::small_pos(v, member).map(|i| v[i].1),
            ZSet::Big(s) => s.find(member).map(|id| s.node(id).score),
        }
    }

    /// Sets the score of `member`, adding it when missing; converts to the
    /// skiplist encoding when the compact limits are exceeded.
    pub fn set(&mut self, member: &[u8], score: f64, limits: ZsetLimits) {
        match self {
            ZSet::Small(v) => {
                if let Some(i) = Self::small_pos(v, member) {
                    let score = compact_score(score);
                    let (m, _) = v.remove(i);
                    let at = v
                        .partition_point(|(om, os)| cmp_elem(*os, om, score, &m) == Ordering::Less);
                    v.insert(at, (m, score));
                    return;
                }
                if v.len() < limits.entries && member.len() <= limits.value {
                    let score = compact_score(score);
                    let at = v.partition_point(|(om, os)| {
                        cmp_elem(*os, om, score, member) == Ordering::Less
                    });
                    v.insert(at, (member.into(), score));
                    return;
                }
                let mut sl = SkipList::new();
                for (m, s) in std::mem::take(v) {
                    sl.insert_new(m, s);
                }
                sl.insert_new(member.into(), score);
                *self = ZSet::Big(Box::new(sl));
            }
            ZSet::Big(s) => match s.find(member) {
                Some(id) => s.set_score(id, score),
                None => s.insert_new(member.into(), score),
            },
        }
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Small(v) => Self::small_pos(v, member).map(|i| v.remove(i).1),
            ZSet::Big(s) => s.remove(member).map(|(_, sc)| sc),
        }
    }

    /// 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Small(v) => Self::small_pos(v, member),
            ZSet::Big(s) => s.find(member).map(|id| s.rank_of(id)),
        }
    }

    /// The element at 0-based ascending `rank`.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Small(v) => v.get(rank).map(|(m, s)| (&**m, *s)),
            ZSet::Big(s) => {
                let id = s.node_at(rank);
                (id != HEAD).then(|| {
                    let n = s.node(id);
                    (&*n.member, n.score)
                })
            }
        }
    }

    /// Number of leading elements (in order) satisfying `pred`, which must hold
    /// on a prefix of the order: O(log n) on the skiplist.
    pub fn prefix_len(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Small(v) => v.partition_point(|(m, s)| pred(*s, m)),
            ZSet::Big(s) => s.prefix_len(pred),
        }
    }

    /// Elements with ascending ranks in `start..end`, ascending or (`rev`) descending.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> ZIter<'_> {
        let end = end.min(self.len());
        let start = start.min(end);
        let inner = match self {
            ZSet::Small(v) => Inner::Small(v[start..end].iter()),
            ZSet::Big(s) => {
                let cur = if start == end {
                    HEAD
                } else if rev {
                    s.node_at(end - 1)
                } else {
                    s.node_at(start)
                };
                Inner::Big { list: s, cur }
            }
        };
        ZIter {
            inner,
            left: end - start,
            rev,
        }
    }

    /// All elements in ascending order.
    pub fn iter(&self) -> ZIter<'_> {
        self.range(0, self.len(), false)
    }
}

enum Inner<'a> {
    Small(std::slice::Iter<'a, (Box<[u8]>, f64)>),
    Big { list: &'a SkipList, cur: u32 },
}

/// Iterator over a rank range of a sorted set, yielding `(member, score)`.
pub struct ZIter<'a> {
    inner: Inner<'a>,
    left: usize,
    rev: bool,
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match &mut self.inner {
            Inner::Small(it) => {
                let e = if self.rev { it.next_back() } else { it.next() };
                e.map(|(m, s)| (&**m, *s))
            }
            Inner::Big { list, cur } => {
                if *cur == HEAD {
                    return None;
                }
                let n = list.node(*cur);
                *cur = if self.rev {
                    n.backward
                } else {
                    n.levels[0].forward
                };
                Some((&*n.member, n.score))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ZIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BIG: ZsetLimits = ZsetLimits {
        entries: 0,
        value: 0,
    };

    /// Naive model: a sorted vector.
    fn model_sorted(m: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
        v
    }

    fn check(z: &ZSet, model: &std::collections::HashMap<Vec<u8>, f64>) {
        let sorted = model_sorted(model);
        assert_eq!(z.len(), sorted.len());
        let got: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
        assert_eq!(got, sorted);
        let rev: Vec<(Vec<u8>, f64)> = z
            .range(0, z.len(), true)
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        let mut r2 = sorted.clone();
        r2.reverse();
        assert_eq!(rev, r2);
        for (i, (m, s)) in sorted.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.at(i).map(|(a, b)| (a.to_vec(), b)), Some((m.clone(), *s)));
            let below = z.prefix_len(|sc, _| sc < *s);
            assert_eq!(below, sorted.iter().filter(|(_, x)| *x < *s).count());
        }
        assert!(z.at(sorted.len()).is_none());
        if sorted.len() > 3 {
            let part: Vec<Vec<u8>> = z.range(1, 3, false).map(|(m, _)| m.to_vec()).collect();
            assert_eq!(part, vec![sorted[1].0.clone(), sorted[2].0.clone()]);
            let part: Vec<Vec<u8>> = z.range(1, 3, true).map(|(m, _)| m.to_vec()).collect();
            assert_eq!(part, vec![sorted[2].0.clone(), sorted[1].0.clone()]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_naive_model(
            ops in proptest::collection::vec((0u8..3, 0u8..40, -5i32..5), 1..300),
            small in any::<bool>(),
        ) {
            let limits = if small { ZsetLimits { entries: 16, value: 64 } } else { BIG };
            let mut z = ZSet::new(limits, 1);
            let mut model = std::collections::HashMap::new();
            for (op, m, s) in ops {
                let member = format!("m{m}").into_bytes();
                let score = s as f64 / 2.0;
                match op {
                    0 | 1 => {
                        z.set(&member, score, limits);
                        model.insert(member, score);
                    }
                    _ => {
                        prop_assert_eq!(z.remove(&member), model.remove(&member));
                    }
                }
            }
            check(&z, &model);
        }
    }

    #[test]
    fn converts_one_way_and_keeps_order() {
        let limits = ZsetLimits {
            entries: 4,
            value: 8,
        };
        let mut z = ZSet::new(limits, 1);
        let mut model = std::collections::HashMap::new();
        for i in 0..10 {
            let m = format!("k{}", 9 - i).into_bytes();
            z.set(&m, (i % 3) as f64, limits);
            model.insert(m, (i % 3) as f64);
            assert_eq!(z.encoding(), if i < 4 { "listpack" } else { "skiplist" });
        }
        check(&z, &model);
        let mut z2 = ZSet::new(limits, 1);
        z2.set(b"a-very-long-member", 1.0, limits);
        assert_eq!(z2.encoding(), "skiplist");
    }

    #[test]
    fn negative_zero_only_normalised_in_compact_form() {
        let mut small = ZSet::new(
            ZsetLimits {
                entries: 8,
                value: 8,
            },
            1,
        );
        small.set(
            b"a",
            -0.0,
            ZsetLimits {
                entries: 8,
                value: 8,
            },
        );
        assert!(small.score(b"a").is_some_and(|s| s.is_sign_positive()));
        let mut big = ZSet::new(BIG, 1);
        big.set(b"a", -0.0, BIG);
        assert!(big.score(b"a").is_some_and(|s| s.is_sign_negative()));
    }
}
