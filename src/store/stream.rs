//! The stream value type (XADD and friends): entries kept in compact chunks
//! like Redis' listpack nodes, plus consumer groups with their pending
//! entries lists.
//!
//! Entries live in chunks keyed by the ID of the first entry ever written to
//! the chunk (the "master" ID). A chunk is one byte buffer: the master entry's
//! field names, then one record per entry (flags, ID deltas, fields or only
//! values when the field names equal the master's). Deleting marks a record
//! in place, a chunk goes when it has no live record left, so memory per entry
//! stays close to Redis' (a few bytes plus the field data). A chunk is closed
//! at 100 records or 4096 bytes (`stream-node-max-entries/bytes` defaults),
//! which keeps approximate (`~`) trimming removing the same nodes as Redis.

use std::collections::{BTreeMap, BTreeSet};

/// Records per chunk (Redis' `stream-node-max-entries` default).
const CHUNK_MAX_ENTRIES: u32 = 100;
/// Bytes per chunk (Redis' `stream-node-max-bytes` default).
const CHUNK_MAX_BYTES: usize = 4096;
/// Largest total size of one entry's fields and values (listpack's limit).
pub const MAX_ENTRY_BYTES: usize = (1 << 30) - 1024;

/// Record flag: the entry was deleted.
const FLAG_DELETED: u8 = 1;
/// Record flag: the entry's field names are the chunk's master fields.
const FLAG_SAMEFIELDS: u8 = 2;

