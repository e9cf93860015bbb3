//! SORT and SORT_RO (Redis 7.0): sort the elements of a list, set or sorted
//! set numerically or lexicographically, by their own value or by keys
//! built from a `BY` pattern (`*` replaced by the element, `->field` for a
//! hash field), with LIMIT, `GET` patterns (`#` is the element) and STORE
//! into a list. Comparison, tie-breaking, LIMIT arithmetic and error texts
//! follow Redis' `sortCommandGeneric`.
//!
//! BY and GET read arbitrary keys, so the table runs SORT under the
//! exclusive gate: the source is copied out of its slot lock, and the
//! pattern lookups then lock one slot at a time without anybody else
//! writing in between. In cluster mode BY patterns and GET are refused, as
//! Redis 7.0 refuses them.

use std::cmp::Ordering;
use std::sync::atomic::Ordering as AtomicOrdering;

use bytes::Bytes;

use super::ctx::{arg_i64, is, Ctx};
use super::partial_sort::pqsort;
use crate::error::{CmdError, CmdResult};
use crate::store::list::{End, List};
use crate::store::notify::{GENERIC, LIST};
use crate::store::Value;

/// Parsed SORT options.
struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    limit_count: i64,
    store: Option<&'a Bytes>,
    by: Option<&'a [u8]>,
    /// BY names a constant key: no sorting at all.
    dontsort: bool,
    gets: Vec<&'a [u8]>,
}

/// The part of a C string `strchr`/`strstr` see: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |n| &b[..n])
}

