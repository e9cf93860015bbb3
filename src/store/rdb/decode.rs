//! Reads a RESTORE payload into a value, following Redis 7.0's
//! `rdbLoadObject` for every object type it loads, with its checks: empty
//! values, duplicate members or fields, NaN scores and broken compact
//! encodings are refused (`Bad data format`). The checks Redis only makes
//! under `sanitize-dump-payload` (duplicates inside listpacks and ziplists,
//! intset order, stream PEL entries without a consumer) are made when
//! `Options::deep` is set; without it such payloads still restore, into a
//! consistent value (the last duplicate wins, an orphan PEL entry is
//! dropped), where Redis would keep a corrupt object. Structural damage is
//! refused either way, since ringcache never keeps bytes it cannot read.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::listpack::{self, Item};
use super::{types, verify, ziplist, RdbError, RdbResult, Reader};
use crate::store::hash::{HashLimits, HashValue};
use crate::store::list::{End, List};
use crate::store::set::{Member, SetValue};
use crate::store::stream::{Consumer, Group, Pending, Stream, StreamId};
use crate::store::zset::{ZSet, ZsetLimits};
use crate::store::{StrValue, Value};

/// Stream record flag: the entry was deleted.
pub(super) const STREAM_FLAG_DELETED: i64 = 1;
/// Stream record flag: the entry uses the node's master field names.
pub(super) const STREAM_FLAG_SAMEFIELDS: i64 = 2;

/// How values are built and checked.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Compact-encoding limits of hashes.
    pub hash: HashLimits,
    /// Compact-encoding limits of sorted sets.
    pub zset: ZsetLimits,
    /// `set-max-intset-entries`.
    pub max_intset: usize,
    /// Deep sanitization (`sanitize-dump-payload yes`, or `clients` for a client).
    pub deep: bool,
}

fn bad(why: &'static str) -> RdbError {
    RdbError::BadFormat(why)
}