/// A stream entry ID, `<ms>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// The smallest ID, `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// The ID right after this one (None past the last possible ID).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq + 1,
            })
        } else if self.ms < u64::MAX {
            Some(StreamId {
                ms: self.ms + 1,
                seq: 0,
            })
        } else {
            None
        }
    }

    /// The ID right before this one (None before `0-0`).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId {
                ms: self.ms,
                seq: self.seq - 1,
            })
        } else if self.ms > 0 {
            Some(StreamId {
                ms: self.ms - 1,
                seq: u64::MAX,
            })
        } else {
            None
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The `<ms>-<seq>` text.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut b = itoa::Buffer::new();
        let mut out = b.format(self.ms).as_bytes().to_vec();
        out.push(b'-');
        out.extend_from_slice(b.format(self.seq).as_bytes());
        out
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos` (the chunk's own encoding, always well formed).
fn get_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&b) = data.get(*pos) {
        *pos += 1;
        if shift < 64 {
            v |= u64::from(b & 0x7f) << shift;
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

fn get_slice<'a>(data: &'a [u8], pos: &mut usize) -> &'a [u8] {
    let n = get_varint(data, pos) as usize;
    let start = (*pos).min(data.len());
    let end = start.saturating_add(n).min(data.len());
    *pos = end;
    &data[start..end]
}

/// One entry read from a chunk: its ID and its field/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry<'a> {
    /// The entry ID.
    pub id: StreamId,
    /// Field/value pairs in insertion order.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
}

/// A node of entries (see the module comment).
#[derive(Debug, Clone)]
struct Chunk {
    /// Master fields, then records.
    data: Vec<u8>,
    /// Offset of the first record.
    records_at: u32,
    live: u32,
    dead: u32,
    /// ID of the last record (live or deleted).
    last: StreamId,
}

/// A record's position and decoded header.
struct Record {
    at: usize,
    flags: u8,
    id: StreamId,
}

impl Chunk {
    fn new(master: StreamId, fields: &[(&[u8], &[u8])]) -> Chunk {
        let mut data = Vec::with_capacity(64);
        put_varint(&mut data, fields.len() as u64);
        for (f, _) in fields {
            put_varint(&mut data, f.len() as u64);
            data.extend_from_slice(f);
        }
        Chunk {
            records_at: data.len() as u32,
            data,
            live: 0,
            dead: 0,
            last: master,
        }
    }

    fn master_fields(&self) -> Vec<&[u8]> {
        let mut pos = 0;
        let n = get_varint(&self.data, &mut pos);
        (0..n).map(|_| get_slice(&self.data, &mut pos)).collect()
    }

    /// True when `fields` has exactly the master entry's field names.
    fn same_as_master(&self, fields: &[(&[u8], &[u8])]) -> bool {
        let mut pos = 0;
        if get_varint(&self.data, &mut pos) != fields.len() as u64 {
            return false;
        }
        fields
            .iter()
            .all(|(f, _)| get_slice(&self.data, &mut pos) == *f)
    }

    fn append(&mut self, master: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
        let same = self.same_as_master(fields);
        let d = &mut self.data;
        d.push(if same { FLAG_SAMEFIELDS } else { 0 });
        let ms_delta = id.ms - master.ms;
        put_varint(d, ms_delta);
        put_varint(
            d,
            if ms_delta == 0 {
                id.seq - master.seq
            } else {
                id.seq
            },
        );
        if !same {
            put_varint(d, fields.len() as u64);
        }
        for (f, v) in fields {
            if !same {
                put_varint(d, f.len() as u64);
                d.extend_from_slice(f);
            }
            put_varint(d, v.len() as u64);
            d.extend_from_slice(v);
        }
        self.live += 1;
        self.last = id;
    }

    /// Decodes the record at `*pos` (advancing past it); with `fields` its
    /// field/value pairs are collected.
    fn read<'a>(
        &'a self,
        master: StreamId,
        mfields: &[&'a [u8]],
        pos: &mut usize,
        fields: Option<&mut Vec<(&'a [u8], &'a [u8])>>,
    ) -> Record {
        let d = &self.data;
        let at = *pos;
        let flags = d.get(at).copied().unwrap_or(0);
        *pos += 1;
        let ms_delta = get_varint(d, pos);
        let seq = get_varint(d, pos);
        let id = StreamId {
            ms: master.ms.wrapping_add(ms_delta),
            seq: if ms_delta == 0 {
                master.seq.wrapping_add(seq)
            } else {
                seq
            },
        };
        let mut sink = fields;
        if let Some(s) = sink.as_deref_mut() {
            s.clear();
        }
        if flags & FLAG_SAMEFIELDS != 0 {
            for f in mfields {
                let v = get_slice(d, pos);
                if let Some(s) = sink.as_deref_mut() {
                    s.push((f, v));
                }
            }
        } else {
            let n = get_varint(d, pos);
            for _ in 0..n {
                let f = get_slice(d, pos);
                let v = get_slice(d, pos);
                if let Some(s) = sink.as_deref_mut() {
                    s.push((f, v));
                }
            }
        }
        Record { at, flags, id }
    }

    /// Positions and IDs of every record, in order.
    fn records(&self, master: StreamId) -> Vec<Record> {
        let mf = self.master_fields();
        let mut pos = self.records_at as usize;
        let mut out = Vec::with_capacity((self.live + self.dead) as usize);
        while pos < self.data.len() {
            out.push(self.read(master, &mf, &mut pos, None));
        }
        out
    }

    fn mark_deleted(&mut self, at: usize) {
        if let Some(f) = self.data.get_mut(at) {
            *f |= FLAG_DELETED;
        }
        self.live -= 1;
        self.dead += 1;
    }
}

/// A pending (delivered, not yet acknowledged) entry of a group.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The consumer it was last delivered to.
    pub consumer: Box<[u8]>,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Unix ms the consumer was last seen (read or claimed).
    pub seen_time: u64,
    /// IDs of the entries pending for this consumer.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Last ID delivered to the group.
    pub last_id: StreamId,
    /// Logical read counter (`entries-read`); None when unknown.
    pub entries_read: Option<u64>,
    /// The group's pending entries list.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    /// A group starting after `last_id`.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer `name`, created when missing (seen now either way).
    pub fn consumer(&mut self, name: &[u8], now: u64) -> &mut Consumer {
        let c = self.consumers.entry(name.into()).or_default();
        c.seen_time = now;
        c
    }

    /// Adds a consumer; false when it exists.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(c) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &c.pel {
            self.pel.remove(id);
        }
        c.pel.len()
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Records `id` as delivered to `consumer` at `now` (a new delivery:
    /// count 1, taken from any previous owner).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64) {
        let fresh = Pending {
            consumer: consumer.into(),
            delivery_time: now,
            delivery_count: 1,
        };
        if let Some(old) = self.pel.insert(id, fresh) {
            if let Some(c) = self.consumers.get_mut(&old.consumer) {
                c.pel.remove(&id);
            }
        }
        self.consumers
            .entry(consumer.into())
            .or_default()
            .pel
            .insert(id);
    }

    /// Moves the pending entry `id` to `consumer` (creating the entry when
    /// `create`), returning it for the caller to update.
    pub fn claim(&mut self, id: StreamId, consumer: &[u8], now: u64) -> Option<&mut Pending> {
        let p = self.pel.get_mut(&id)?;
        if *p.consumer != *consumer {
            if let Some(c) = self.consumers.get_mut(&p.consumer) {
                c.pel.remove(&id);
            }
            p.consumer = consumer.into();
        }
        self.consumers
            .entry(consumer.into())
            .or_insert_with(|| Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            })
            .pel
            .insert(id);
        self.pel.get_mut(&id)
    }
}

/// Why an entry could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// The ID is not greater than the stream's last ID.
    IdTooSmall,
    /// The fields are larger than an entry may be.
    TooLarge,
}

/// How XADD/XTRIM trim a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries with a smaller ID.
    MinId(StreamId),
}

/// A stream.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    chunks: BTreeMap<StreamId, Chunk>,
    length: u64,
    /// Last ID ever generated.
    pub last_id: StreamId,
    /// First live entry ID (0-0 when empty).
    pub first_id: StreamId,
    /// Largest ID ever deleted by XDEL.
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, Group>,
}

impl Stream {
    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    /// True without live entries.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Number of chunks (XINFO's radix-tree-keys).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Appends an entry with ID `id` (checked against the last ID).
    pub fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])]) -> Result<(), AppendError> {
        if id <= self.last_id {
            return Err(AppendError::IdTooSmall);
        }
        let total: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
        if total > MAX_ENTRY_BYTES {
            return Err(AppendError::TooLarge);
        }
        let reuse = match self.chunks.iter_mut().next_back() {
            Some((_, c)) => {
                let full =
                    c.data.len() + total >= CHUNK_MAX_BYTES || c.live + c.dead >= CHUNK_MAX_ENTRIES;
                if full {
                    c.data.shrink_to_fit();
                }
                !full
            }
            None => false,
        };
        if !reuse {
            self.chunks.insert(id, Chunk::new(id, fields));
        }
        if let Some((master, c)) = self.chunks.iter_mut().next_back() {
            c.append(*master, id, fields);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Visits live entries with IDs in `[start, end]`, ascending (or
    /// descending with `rev`), until `f` returns false.
    pub fn range<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamEntry<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        // The chunk holding `start` may begin before it.
        let from = self
            .chunks
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let chunks = self.chunks.range(from..=end);
        let mut visit = |master: StreamId, c: &'a Chunk| -> bool {
            let mf = c.master_fields();
            let recs = c.records(master);
            let order: Box<dyn Iterator<Item = &Record>> = if rev {
                Box::new(recs.iter().rev())
            } else {
                Box::new(recs.iter())
            };
            for r in order {
                if r.flags & FLAG_DELETED != 0 || r.id < start || r.id > end {
                    continue;
                }
                let mut fields = Vec::new();
                let mut pos = r.at;
                c.read(master, &mf, &mut pos, Some(&mut fields));
                if !f(StreamEntry { id: r.id, fields }) {
                    return false;
                }
            }
            true
        };
        if rev {
            for (m, c) in chunks.rev() {
                if !visit(*m, c) {
                    return;
                }
            }
        } else {
            for (m, c) in chunks {
                if !visit(*m, c) {
                    return;
                }
            }
        }
    }

    /// Up to `count` (0: all) live entries in `[start, end]`.
    pub fn collect(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        count: usize,
    ) -> Vec<StreamEntry<'_>> {
        let mut out = Vec::new();
        self.range(start, end, rev, |e| {
            out.push(e);
            count == 0 || out.len() < count
        });
        out
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<StreamEntry<'_>> {
        self.collect(id, id, false, 1).pop()
    }

    /// True when `id` is a live entry.
    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// ID of the first live entry (or the last one with `last`).
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        let mut found = None;
        self.range(StreamId::MIN, StreamId::MAX, last, |e| {
            found = Some(e.id);
            false
        });
        found
    }

    /// The last live entry's ID, or 0-0 when empty (Redis' `streamLastValidID`).
    pub fn last_valid_id(&self) -> StreamId {
        self.edge_id(true).unwrap_or_default()
    }

    fn refresh_first_id(&mut self) {
        self.first_id = if self.length == 0 {
            StreamId::MIN
        } else {
            self.edge_id(false).unwrap_or_default()
        };
    }

    /// Deletes the live entry `id`; true when it existed.
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&master, c)) = self.chunks.range_mut(..=id).next_back() else {
            return false;
        };
        if c.last < id {
            return false;
        }
        let Some(at) = c
            .records(master)
            .iter()
            .find(|r| r.id == id && r.flags & FLAG_DELETED == 0)
            .map(|r| r.at)
        else {
            return false;
        };
        c.mark_deleted(at);
        if c.live == 0 {
            self.chunks.remove(&master);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the given IDs, keeping the first ID and the largest
    /// deleted ID up to date; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        let mut first = false;
        for &id in ids {
            if self.delete_one(id) {
                first |= id == self.first_id;
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first {
                self.refresh_first_id();
            }
        }
        deleted
    }

    /// Trims like Redis' `streamTrim`: whole chunks first; with `approx`
    /// only whole chunks, at most `limit` entries (0: no limit). Returns the
    /// number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted = 0u64;
        loop {
            if let Trim::MaxLen(max) = how {
                if self.length <= max {
                    break;
                }
            }
            let Some((&master, c)) = self.chunks.iter_mut().next() else {
                break;
            };
            let entries = u64::from(c.live);
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove = match how {
                Trim::MaxLen(max) => self.length - entries >= max,
                Trim::MinId(min) => c.last < min,
            };
            if remove {
                self.chunks.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            for r in c.records(master) {
                let stop = match how {
                    Trim::MaxLen(max) => self.length <= max,
                    Trim::MinId(min) => r.id >= min,
                };
                if stop {
                    break;
                }
                if r.flags & FLAG_DELETED == 0 {
                    c.mark_deleted(r.at);
                    self.length -= 1;
                    deleted += 1;
                }
            }
            if c.live == 0 {
                self.chunks.remove(&master);
            }
            break;
        }
        if deleted > 0 {
            self.refresh_first_id();
        }
        deleted
    }

    /// Redis' `streamEstimateDistanceFromFirstEverEntry`: the logical read
    /// counter of `id`, when it can be known.
    pub fn distance_from_first(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - self.length),
                std::cmp::Ordering::Equal => return Some(self.entries_added - self.length + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// True when a deleted entry may lie in `[start, MAX]` (Redis'
    /// `streamRangeHasTombstones` with an open end).
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.length == 0 || self.max_deleted.is_zero() || self.first_id > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// A group's lag (entries not yet delivered), when it can be known;
    /// signed like Redis' (an ENTRIESREAD past the stream's counter gives a
    /// negative lag).
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_from(g.last_id) {
                return Some(added.wrapping_sub(read as i64));
            }
        }
        self.distance_from_first(g.last_id)
            .map(|read| added.wrapping_sub(read as i64))
    }

    /// Advances `group`'s last ID to `id` after delivering it, keeping its
    /// read counter (Redis' bookkeeping in `streamReplyWithRange`).
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.has_tombstones_from(id);
        let estimate = self.distance_from_first(id);
        let added = self.entries_added;
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !tomb => g.entries_read = Some(n + 1),
            _ if added != 0 => g.entries_read = estimate,
            _ => {}
        }
        g.last_id = id;
    }

    /// Heap bytes held by the stream.
    pub fn mem_usage(&self) -> usize {
        let chunks: usize = self.chunks.values().map(|c| c.data.capacity() + 64).sum();
        let groups: usize = self
            .groups
            .iter()
            .map(|(n, g)| {
                n.len()
                    + 96
                    + g.pel.values().map(|p| p.consumer.len() + 64).sum::<usize>()
                    + g.consumers
                        .iter()
                        .map(|(n, c)| n.len() + 48 + c.pel.len() * 24)
                        .sum::<usize>()
            })
            .sum();
        std::mem::size_of::<Stream>() + chunks + groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    fn ids(s: &Stream) -> Vec<StreamId> {
        s.collect(StreamId::MIN, StreamId::MAX, false, 0)
            .iter()
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn append_range_delete_across_chunks() {
        let mut s = Stream::default();
        for i in 1..=250u64 {
            let v = i.to_string();
            let fields: Vec<(&[u8], &[u8])> = if i % 7 == 0 {
                vec![(b"other", v.as_bytes()), (b"x", b"y")]
            } else {
                vec![(b"f", v.as_bytes())]
            };
            s.append(id(i, i % 3), &fields).expect("append");
        }
        assert_eq!(s.len(), 250);
        assert_eq!(s.chunk_count(), 3);
        assert_eq!(
            s.append(id(250, 1), &[(b"a", b"b")]),
            Err(AppendError::IdTooSmall)
        );
        let e = s.get(id(14, 2)).expect("entry 14");
        assert_eq!(
            e.fields,
            vec![(&b"other"[..], &b"14"[..]), (&b"x"[..], &b"y"[..])]
        );
        let rev: Vec<u64> = s
            .collect(id(98, 0), id(103, 0), true, 0)
            .iter()
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(rev, vec![102, 101, 100, 99, 98]);
        assert_eq!(s.delete(&[id(1, 1), id(1, 1), id(5, 2), id(999, 0)]), 2);
        assert_eq!(s.first_id, id(2, 2));
        assert_eq!(s.max_deleted, id(5, 2));
        assert_eq!(s.len(), 248);
        assert!(!s.contains(id(5, 2)));
        assert_eq!(s.trim(Trim::MaxLen(150), true, 0), 98);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MinId(id(120, 0)), false, 0), 19);
        assert_eq!(ids(&s)[0], id(120, 0));
        assert_eq!(s.first_id, id(120, 0));
        assert_eq!(s.trim(Trim::MaxLen(0), false, 0), 131);
        assert!(s.is_empty() && s.chunk_count() == 0);
        assert_eq!(s.entries_added, 250);
    }

    #[test]
    fn groups_track_pending_entries() {
        let mut g = Group::new(StreamId::MIN, Some(0));
        g.deliver(id(1, 0), b"alice", 10);
        g.deliver(id(2, 0), b"alice", 10);
        g.deliver(id(2, 0), b"bob", 20);
        assert_eq!(g.consumers[&b"alice"[..]].pel.len(), 1);
        assert_eq!(g.pel[&id(2, 0)].consumer.as_ref(), b"bob");
        assert!(g.claim(id(1, 0), b"bob", 30).is_some());
        assert!(g.consumers[&b"alice"[..]].pel.is_empty());
        assert!(g.ack(id(1, 0)) && !g.ack(id(1, 0)));
        assert_eq!(g.delete_consumer(b"bob"), 1);
        assert!(g.pel.is_empty());
    }

    /// Operations of the model-based property test.
    #[derive(Debug, Clone)]
    enum Op {
        Append {
            step: u64,
            seq: u64,
            other_fields: bool,
            len: usize,
        },
        Delete(usize),
        MaxLen {
            keep: u64,
            approx: bool,
        },
        MinId {
            pick: usize,
            approx: bool,
        },
        Range {
            a: usize,
            b: usize,
            rev: bool,
            count: usize,
        },
    }

    fn arb_op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (0u64..3, 0u64..4, any::<bool>(), 0usize..300)
                .prop_map(|(step, seq, other_fields, len)| Op::Append { step, seq, other_fields, len }),
            2 => any::<usize>().prop_map(Op::Delete),
            1 => (0u64..400, any::<bool>()).prop_map(|(keep, approx)| Op::MaxLen { keep, approx }),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, approx)| Op::MinId { pick, approx }),
            2 => (any::<usize>(), any::<usize>(), any::<bool>(), 0usize..5)
                .prop_map(|(a, b, rev, count)| Op::Range { a, b, rev, count }),
        ]
    }

    type OwnedFields = Vec<(Vec<u8>, Vec<u8>)>;
    type Model = BTreeMap<StreamId, OwnedFields>;

    fn owned(e: &StreamEntry<'_>) -> (StreamId, OwnedFields) {
        let f = e
            .fields
            .iter()
            .map(|(a, b)| (a.to_vec(), b.to_vec()))
            .collect();
        (e.id, f)
    }

    proptest::proptest! {
        /// The chunked stream behaves like a plain ordered map of entries:
        /// exact trims and deletions match the model entry for entry,
        /// approximate trims remove a prefix of what the exact one would.
        #[test]
        fn behaves_like_an_ordered_map(ops in proptest::collection::vec(arb_op(), 1..400)) {
            let mut s = Stream::default();
            let mut m = Model::new();
            let mut last = StreamId::MIN;
            for op in ops {
                match op {
                    Op::Append { step, seq, other_fields, len } => {
                        let id = StreamId { ms: last.ms + step, seq };
                        let v = vec![b'x'; len];
                        let fields: Vec<(&[u8], &[u8])> = if other_fields {
                            vec![(b"o", &v), (b"p", b"")]
                        } else {
                            vec![(b"f", &v)]
                        };
                        let r = s.append(id, &fields);
                        if id > last {
                            proptest::prop_assert_eq!(r, Ok(()));
                            m.insert(id, fields.iter().map(|(a, b)| (a.to_vec(), b.to_vec())).collect());
                            last = id;
                        } else {
                            proptest::prop_assert_eq!(r, Err(AppendError::IdTooSmall));
                        }
                    }
                    Op::Delete(i) => {
                        let id = m.keys().nth(i % (m.len() + 1)).copied().unwrap_or(StreamId { ms: 999_999, seq: 0 });
                        let want = usize::from(m.remove(&id).is_some());
                        proptest::prop_assert_eq!(s.delete(&[id]), want);
                    }
                    Op::MaxLen { keep, approx } => {
                        let excess = (m.len() as u64).saturating_sub(keep);
                        let n = s.trim(Trim::MaxLen(keep), approx, 0);
                        if approx {
                            proptest::prop_assert!(n <= excess);
                        } else {
                            proptest::prop_assert_eq!(n, excess);
                        }
                        for _ in 0..n {
                            m.pop_first();
                        }
                    }
                    Op::MinId { pick, approx } => {
                        let min = m.keys().nth(pick % (m.len() + 1)).copied().unwrap_or(StreamId::MAX);
                        let below = m.range(..min).count() as u64;
                        let n = s.trim(Trim::MinId(min), approx, 0);
                        if approx {
                            proptest::prop_assert!(n <= below);
                        } else {
                            proptest::prop_assert_eq!(n, below);
                        }
                        for _ in 0..n {
                            m.pop_first();
                        }
                    }
                    Op::Range { a, b, rev, count } => {
                        let keys: Vec<StreamId> = m.keys().copied().collect();
                        let pick = |i: usize| keys.get(i % (keys.len() + 1)).copied().unwrap_or(StreamId::MAX);
                        let (start, end) = (pick(a), pick(b));
                        let got: Vec<_> = s.collect(start, end, rev, count).iter().map(owned).collect();
                        let mut want: Vec<_> = if start <= end {
                            m.range(start..=end).map(|(k, v)| (*k, v.clone())).collect()
                        } else {
                            Vec::new()
                        };
                        if rev {
                            want.reverse();
                        }
                        if count > 0 {
                            want.truncate(count);
                        }
                        proptest::prop_assert_eq!(got, want);
                    }
                }
                proptest::prop_assert_eq!(s.len(), m.len() as u64);
                let first = m.keys().next().copied().unwrap_or_default();
                proptest::prop_assert_eq!(s.first_id, first);
                proptest::prop_assert_eq!(s.last_valid_id(), m.keys().next_back().copied().unwrap_or_default());
            }
        }
    }
}
