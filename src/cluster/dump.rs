//! Compact binary serialization of keys for live slot migration
//! (`CLUSTER MIGRATE-BATCH`): one record per key with its TTL, memcached
//! flags and value, or a tombstone for a key deleted since it was copied.
//!
//! The format is internal to one ringcache version (both ends of a migration
//! run the same build); it is not Redis' DUMP format. All integers are
//! little-endian:
//!
//! ```text
//! record  = klen:u32 key:klen expire:u64 (0 = none) flags:u32 type:u8 body
//! type 0  tombstone, no body
//! type 1  string: len:u32 bytes
//! type 2  list:   n:u32 then n × (len:u32 bytes), head first
//! type 3  hash:   n:u32 then n × (field, value), each len:u32 bytes
//! type 4  set:    n:u32 then n × (len:u32 bytes)
//! type 5  zset:   n:u32 then n × (score:f64 bits:u64, len:u32 member)
//! type 6  stream: last-id max-deleted-id entries-added:u64
//!                 n:u32 then n × (id, pairs:u32 then pairs × (field, value))
//!                 groups:u32 then per group (name, last-id,
//!                   entries-read:u64 (u64::MAX = unknown),
//!                   consumers:u32 then × (name, seen-time:u64),
//!                   pending:u32 then × (id, consumer, delivery-time:u64, count:u64))
//!                 where an id is ms:u64 seq:u64
//! ```
//!
//! Decoding re-encodes aggregates with the receiver's listpack/intset limits,
//! as Redis' RESTORE does.

use bytes::{Buf, BufMut};

use crate::store::hash::{HashLimits, HashValue};
use crate::store::set::{Member, SetValue};
use crate::store::stream::{Group, Pending, Stream, StreamId};
use crate::store::zset::{self, ZSet};
use crate::store::{End, Entry, List, StrValue, Value};

/// Why a batch could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The payload ends inside a record.
    #[error("migration batch truncated")]
    Truncated,
    /// A record has an unknown type byte.
    #[error("migration batch has unknown value type {0}")]
    UnknownType(u8),
    /// A stream record's entries are not in ascending ID order.
    #[error("migration batch has a stream with out-of-order entries")]
    StreamOrder,
}

/// Encoding limits the receiver applies when rebuilding aggregates.
#[derive(Debug, Clone, Copy)]
pub struct DumpLimits {
    /// `hash-max-listpack-*`.
    pub hash: HashLimits,
    /// `zset-max-listpack-*`.
    pub zset: zset::ZsetLimits,
    /// `set-max-intset-entries`.
    pub max_intset: usize,
}

impl DumpLimits {
    /// The limits of this node's configuration.
    pub fn of(c: &crate::config::Settings) -> DumpLimits {
        DumpLimits {
            hash: HashLimits {
                entries: c.hash_max_listpack_entries as usize,
                value: c.hash_max_listpack_value as usize,
            },
            zset: zset::ZsetLimits {
                entries: c.zset_max_listpack_entries as usize,
                value: c.zset_max_listpack_value as usize,
            },
            max_intset: c.set_max_intset_entries as usize,
        }
    }
}

/// One decoded record.
#[derive(Debug)]
pub struct Record {
    /// The key.
    pub key: Vec<u8>,
    /// Value, expiry (unix ms) and memcached flags; `None` for a tombstone.
    pub value: Option<(Value, Option<u64>, u32)>,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u32_le(b.len() as u32);
    out.put_slice(b);
}