/// Checks `payload`'s footer and reads the value it holds.
pub fn decode(payload: &[u8], opts: &Options) -> RdbResult<Value> {
    verify(payload)?;
    let mut r = Reader::new(payload);
    let t = r.byte().ok_or(bad("type"))?;
    match t {
        types::STRING => {
            let s = r.string().ok_or(bad("string"))?;
            Ok(Value::Str(StrValue::from_bytes(&s)))
        }
        types::LIST => {
            let n = r.plain_len().ok_or(bad("list length"))?;
            let mut l = List::new();
            for _ in 0..n {
                l.push(End::Right, &r.string().ok_or(bad("list element"))?);
            }
            list_value(l)
        }
        types::LIST_ZIPLIST => {
            let data = r.string().ok_or(bad("ziplist"))?;
            let items = ziplist::parse(&data, opts.deep).ok_or(bad("ziplist integrity"))?;
            let mut l = List::new();
            push_items(&mut l, &items);
            list_value(l)
        }
        types::LIST_QUICKLIST | types::LIST_QUICKLIST_2 => quicklist(&mut r, t, opts.deep),
        types::SET => {
            let n = r.plain_len().ok_or(bad("set length"))?;
            let mut set: Option<SetValue> = None;
            for _ in 0..n {
                let m = r.string().ok_or(bad("set member"))?;
                let s = set.get_or_insert_with(|| SetValue::for_first(&m));
                if !s.add(Member::parse(&m), opts.max_intset) {
                    return Err(bad("duplicate set member"));
                }
            }
            set.map(|s| Value::Set(Box::new(s))).ok_or(bad("empty set"))
        }
        types::SET_INTSET => intset(&mut r, opts),
        types::ZSET | types::ZSET_2 => {
            let n = r.plain_len().ok_or(bad("zset length"))?;
            let mut z: Option<ZSet> = None;
            for _ in 0..n {
                let m = r.string().ok_or(bad("zset member"))?;
                let score = if t == types::ZSET_2 {
                    f64::from_bits(r.u64_le().ok_or(bad("zset score"))?)
                } else {
                    text_double(&mut r).ok_or(bad("zset score"))?
                };
                if score.is_nan() {
                    return Err(bad("NaN score"));
                }
                let zs = z.get_or_insert_with(|| ZSet::new(opts.zset, m.len()));
                if zs.score(&m).is_some() {
                    return Err(bad("duplicate zset member"));
                }
                zs.set(&m, score, opts.zset);
            }
            z.map(|z| Value::ZSet(Box::new(z))).ok_or(bad("empty zset"))
        }
        types::ZSET_ZIPLIST | types::ZSET_LISTPACK => {
            let data = r.string().ok_or(bad("zset blob"))?;
            let items = compact(&data, t == types::ZSET_ZIPLIST, opts.deep)?;
            let pairs = pairs(&items)?;
            let mut z = ZSet::new(opts.zset, pairs[0].0.bytes().len());
            for (m, s) in pairs {
                let m = m.bytes();
                let score = match s {
                    Item::Int(n) => n as f64,
                    Item::Str(b) => strtod(b),
                };
                if score.is_nan() {
                    return Err(bad("NaN score"));
                }
                if opts.deep && z.score(&m).is_some() {
                    return Err(bad("duplicate zset member"));
                }
                z.set(&m, score, opts.zset);
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        types::HASH => {
            let n = r.plain_len().ok_or(bad("hash length"))?;
            let mut h = HashValue::default();
            for _ in 0..n {
                let f = r.string().ok_or(bad("hash field"))?;
                let v = r.string().ok_or(bad("hash value"))?;
                if !h.set(&f, &v, opts.hash) {
                    return Err(bad("duplicate hash field"));
                }
            }
            hash_value(h)
        }
        types::HASH_ZIPLIST | types::HASH_LISTPACK => {
            let data = r.string().ok_or(bad("hash blob"))?;
            let items = compact(&data, t == types::HASH_ZIPLIST, opts.deep)?;
            let mut h = HashValue::default();
            for (f, v) in pairs(&items)? {
                if !h.set(&f.bytes(), &v.bytes(), opts.hash) && opts.deep {
                    return Err(bad("duplicate hash field"));
                }
            }
            hash_value(h)
        }
        types::HASH_ZIPMAP => {
            let data = r.string().ok_or(bad("zipmap"))?;
            let mut h = HashValue::default();
            for (f, v) in zipmap(&data).ok_or(bad("zipmap integrity"))? {
                if !h.set(f, v, opts.hash) {
                    return Err(bad("zipmap with duplicate fields"));
                }
            }
            hash_value(h)
        }
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 => stream(&mut r, t, opts),
        _ => Err(bad("unknown type")),
    }
}

fn list_value(l: List) -> RdbResult<Value> {
    if l.is_empty() {
        return Err(bad("empty list"));
    }
    Ok(Value::List(Box::new(l)))
}

fn hash_value(h: HashValue) -> RdbResult<Value> {
    if h.is_empty() {
        return Err(bad("empty hash"));
    }
    Ok(Value::Hash(Box::new(h)))
}

fn push_items(l: &mut List, items: &[Item<'_>]) {
    for it in items {
        l.push(End::Right, &it.bytes());
    }
}

/// The elements of a ziplist or listpack blob.
fn compact(data: &[u8], zip: bool, deep: bool) -> RdbResult<Vec<Item<'_>>> {
    let items = if zip {
        ziplist::parse(data, deep)
    } else {
        listpack::parse(data, deep)
    };
    items.ok_or(bad("compact encoding integrity"))
}

/// Consecutive pairs of a hash or sorted-set blob (never empty, never odd).
fn pairs<'a>(items: &[Item<'a>]) -> RdbResult<Vec<(Item<'a>, Item<'a>)>> {
    if items.is_empty() || !items.len().is_multiple_of(2) {
        return Err(bad("odd or empty pair list"));
    }
    Ok(items.chunks_exact(2).map(|p| (p[0], p[1])).collect())
}

