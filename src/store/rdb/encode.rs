//! Writes a value as a DUMP payload that redis-server 7.0 RESTOREs: strings
//! as `RDB_TYPE_STRING`, lists as `RDB_TYPE_LIST_QUICKLIST_2` of listpack
//! nodes (compressed whole, as Redis writes them), intsets as
//! `RDB_TYPE_SET_INTSET`, other sets as `RDB_TYPE_SET`, sorted sets as
//! `RDB_TYPE_ZSET_2`, hashes as `RDB_TYPE_HASH` (Redis picks its compact
//! encodings on load by its own limits) and streams as
//! `RDB_TYPE_STREAM_LISTPACKS_2` with listpack nodes laid out as Redis'.

use super::decode::STREAM_FLAG_SAMEFIELDS;
use super::listpack::Builder;
use super::{finish, types, write_len, write_string};
use crate::store::set::SetValue;
use crate::store::stream::{Stream, StreamEntry, StreamId};
use crate::store::Value;

/// Entries per stream node (`stream-node-max-entries` default).
const NODE_MAX_ENTRIES: usize = 100;
/// Bytes per stream node (`stream-node-max-bytes` default).
const NODE_MAX_BYTES: usize = 4096;

/// The DUMP payload of `value` (type byte, object, version, checksum).
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut num = itoa::Buffer::new();
    match value {
        Value::Str(s) => {
            out.push(types::STRING);
            write_string(&mut out, s.as_bytes(&mut num));
        }
        Value::List(l) => {
            out.push(types::LIST_QUICKLIST_2);
            let nodes = list_nodes(l.iter());
            write_len(&mut out, nodes.len() as u64);
            for node in &nodes {
                write_len(&mut out, QUICKLIST_PACKED);
                write_string(&mut out, node);
            }
        }
        Value::Set(s) => match &**s {
            SetValue::Intset(v) => {
                out.push(types::SET_INTSET);
                write_string(&mut out, &intset(v));
            }
            SetValue::Table(_) => {
                out.push(types::SET);
                write_len(&mut out, s.len() as u64);
                for m in s.iter() {
                    write_string(&mut out, m.bytes(&mut num));
                }
            }
        },
        Value::ZSet(z) => {
            out.push(types::ZSET_2);
            write_len(&mut out, z.len() as u64);
            for (m, score) in z.iter() {
                write_string(&mut out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Hash(h) => {
            out.push(types::HASH);
            write_len(&mut out, h.len() as u64);
            for (f, v) in h.iter() {
                write_string(&mut out, f);
                write_string(&mut out, v);
            }
        }
        Value::Stream(s) => {
            out.push(types::STREAM_LISTPACKS_2);
            stream(&mut out, s);
        }
    }
    finish(out)
}

/// Quicklist node container: a listpack.
const QUICKLIST_PACKED: u64 = 2;
/// Bytes per list node (`list-max-listpack-size -2`, Redis' default).
const LIST_NODE_BYTES: usize = 8192;

/// A list's elements as listpack nodes of up to 8 KB (one element per node
/// at least), like Redis' quicklist.
fn list_nodes<'a>(items: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut nodes = Vec::new();
    let mut lp = Builder::new();
    for item in items {
        // An element adds its bytes plus at most 11 of encoding and back-length.
        if !lp.is_empty() && lp.size() + item.len() + 11 > LIST_NODE_BYTES {
            nodes.push(std::mem::take(&mut lp).finish());
        }
        lp.item(item);
    }
    if !lp.is_empty() {
        nodes.push(lp.finish());
    }
    nodes
}

/// Redis' intset blob: the narrowest width holding every member, the count,
/// then the members ascending, little-endian.
fn intset(v: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| v.iter().all(|n| (lo..=hi).contains(n));
    let width: u32 = if fits(i16::MIN.into(), i16::MAX.into()) {
        2
    } else if fits(i32::MIN.into(), i32::MAX.into()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + v.len() * width as usize);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for &n in v {
        out.extend_from_slice(&n.to_le_bytes()[..width as usize]);
    }
    out
}

/// Appends a stream ID as two RDB lengths.
fn len_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

/// A stream ID as 16 big-endian bytes.
fn raw_id(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_be_bytes());
    b[8..].copy_from_slice(&id.seq.to_be_bytes());
    b
}

/// One listpack node of `entries` (non-empty), keyed by the first entry's ID
/// and using its field names as the master fields.
fn stream_node(entries: &[StreamEntry<'_>]) -> (StreamId, Vec<u8>) {
    let master = entries[0].id;
    let names: Vec<&[u8]> = entries[0].fields.iter().map(|(f, _)| *f).collect();
    let mut lp = Builder::new();
    lp.int(entries.len() as i64);
    lp.int(0);
    lp.int(names.len() as i64);
    for f in &names {
        lp.str(f);
    }
    lp.int(0);
    for e in entries {
        let same =
            e.fields.len() == names.len() && e.fields.iter().zip(&names).all(|((f, _), n)| f == n);
        lp.int(if same { STREAM_FLAG_SAMEFIELDS } else { 0 });
        lp.int(e.id.ms.wrapping_sub(master.ms) as i64);
        lp.int(e.id.seq.wrapping_sub(master.seq) as i64);
        if same {
            for (_, v) in &e.fields {
                lp.str(v);
            }
            lp.int(e.fields.len() as i64 + 3);
        } else {
            lp.int(e.fields.len() as i64);
            for (f, v) in &e.fields {
                lp.str(f);
                lp.str(v);
            }
            lp.int(2 * e.fields.len() as i64 + 4);
        }
    }
    (master, lp.finish())
}

/// The body of `RDB_TYPE_STREAM_LISTPACKS_2` (Redis 7.0's `rdbSaveObject`).
fn stream(out: &mut Vec<u8>, s: &Stream) {
    let mut nodes = Vec::new();
    let mut pending: Vec<StreamEntry<'_>> = Vec::new();
    let mut bytes = 0;
    s.range(StreamId::MIN, StreamId::MAX, false, |e| {
        bytes += e
            .fields
            .iter()
            .map(|(f, v)| f.len() + v.len() + 4)
            .sum::<usize>()
            + 8;
        pending.push(e);
        if pending.len() >= NODE_MAX_ENTRIES || bytes >= NODE_MAX_BYTES {
            nodes.push(stream_node(&pending));
            pending.clear();
            bytes = 0;
        }
        true
    });
    if !pending.is_empty() {
        nodes.push(stream_node(&pending));
    }
    write_len(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        write_string(out, &raw_id(*master));
        write_string(out, lp);
    }
    write_len(out, s.len());
    len_id(out, s.last_id);
    len_id(out, s.first_id);
    len_id(out, s.max_deleted);
    write_len(out, s.entries_added);
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        write_string(out, name);
        len_id(out, g.last_id);
        write_len(out, g.entries_read.unwrap_or(u64::MAX));
        write_len(out, g.pel.len() as u64);
        for (id, p) in &g.pel {
            out.extend_from_slice(&raw_id(*id));
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for (cname, c) in &g.consumers {
            write_string(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&raw_id(*id));
            }
        }
    }
}