/// Appends the record of a live entry.
pub fn encode_entry(out: &mut Vec<u8>, e: &Entry) {
    put_bytes(out, e.key());
    out.put_u64_le(e.expire_at().unwrap_or(0));
    out.put_u32_le(e.mc_flags());
    let mut scratch = itoa::Buffer::new();
    match e.value() {
        Value::Str(s) => {
            out.put_u8(1);
            put_bytes(out, s.as_bytes(&mut scratch));
        }
        Value::List(l) => {
            out.put_u8(2);
            out.put_u32_le(l.len() as u32);
            for item in l.iter() {
                put_bytes(out, item);
            }
        }
        Value::Hash(h) => {
            out.put_u8(3);
            out.put_u32_le(h.len() as u32);
            for (f, v) in h.iter() {
                put_bytes(out, f);
                put_bytes(out, v);
            }
        }
        Value::Set(s) => {
            out.put_u8(4);
            out.put_u32_le(s.len() as u32);
            for m in s.iter() {
                put_bytes(out, m.bytes(&mut scratch));
            }
        }
        Value::ZSet(z) => {
            out.put_u8(5);
            out.put_u32_le(z.len() as u32);
            for (m, score) in z.iter() {
                out.put_u64_le(score.to_bits());
                put_bytes(out, m);
            }
        }
        Value::Stream(s) => {
            out.put_u8(6);
            encode_stream(out, s);
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.put_u64_le(id.ms);
    out.put_u64_le(id.seq);
}

fn encode_stream(out: &mut Vec<u8>, s: &Stream) {
    put_id(out, s.last_id);
    put_id(out, s.max_deleted);
    out.put_u64_le(s.entries_added);
    let entries = s.collect(StreamId::MIN, StreamId::MAX, false, 0);
    out.put_u32_le(entries.len() as u32);
    for e in &entries {
        put_id(out, e.id);
        out.put_u32_le(e.fields.len() as u32);
        for (f, v) in &e.fields {
            put_bytes(out, f);
            put_bytes(out, v);
        }
    }
    out.put_u32_le(s.groups.len() as u32);
    for (name, g) in &s.groups {
        put_bytes(out, name);
        put_id(out, g.last_id);
        out.put_u64_le(g.entries_read.unwrap_or(u64::MAX));
        out.put_u32_le(g.consumers.len() as u32);
        for (cname, c) in &g.consumers {
            put_bytes(out, cname);
            out.put_u64_le(c.seen_time);
        }
        out.put_u32_le(g.pel.len() as u32);
        for (id, p) in &g.pel {
            put_id(out, *id);
            put_bytes(out, &p.consumer);
            out.put_u64_le(p.delivery_time);
            out.put_u64_le(p.delivery_count);
        }
    }
}

fn get_u64(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    buf.try_get_u64_le().map_err(|_| DecodeError::Truncated)
}

fn get_id(buf: &mut &[u8]) -> Result<StreamId, DecodeError> {
    Ok(StreamId {
        ms: get_u64(buf)?,
        seq: get_u64(buf)?,
    })
}

fn decode_stream(buf: &mut &[u8]) -> Result<Stream, DecodeError> {
    let mut s = Stream::default();
    let last_id = get_id(buf)?;
    let max_deleted = get_id(buf)?;
    let entries_added = get_u64(buf)?;
    for _ in 0..get_count(buf, 20)? {
        let id = get_id(buf)?;
        let mut fields = Vec::new();
        for _ in 0..get_count(buf, 8)? {
            fields.push((get_bytes(buf)?, get_bytes(buf)?));
        }
        if s.append(id, &fields).is_err() {
            return Err(DecodeError::StreamOrder);
        }
    }
    s.last_id = last_id.max(s.last_id);
    s.max_deleted = max_deleted;
    s.entries_added = entries_added.max(s.entries_added);
    for _ in 0..get_count(buf, 32)? {
        let name: Box<[u8]> = get_bytes(buf)?.into();
        let last = get_id(buf)?;
        let read = get_u64(buf)?;
        let mut g = Group::new(last, (read != u64::MAX).then_some(read));
        for _ in 0..get_count(buf, 12)? {
            let cname = get_bytes(buf)?;
            let seen = get_u64(buf)?;
            g.consumer(cname, seen);
        }
        for _ in 0..get_count(buf, 36)? {
            let id = get_id(buf)?;
            let consumer: Box<[u8]> = get_bytes(buf)?.into();
            let delivery_time = get_u64(buf)?;
            let delivery_count = get_u64(buf)?;
            g.consumers
                .entry(consumer.clone())
                .or_default()
                .pel
                .insert(id);
            g.pel.insert(
                id,
                Pending {
                    consumer,
                    delivery_time,
                    delivery_count,
                },
            );
        }
        s.groups.insert(name, g);
    }
    Ok(s)
}

/// Appends a tombstone: `key` no longer exists at the source.
pub fn encode_tombstone(out: &mut Vec<u8>, key: &[u8]) {
    put_bytes(out, key);
    out.put_u64_le(0);
    out.put_u32_le(0);
    out.put_u8(0);
}

fn get_u32(buf: &mut &[u8]) -> Result<u32, DecodeError> {
    buf.try_get_u32_le().map_err(|_| DecodeError::Truncated)
}

fn get_bytes<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], DecodeError> {
    let n = get_u32(buf)? as usize;
    if buf.len() < n {
        return Err(DecodeError::Truncated);
    }
    let (b, rest) = buf.split_at(n);
    *buf = rest;
    Ok(b)
}

/// An element count, bounded by what the remaining bytes can hold (each
/// element takes at least `min` bytes), so a corrupt count cannot make the
/// decoder reserve huge amounts of memory.
fn get_count(buf: &mut &[u8], min: usize) -> Result<usize, DecodeError> {
    let n = get_u32(buf)? as usize;
    if n.saturating_mul(min) > buf.len() {
        return Err(DecodeError::Truncated);
    }
    Ok(n)
}

fn decode_value(buf: &mut &[u8], ty: u8, lim: &DumpLimits) -> Result<Value, DecodeError> {
    Ok(match ty {
        1 => Value::Str(StrValue::from_bytes(get_bytes(buf)?)),
        2 => {
            let mut l = List::new();
            for _ in 0..get_count(buf, 4)? {
                l.push(End::Right, get_bytes(buf)?);
            }
            Value::List(Box::new(l))
        }
        3 => {
            let mut h = HashValue::default();
            for _ in 0..get_count(buf, 8)? {
                let f = get_bytes(buf)?;
                let v = get_bytes(buf)?;
                h.set(f, v, lim.hash);
            }
            Value::Hash(Box::new(h))
        }
        4 => {
            let n = get_count(buf, 4)?;
            let mut s: Option<SetValue> = None;
            for _ in 0..n {
                let m = get_bytes(buf)?;
                s.get_or_insert_with(|| SetValue::for_first(m))
                    .add(Member::parse(m), lim.max_intset);
            }
            Value::Set(Box::new(s.unwrap_or_else(|| SetValue::for_first(b""))))
        }
        5 => {
            let n = get_count(buf, 12)?;
            let mut z: Option<ZSet> = None;
            for _ in 0..n {
                let score =
                    f64::from_bits(buf.try_get_u64_le().map_err(|_| DecodeError::Truncated)?);
                let m = get_bytes(buf)?;
                z.get_or_insert_with(|| ZSet::new(lim.zset, m.len()))
                    .set(m, score, lim.zset);
            }
            Value::ZSet(Box::new(z.unwrap_or_else(|| ZSet::new(lim.zset, 0))))
        }
        6 => Value::Stream(Box::new(decode_stream(buf)?)),
        t => return Err(DecodeError::UnknownType(t)),
    })
}

/// Decodes the next record from `buf`, advancing it; `None` at the end.
pub fn decode(buf: &mut &[u8], lim: &DumpLimits) -> Result<Option<Record>, DecodeError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let key = get_bytes(buf)?.to_vec();
    let expire = buf.try_get_u64_le().map_err(|_| DecodeError::Truncated)?;
    let flags = get_u32(buf)?;
    let ty = buf.try_get_u8().map_err(|_| DecodeError::Truncated)?;
    if ty == 0 {
        return Ok(Some(Record { key, value: None }));
    }
    let value = decode_value(buf, ty, lim)?;
    Ok(Some(Record {
        key,
        value: Some((value, (expire != 0).then_some(expire), flags)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> DumpLimits {
        DumpLimits {
            hash: HashLimits {
                entries: 128,
                value: 64,
            },
            zset: zset::ZsetLimits {
                entries: 128,
                value: 64,
            },
            max_intset: 512,
        }
    }

    /// A canonical, comparable form of a value (aggregates sorted where unordered).
    fn canon(v: &Value) -> (u8, Vec<Vec<u8>>) {
        let mut s = itoa::Buffer::new();
        match v {
            Value::Str(x) => (1, vec![x.to_vec()]),
            Value::List(l) => (2, l.iter().map(|i| i.to_vec()).collect()),
            Value::Hash(h) => {
                let mut p: Vec<Vec<u8>> = h.iter().map(|(f, v)| [f, b"=", v].concat()).collect();
                p.sort();
                (3, p)
            }
            Value::Set(x) => {
                let mut p: Vec<Vec<u8>> = x.iter().map(|m| m.bytes(&mut s).to_vec()).collect();
                p.sort();
                (4, p)
            }
            Value::ZSet(z) => (
                5,
                z.iter()
                    .map(|(m, sc)| [m, &sc.to_bits().to_le_bytes()[..]].concat())
                    .collect(),
            ),
            Value::Stream(st) => {
                let mut out = Vec::new();
                encode_stream(&mut out, st);
                (6, vec![out])
            }
        }
    }

    fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let items = proptest::collection::vec(arb_bytes(), 0..200);
        let lim = limits();
        prop_oneof![
            arb_bytes().prop_map(|b| Value::Str(StrValue::from_bytes(&b))),
            items.prop_map(|v| {
                let mut l = List::new();
                for i in &v {
                    l.push(End::Right, i);
                }
                Value::List(Box::new(l))
            }),
            proptest::collection::vec((arb_bytes(), arb_bytes()), 1..200).prop_map(move |v| {
                let mut h = HashValue::default();
                for (f, x) in &v {
                    h.set(f, x, lim.hash);
                }
                Value::Hash(Box::new(h))
            }),
            proptest::collection::vec(arb_bytes(), 1..200).prop_map(move |v| {
                let mut s = SetValue::for_first(&v[0]);
                for m in &v {
                    s.add(Member::parse(m), lim.max_intset);
                }
                Value::Set(Box::new(s))
            }),
            proptest::collection::vec((arb_bytes(), -1e9f64..1e9), 1..200).prop_map(move |v| {
                let mut z = ZSet::new(lim.zset, v[0].0.len());
                for (m, sc) in &v {
                    z.set(m, *sc, lim.zset);
                }
                Value::ZSet(Box::new(z))
            }),
            (
                proptest::collection::vec(
                    (1u64..4, arb_bytes(), arb_bytes(), any::<bool>()),
                    0..300
                ),
                any::<u8>()
            )
                .prop_map(|(v, ack_every)| {
                    let mut s = Stream::default();
                    let mut ms = 0;
                    let mut g = Group::new(StreamId::MIN, Some(0));
                    for (i, (step, f, x, del)) in v.iter().enumerate() {
                        ms += step;
                        let id = StreamId { ms, seq: i as u64 };
                        s.append(id, &[(f, x), (b"k", b"v")]).expect("ascending");
                        g.deliver(id, if *del { b"a" } else { b"b" }, ms);
                        if *del {
                            s.delete(&[id]);
                        }
                        if ack_every != 0 && i % usize::from(ack_every) == 0 {
                            g.ack(id);
                        }
                    }
                    s.groups.insert(b"g"[..].into(), g);
                    Value::Stream(Box::new(s))
                }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip(
            entries in proptest::collection::vec(
                (arb_bytes(), arb_value(), proptest::option::of(1u64..u64::MAX), any::<u32>(), any::<bool>()),
                0..8,
            )
        ) {
            let mut out = Vec::new();
            for (k, v, exp, flags, dead) in &entries {
                if *dead {
                    encode_tombstone(&mut out, k);
                } else {
                    let mut e = Entry::new(k, v.clone(), 0).with_expire(*exp);
                    e.set_mc_flags(*flags);
                    encode_entry(&mut out, &e);
                }
            }
            let mut buf = &out[..];
            for (k, v, exp, flags, dead) in &entries {
                let r = decode(&mut buf, &limits()).expect("decodes").expect("a record");
                prop_assert_eq!(&r.key, k);
                match r.value {
                    None => prop_assert!(*dead),
                    Some((got, e, f)) => {
                        prop_assert!(!*dead);
                        prop_assert_eq!(canon(&got), canon(v));
                        prop_assert_eq!(got.type_name(), v.type_name());
                        prop_assert_eq!(e, *exp);
                        prop_assert_eq!(f, *flags);
                    }
                }
            }
            prop_assert!(decode(&mut buf, &limits()).expect("end").is_none());
        }

        /// Any truncation or garbage is an error, never a panic.
        #[test]
        fn corrupt_input_is_an_error(v in arb_value(), cut in any::<prop::sample::Index>(), junk in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            encode_entry(&mut out, &Entry::new(b"k", v, 0));
            let cut = cut.index(out.len());
            let mut buf = &out[..cut];
            prop_assert!(decode(&mut buf, &limits()).is_err() || cut == 0);
            let mut buf = &junk[..];
            while let Ok(Some(_)) = decode(&mut buf, &limits()) {}
        }
    }

    #[test]
    fn encodings_follow_the_receiver() {
        let mut out = Vec::new();
        encode_entry(
            &mut out,
            &Entry::new(b"n", Value::Str(StrValue::from_bytes(b"42")), 0),
        );
        let r = decode(&mut &out[..], &limits())
            .expect("ok")
            .expect("record");
        let (v, _, _) = r.value.expect("live");
        assert_eq!(v.encoding(), "int");
        assert_eq!(
            decode(
                &mut &[1u8, 0, 0, 0, b'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9][..],
                &limits()
            )
            .err(),
            Some(DecodeError::UnknownType(9))
        );
    }
}