/// The pairs of a zipmap (hashes written before Redis 2.6), validated as
/// Redis' `zipmapValidateIntegrity` does deeply (which it always does for
/// them): `<count><len>field<len><free>value[free bytes]...<255>`, lengths
/// in one byte below 254, else 254 (or 255 for a value) and 4 bytes LE.
fn zipmap(zm: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    const BIGLEN: u8 = 254;
    const END: u8 = 255;
    let size = zm.len();
    if size < 2 || zm[size - 1] != END {
        return None;
    }
    let in_range = |p: usize| p >= 2 && p < size;
    let len_at = |p: usize| -> Option<(usize, usize)> {
        let b = *zm.get(p)?;
        if b < BIGLEN {
            return Some((usize::from(b), 1));
        }
        let n = u32::from_le_bytes(zm.get(p + 1..p + 5)?.try_into().ok()?);
        Some((usize::try_from(n).ok()?, 5))
    };
    let mut pairs = Vec::new();
    let mut p = 1;
    while *zm.get(p)? != END {
        let (flen, s) = len_at(p)?;
        if !in_range(p + s) {
            return None;
        }
        let field = zm.get(p + s..p + s + flen)?;
        p = p.checked_add(s + flen)?;
        if !in_range(p) {
            return None;
        }
        let (vlen, s) = len_at(p)?;
        if !in_range(p + s) {
            return None;
        }
        let free = usize::from(*zm.get(p + s)?);
        let value = zm.get(p + s + 1..p + s + 1 + vlen)?;
        p = p.checked_add(s + 1 + vlen + free)?;
        if !in_range(p) {
            return None;
        }
        pairs.push((field, value));
    }
    let declared = zm[0];
    if pairs.is_empty() || (declared != BIGLEN && usize::from(declared) != pairs.len()) {
        return None;
    }
    Some(pairs)
}