fn parse_options<'a>(
    ctx: &Ctx<'_>,
    args: &'a [Bytes],
    readonly: bool,
) -> Result<SortOptions<'a>, CmdError> {
    let cluster = ctx.cluster_enabled();
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit_start: 0,
        limit_count: -1,
        store: None,
        by: None,
        dontsort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < args.len() {
        let a = &args[j];
        let left = args.len() - j - 1;
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            o.limit_start = arg_i64(&args[j + 1])?;
            o.limit_count = arg_i64(&args[j + 2])?;
            j += 2;
        } else if !readonly && is(a, "store") && left >= 1 {
            o.store = Some(&args[j + 1]);
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let pattern = &args[j + 1][..];
            o.by = Some(pattern);
            if !c_str(pattern).contains(&b'*') {
                o.dontsort = true;
            } else if cluster {
                return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if cluster {
                return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
            }
            o.gets.push(&args[j + 1][..]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The value a pattern names for `elem` (`lookupKeyByPattern`): `#` is the
/// element, `*` is replaced by it, `key->field` reads a hash field. None
/// for a pattern without `*`, a missing key or a key of the wrong type.
fn lookup_by_pattern(ctx: &mut Ctx<'_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let visible = c_str(pattern);
    let star = visible.iter().position(|&c| c == b'*')?;
    let arrow = visible[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < visible.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + elem.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let field = arrow.map(|p| &pattern[p + 2..]);
    let k = ctx.key(&key);
    let mut slot = ctx.lock(&k);
    let found = slot.get(&k);
    ctx.hit(found.is_some(), k.bytes);
    match (found?.value(), field) {
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        (Value::Str(s), None) => {
            let mut scratch = itoa::Buffer::new();
            Some(s.as_bytes(&mut scratch).to_vec())
        }
        _ => None,
    }
}

/// A sort weight: C `strtod` must take the whole text up to a NUL, without
/// ERANGE or NaN (Redis' test in `sortCommandGeneric`).
fn sort_weight(text: &[u8]) -> Option<f64> {
    let (v, consumed, erange) = crate::util::c_strtod(text);
    (consumed == c_str(text).len() && !erange && !v.is_nan()).then_some(v)
}

/// One element being sorted.
struct Item {
    elem: Vec<u8>,
    /// Numeric weight (0 when the BY key is missing).
    score: f64,
    /// ALPHA with BY: the BY value (None when missing).
    cmp: Option<Vec<u8>>,
}

/// Redis' `sortCompare`. `collate` compares like `strcoll` in the C locale
/// (up to the first NUL), used when the result is not stored.
fn compare(a: &Item, b: &Item, alpha: bool, by: bool, collate: bool) -> Ordering {
    let text = |x: &[u8], y: &[u8]| {
        if collate {
            c_str(x).cmp(c_str(y))
        } else {
            x.cmp(y)
        }
    };
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.elem.cmp(&b.elem));
    }
    if by {
        return match (&a.cmp, &b.cmp) {
            (Some(x), Some(y)) => text(x, y),
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
        };
    }
    text(&a.elem, &b.elem)
}

/// The elements of the value to sort, in its own order; WRONGTYPE for a
/// type SORT does not take. The second field is true for sets.
fn source_elements(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<(Vec<Vec<u8>>, bool), CmdError> {
    let k = ctx.key(key);
    let mut slot = ctx.lock(&k);
    let entry = slot.get(&k);
    ctx.hit(entry.is_some(), k.bytes);
    let Some(entry) = entry else {
        return Ok((Vec::new(), false));
    };
    Ok(match entry.value() {
        Value::List(l) => (l.iter().map(<[u8]>::to_vec).collect(), false),
        Value::ZSet(z) => (z.iter().map(|(m, _)| m.to_vec()).collect(), false),
        Value::Set(s) => {
            let mut scratch = itoa::Buffer::new();
            let elems = s.iter().map(|m| m.bytes(&mut scratch).to_vec()).collect();
            (elems, true)
        }
        _ => return Err(CmdError::WrongType),
    })
}

/// Shared body of SORT and SORT_RO.
fn sort_generic(ctx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    let mut o = parse_options(ctx, args, readonly)?;
    let (elems, is_set) = source_elements(ctx, &args[1])?;
    let in_script = ctx
        .shared
        .script_run
        .started_ms
        .load(AtomicOrdering::Acquire)
        != 0;
    // An unsorted set would come out in hash order: stored or scripted
    // results must be deterministic, so Redis sorts them alphabetically.
    if o.dontsort && is_set && (o.store.is_some() || in_script) {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elems.len() as i64;
    let mut start = o.limit_start.max(0);
    let mut end = if o.limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(o.limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            cmp: None,
        })
        .collect();
    if o.dontsort {
        // Lists and sorted sets keep their order, read from the tail for DESC.
        if o.desc && !is_set {
            items.reverse();
        }
    } else {
        let mut bad_weight = false;
        for item in &mut items {
            let weight = match o.by {
                Some(pattern) => match lookup_by_pattern(ctx, pattern, &item.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.cmp = Some(weight);
                }
            } else {
                match sort_weight(&weight) {
                    Some(v) => item.score = v,
                    None => bad_weight = true,
                }
            }
        }
        if bad_weight {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let (alpha, by, collate, desc) = (o.alpha, o.by.is_some(), o.store.is_none(), o.desc);
        let order = |a: &Item, b: &Item| {
            let c = compare(a, b, alpha, by, collate);
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        // Redis partially sorts with BY and a LIMIT (pqsort, whose tie
        // order this reproduces) and otherwise calls glibc's qsort, a
        // stable merge sort.
        if by && (start != 0 || end != len - 1) {
            pqsort(&mut items, start, end, &order);
        } else {
            items.sort_by(order);
        }
    }
    let picked: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    match o.store {
        None => {
            let per = o.gets.len().max(1);
            let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(picked.len() * per);
            for item in picked {
                if o.gets.is_empty() {
                    values.push(Some(item.elem.clone()));
                }
                for pattern in &o.gets {
                    values.push(lookup_by_pattern(ctx, pattern, &item.elem));
                }
            }
            ctx.out.array_len(values.len());
            for v in values {
                match v {
                    Some(v) => ctx.out.bulk(&v),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dst) => {
            let mut list = List::new();
            for item in picked {
                if o.gets.is_empty() {
                    list.push(End::Right, &item.elem);
                }
                for pattern in &o.gets {
                    let v = lookup_by_pattern(ctx, pattern, &item.elem).unwrap_or_default();
                    list.push(End::Right, &v);
                }
            }
            let n = list.len();
            let k = ctx.key(dst);
            let mut slot = ctx.lock(&k);
            if n > 0 {
                slot.set(&k, Value::List(Box::new(list)), false, ctx.lru_stamp());
                slot.notify(LIST, "sortstore", k.bytes);
            } else if slot.remove(&k).is_some() {
                slot.notify(GENERIC, "del", k.bytes);
            }
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE destination]
pub fn sort(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
pub fn sort_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    sort_generic(ctx, args, true)
}

/// Keys of SORT: the sorted key and the (last) STORE destination, found
/// like Redis' `sortGetKeys` (which skips the arguments of LIMIT, GET and
/// BY, but not STORE's).
pub fn sort_keys(args: &[Bytes]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut stored = None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        let skip = if is(a, "limit") {
            2
        } else if is(a, "get") || is(a, "by") {
            1
        } else {
            if is(a, "store") && i + 1 < args.len() {
                stored = Some(i + 1);
            }
            0
        };
        i += skip + 1;
    }
    keys.extend(stored);
    keys
}

/// Keys of SORT_RO: the sorted key only (Redis' `sortROGetKeys`, which
/// makes SORT_RO a movable-keys command like SORT).
pub fn sort_ro_keys(_args: &[Bytes]) -> Vec<usize> {
    vec![1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_strtod() {
        assert_eq!(sort_weight(b"1.5"), Some(1.5));
        assert_eq!(sort_weight(b" 2"), Some(2.0));
        assert_eq!(sort_weight(b""), Some(0.0));
        assert_eq!(sort_weight(b"0x10"), Some(16.0));
        assert_eq!(sort_weight(b"1\x00junk"), Some(1.0));
        assert_eq!(sort_weight(b"1e400"), None);
        assert_eq!(sort_weight(b"nan"), None);
        assert_eq!(sort_weight(b"2 "), None);
        assert_eq!(sort_weight(b"abc"), None);
    }

    #[test]
    fn store_key_is_found_past_other_options() {
        let args: Vec<Bytes> = [
            "sort", "k", "by", "store", "limit", "0", "1", "store", "dst",
        ]
        .iter()
        .map(|s| Bytes::from(s.to_string()))
        .collect();
        assert_eq!(sort_keys(&args), vec![1, 8]);
    }
}
