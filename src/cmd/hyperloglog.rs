//! HyperLogLog commands: PFADD, PFCOUNT and PFMERGE on string values in
//! Redis' exact representation (`store::hll`), so HLL strings move freely
//! between ringcache and redis-server (GET/SET, DUMP-free copies) and the
//! counts agree. Like Redis, PFCOUNT of one key stores the computed
//! cardinality in the string's header (a write, signalled to WATCH), and
//! several keys (one slot in cluster mode) are merged into a temporary.

use bytes::Bytes;

use super::ctx::{is, Ctx};
use super::string::{as_str, as_str_mut};
use crate::error::{CmdError, CmdResult};
use crate::store::hll::{self, HllError};
use crate::store::notify::STRING;
use crate::store::{Entry, Key, StrValue, Value};

impl From<HllError> for CmdError {
    fn from(e: HllError) -> Self {
        CmdError::Other(e.to_string())
    }
}

/// `hll-sparse-max-bytes` from the configuration.
fn sparse_max(ctx: &Ctx<'_>) -> usize {
    ctx.shared.config.read().hll_sparse_max_bytes as usize
}

/// The HLL string of an entry: WRONGTYPE for other types, the HLL-specific
/// WRONGTYPE for strings that are no HLL.
fn checked_hll(e: &Entry) -> Result<&StrValue, CmdError> {
    let s = as_str(e)?;
    let mut b = itoa::Buffer::new();
    hll::check(s.as_bytes(&mut b))?;
    Ok(s)
}

/// The registers of the HLLs at `keys` merged (missing keys are empty), and
/// whether one of them is dense.
fn merged_registers(
    entries: Vec<Option<&Entry>>,
) -> Result<(Box<[u8; hll::REGISTERS]>, bool), CmdError> {
    let mut max = Box::new([0u8; hll::REGISTERS]);
    let mut any_dense = false;
    for e in entries.into_iter().flatten() {
        let mut b = itoa::Buffer::new();
        let s = checked_hll(e)?.as_bytes(&mut b);
        any_dense |= hll::is_dense(s);
        hll::merge_into(&mut max, s)?;
    }
    Ok((max, any_dense))
}

/// PFADD key [element ...]
pub fn pfadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sparse_max = sparse_max(ctx);
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let created = match slot.get(&key) {
        Some(e) => checked_hll(e).map(|_| false)?,
        None => {
            slot.set(
                &key,
                Value::Str(StrValue::raw(hll::new_sparse())),
                false,
                lru,
            );
            true
        }
    };
    let Some(e) = slot.get_mut_quiet(&key) else {
        return Err(CmdError::WrongType);
    };
    let v = as_str_mut(e)?.make_raw();
    let mut updated = false;
    let mut outcome = Ok(());
    for ele in &args[2..] {
        match hll::add(v, ele, sparse_max) {
            Ok(grew) => updated |= grew,
            Err(err) => {
                outcome = Err(err);
                break;
            }
        }
    }
    // A new key counts as updated: its cached cardinality is marked stale too.
    if created || updated {
        hll::invalidate(v);
    }
    if updated {
        slot.signal_modified(&key);
    }
    outcome?;
    if created || updated {
        slot.notify(STRING, "pfadd", key.bytes);
    }
    ctx.out.int(i64::from(created || updated));
    Ok(())
}

/// PFCOUNT key [key ...]
pub fn pfcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        let keys: Vec<Key<'_>> = args[1..].iter().map(|k| ctx.key(k)).collect();
        let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
        let entries = locked.entries(&keys);
        for (k, e) in keys.iter().zip(&entries) {
            ctx.notify_miss(e.is_some(), k.bytes);
        }
        let (max, _) = merged_registers(entries)?;
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let found = slot.get(&key).map(checked_hll).transpose()?.is_some();
    ctx.hit(found, key.bytes);
    let Some(e) = slot.get_mut_quiet(&key) else {
        ctx.out.int(0);
        return Ok(());
    };
    e.touch_access(ctx.now_ms);
    let v = as_str_mut(e)?.make_raw();
    let (card, computed) = match hll::cached_count(v) {
        Some(card) => (card, false),
        None => {
            let card = hll::count(v)?;
            hll::store_count(v, card);
            (card, true)
        }
    };
    if computed {
        slot.signal_modified(&key);
    }
    ctx.out.int(card as i64);
    Ok(())
}

/// PFMERGE destkey [sourcekey ...]
pub fn pfmerge(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sparse_max = sparse_max(ctx);
    let lru = ctx.lru_stamp();
    let keys: Vec<Key<'_>> = args[1..].iter().map(|k| ctx.key(k)).collect();
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    // The destination is merged too (it is the first key).
    let entries = locked.entries(&keys);
    for (k, e) in keys.iter().zip(&entries) {
        ctx.notify_miss(e.is_some(), k.bytes);
    }
    let (max, any_dense) = merged_registers(entries)?;
    let dest = &keys[0];
    let slot = locked.of(dest);
    if slot.get(dest).is_none() {
        slot.set(
            dest,
            Value::Str(StrValue::raw(hll::new_sparse())),
            false,
            lru,
        );
    }
    let Some(e) = slot.get_mut_quiet(dest) else {
        return Err(CmdError::WrongType);
    };
    let v = as_str_mut(e)?.make_raw();
    let written = (|| {
        if any_dense {
            hll::to_dense(v)?;
        }
        for (i, &m) in max.iter().enumerate().filter(|(_, &m)| m != 0) {
            hll::set_register(v, i, m, sparse_max)?;
        }
        hll::invalidate(v);
        Ok::<(), HllError>(())
    })();
    slot.signal_modified(dest);
    written?;
    slot.notify(STRING, "pfadd", dest.bytes);
    ctx.out.ok();
    Ok(())
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key
pub fn pfdebug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[2]);
    let mut slot = ctx.lock(&key);
    match slot.get(&key) {
        Some(e) => {
            checked_hll(e)?;
        }
        None => return Err(CmdError::err("The specified key does not exist")),
    }
    let Some(e) = slot.get_mut_quiet(&key) else {
        return Err(CmdError::WrongType);
    };
    let v = as_str_mut(e)?.make_raw();
    let sub = &args[1];
    if is(sub, "getreg") {
        hll::to_dense(v)?;
        ctx.out.array_len(hll::REGISTERS);
        hll::dense_registers(v).for_each(|r| ctx.out.int(i64::from(r)));
    } else if is(sub, "decode") {
        if hll::is_dense(v) {
            return Err(CmdError::err("HLL encoding is not sparse"));
        }
        ctx.out.bulk(hll::describe_sparse(v).as_bytes());
    } else if is(sub, "encoding") {
        ctx.out
            .simple(if hll::is_dense(v) { "dense" } else { "sparse" });
    } else if is(sub, "todense") {
        let was_sparse = !hll::is_dense(v);
        hll::to_dense(v)?;
        ctx.out.int(i64::from(was_sparse));
    } else {
        return Err(CmdError::err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}