/// A listpack score read as Redis' `zzlStrtod` does: C `strtod` of at
/// most 127 bytes, the longest prefix that is a number (0 when none).
/// Hexadecimal forms, which Redis never writes, read as their leading `0`.
fn strtod(b: &[u8]) -> f64 {
    let b = &b[..b.len().min(127)];
    let start = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let s = &b[start..];
    let sign = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    let word = |w: &str| {
        s.len() >= sign + w.len() && s[sign..sign + w.len()].eq_ignore_ascii_case(w.as_bytes())
    };
    let neg = s.first() == Some(&b'-');
    if word("inf") {
        return if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    if word("nan") {
        return f64::NAN;
    }
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int = digits(sign);
    let mut end = sign + int;
    let mut frac = 0;
    if s.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if int + frac > 0 {
            end += 1 + frac;
        }
    }
    if int + frac == 0 {
        return 0.0;
    }
    if matches!(s.get(end), Some(b'e' | b'E')) {
        let esign = usize::from(matches!(s.get(end + 1), Some(b'+' | b'-')));
        let exp = digits(end + 1 + esign);
        if exp > 0 {
            end += 1 + esign + exp;
        }
    }
    std::str::from_utf8(&s[..end])
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

/// A score written as text (`rdbLoadDoubleValue`: a length byte, 253-255
/// for NaN and the infinities).
fn text_double(r: &mut Reader<'_>) -> Option<f64> {
    match r.byte()? {
        253 => Some(f64::NAN),
        254 => Some(f64::INFINITY),
        255 => Some(f64::NEG_INFINITY),
        n => {
            let s = std::str::from_utf8(r.take(usize::from(n))?).ok()?;
            s.trim().parse().ok()
        }
    }
}

/// A quicklist (v1: ziplist nodes; v2: a container kind per node, plain or
/// listpack). Empty nodes are skipped, an empty list is refused.
fn quicklist(r: &mut Reader<'_>, t: u8, deep: bool) -> RdbResult<Value> {
    const PLAIN: usize = 1;
    const PACKED: usize = 2;
    let nodes = r.plain_len().ok_or(bad("quicklist length"))?;
    let mut l = List::new();
    for _ in 0..nodes {
        let container = if t == types::LIST_QUICKLIST_2 {
            r.plain_len().ok_or(bad("quicklist container"))?
        } else {
            PACKED
        };
        let data = r.string().ok_or(bad("quicklist node"))?;
        match container {
            PLAIN => l.push(End::Right, &data),
            PACKED => push_items(&mut l, &compact(&data, t == types::LIST_QUICKLIST, deep)?),
            _ => return Err(bad("quicklist container kind")),
        }
    }
    list_value(l)
}

/// An intset blob: width (2, 4 or 8), count, then the sorted members.
fn intset(r: &mut Reader<'_>, opts: &Options) -> RdbResult<Value> {
    let data = r.string().ok_or(bad("intset blob"))?;
    let word = |at: usize| {
        data.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let (width, count) = word(0).zip(word(4)).ok_or(bad("intset header"))?;
    let width = match width {
        2 | 4 | 8 => width as usize,
        _ => return Err(bad("intset width")),
    };
    let count = count as usize;
    if count == 0 || count.checked_mul(width).and_then(|n| n.checked_add(8)) != Some(data.len()) {
        return Err(bad("intset size"));
    }
    let mut set = SetValue::Intset(Vec::new());
    let mut prev: Option<i64> = None;
    for c in data[8..].chunks_exact(width) {
        let n = match width {
            2 => i64::from(i16::from_le_bytes([c[0], c[1]])),
            4 => i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        };
        if opts.deep && prev.is_some_and(|p| p >= n) {
            return Err(bad("intset order"));
        }
        prev = Some(n);
        set.add(Member::Int(n), opts.max_intset);
    }
    Ok(Value::Set(Box::new(set)))
}

/// A stream ID as 16 big-endian bytes (node keys, PEL entries).
fn raw_id(r: &mut Reader<'_>) -> Option<StreamId> {
    Some(StreamId {
        ms: r.u64_be()?,
        seq: r.u64_be()?,
    })
}

/// A stream ID as two RDB lengths.
fn len_id(r: &mut Reader<'_>) -> Option<StreamId> {
    Some(StreamId {
        ms: r.plain_u64()?,
        seq: r.plain_u64()?,
    })
}

/// The largest stream counter or time kept as loaded (`i64::MAX`).
const SIGNED_MAX: u64 = i64::MAX as u64;

/// A group PEL entry being loaded: delivery time, delivery count, and the
/// consumer once one claims it.
type LoadedNack = (u64, u64, Option<Box<[u8]>>);

/// One live stream entry read from a node.
type RawEntry<'a> = (StreamId, Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>);

/// The live entries of one stream node (listpack) keyed by `master`, in
/// the layout of Redis' t_stream.c: a master entry (count, deleted,
/// field names, 0), then per record flags, ID deltas, fields or values
/// only, and the record's element count.
fn stream_node<'a>(
    master: StreamId,
    items: &[Item<'a>],
    out: &mut Vec<RawEntry<'a>>,
) -> Option<()> {
    let mut it = items.iter().copied();
    let int = |it: &mut dyn Iterator<Item = Item<'a>>| it.next()?.int();
    let count = int(&mut it)?;
    let deleted = int(&mut it)?;
    let nf = usize::try_from(int(&mut it)?).ok()?;
    if count < 0 || deleted < 0 || nf > items.len() {
        return None;
    }
    let master_fields: Vec<Item<'a>> = it.by_ref().take(nf).collect();
    if master_fields.len() != nf || int(&mut it)? != 0 {
        return None;
    }
    for _ in 0..count.checked_add(deleted)? {
        let flags = int(&mut it)?;
        let id = StreamId {
            ms: master.ms.wrapping_add(int(&mut it)? as u64),
            seq: master.seq.wrapping_add(int(&mut it)? as u64),
        };
        let mut fields = Vec::new();
        let extra = if flags & STREAM_FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                fields.push((f.bytes(), it.next()?.bytes()));
            }
            3
        } else {
            let n = usize::try_from(int(&mut it)?).ok()?;
            if n > items.len() {
                return None;
            }
            for _ in 0..n {
                fields.push((it.next()?.bytes(), it.next()?.bytes()));
            }
            3 + n + 1
        };
        let lp_count = usize::try_from(int(&mut it)?).ok()?;
        if lp_count != fields.len() + extra {
            return None;
        }
        if flags & STREAM_FLAG_DELETED == 0 {
            out.push((id, fields));
        }
    }
    it.next().is_none().then_some(())
}

/// A stream (`RDB_TYPE_STREAM_LISTPACKS` and `_2`): nodes, metadata, then
/// consumer groups with their PELs and consumers.
fn stream(r: &mut Reader<'_>, t: u8, opts: &Options) -> RdbResult<Value> {
    let v2 = t == types::STREAM_LISTPACKS_2;
    let nodes = r.plain_u64().ok_or(bad("stream nodes"))?;
    let mut blobs = Vec::new();
    for _ in 0..nodes {
        let key = r.string().ok_or(bad("stream node key"))?;
        if key.len() != 16 {
            return Err(bad("stream node key size"));
        }
        let master = raw_id(&mut Reader::new(&key)).ok_or(bad("stream node key"))?;
        let lp = r.string().ok_or(bad("stream node"))?;
        blobs.push((master, lp));
    }
    let mut entries = Vec::new();
    let mut masters = BTreeSet::new();
    for (master, lp) in &blobs {
        let items = listpack::parse(lp, false).ok_or(bad("stream listpack integrity"))?;
        if items.is_empty() || !masters.insert(*master) {
            return Err(bad("empty or repeated stream node"));
        }
        stream_node(*master, &items, &mut entries).ok_or(bad("stream node layout"))?;
    }
    let length = r.plain_u64().ok_or(bad("stream length"))?;
    let last_id = len_id(r).ok_or(bad("stream last ID"))?;
    let (max_deleted, entries_added) = if v2 {
        len_id(r).ok_or(bad("stream first ID"))?;
        let max_deleted = len_id(r).ok_or(bad("stream max deleted ID"))?;
        (
            max_deleted,
            Some(r.plain_u64().ok_or(bad("stream offset"))?),
        )
    } else {
        (StreamId::MIN, None)
    };
    if length > 0 && blobs.is_empty() {
        return Err(bad("stream length without nodes"));
    }
    entries.sort_by_key(|e| e.0);
    let mut s = Stream::default();
    for (id, fields) in &entries {
        let refs: Vec<(&[u8], &[u8])> = fields.iter().map(|(f, v)| (&**f, &**v)).collect();
        s.append(*id, &refs).map_err(|_| bad("stream entry IDs"))?;
    }
    // Keep the stream's invariants whatever the metadata claims.
    s.last_id = s.last_id.max(last_id);
    s.max_deleted = max_deleted;
    s.entries_added = entries_added.unwrap_or(s.len()).max(s.len());
    let groups = r.plain_u64().ok_or(bad("stream groups"))?;
    for _ in 0..groups {
        let name = r.string().ok_or(bad("group name"))?;
        let gid = len_id(r).ok_or(bad("group ID"))?;
        // Redis keeps these counters and times as signed 64-bit numbers
        // (-1: an unknown read counter): larger values are clamped, so that
        // later arithmetic on them cannot overflow.
        let read = if v2 {
            let n = r.plain_u64().ok_or(bad("group offset"))?;
            (n <= SIGNED_MAX).then_some(n)
        } else {
            s.distance_from_first(gid)
        };
        let mut g = Group::new(gid, read);
        let mut owners: BTreeMap<StreamId, LoadedNack> = BTreeMap::new();
        let pel = r.plain_u64().ok_or(bad("group PEL size"))?;
        for _ in 0..pel {
            let id = raw_id(r).ok_or(bad("PEL ID"))?;
            let time = r.u64_le().ok_or(bad("PEL time"))?.min(SIGNED_MAX);
            let count = r.plain_u64().ok_or(bad("PEL count"))?.min(SIGNED_MAX);
            if owners.insert(id, (time, count, None)).is_some() {
                return Err(bad("duplicate group PEL entry"));
            }
        }
        let consumers = r.plain_u64().ok_or(bad("consumers"))?;
        for _ in 0..consumers {
            let cname: Box<[u8]> = (*r.string().ok_or(bad("consumer name"))?).into();
            let seen_time = r.u64_le().ok_or(bad("consumer seen time"))?.min(SIGNED_MAX);
            let mut c = Consumer {
                seen_time,
                pel: BTreeSet::new(),
            };
            let n = r.plain_u64().ok_or(bad("consumer PEL size"))?;
            for _ in 0..n {
                let id = raw_id(r).ok_or(bad("consumer PEL ID"))?;
                let owner = owners
                    .get_mut(&id)
                    .ok_or(bad("consumer entry not in group PEL"))?;
                if !c.pel.insert(id) {
                    return Err(bad("duplicate consumer PEL entry"));
                }
                // An entry claimed by a second consumer moves to it, as in Redis.
                if let Some(prev) = owner.2.replace(cname.clone()) {
                    if let Some(pc) = g.consumers.get_mut(&prev) {
                        pc.pel.remove(&id);
                    }
                }
            }
            if g.consumers.insert(cname, c).is_some() {
                return Err(bad("duplicate consumer"));
            }
        }
        for (id, (delivery_time, delivery_count, owner)) in owners {
            match owner {
                Some(consumer) => {
                    g.pel.insert(
                        id,
                        Pending {
                            consumer,
                            delivery_time,
                            delivery_count,
                        },
                    );
                }
                None if opts.deep => return Err(bad("group PEL entry without consumer")),
                None => {}
            }
        }
        if s.groups.insert((*name).into(), g).is_some() {
            return Err(bad("duplicate group"));
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listpack_scores_read_like_strtod() {
        for (text, want) in [
            ("1", 1.0),
            ("2.5", 2.5),
            ("-inf", f64::NEG_INFINITY),
            ("+Infinity", f64::INFINITY),
            ("  3e2x", 300.0),
            ("1e", 1.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("v1", 0.0),
            ("", 0.0),
            ("-", 0.0),
            ("12abc", 12.0),
        ] {
            assert_eq!(strtod(text.as_bytes()), want, "{text}");
        }
        assert!(strtod(b"nan").is_nan());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Random blobs in every compact encoding never panic the decoder.
        #[test]
        fn random_compact_blobs_never_panic(
            ty in proptest::sample::select(vec![
                types::HASH_ZIPMAP, types::LIST_ZIPLIST, types::SET_INTSET, types::ZSET_ZIPLIST,
                types::HASH_ZIPLIST, types::HASH_LISTPACK, types::ZSET_LISTPACK,
            ]),
            blob in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            deep in proptest::prelude::any::<bool>(),
        ) {
            let mut body = vec![ty];
            super::super::write_string(&mut body, &blob);
            let opts = Options {
                hash: HashLimits { entries: 4, value: 8 },
                zset: ZsetLimits { entries: 4, value: 8 },
                max_intset: 4,
                deep,
            };
            let _ = decode(&super::super::finish(body), &opts);
        }
    }
}
