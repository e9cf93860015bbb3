//! Keyspace commands: DEL, EXISTS, TYPE, TTLs, KEYS/SCAN, RENAME, COPY, MOVE, OBJECT.

use bytes::Bytes;
use rand::Rng;

use super::ctx::{arg_i64, is, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::store::notify::GENERIC;
use crate::store::{Entry, Key, StrValue, Value, SLOTS};
use crate::util::glob_match;

/// DEL / UNLINK key [key ...]
pub fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &args[1..] {
        let key = ctx.key(k);
        if ctx.lock(&key).remove(&key).is_some() {
            ctx.notify(GENERIC, "del", key.bytes);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// EXISTS key [key ...]
pub fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    for k in &args[1..] {
        let key = ctx.key(k);
        let found = ctx.lock(&key).exists(&key);
        ctx.notify_miss(found, key.bytes);
        if found {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// TOUCH key [key ...]
pub fn touch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 0;
    let now = ctx.now_ms;
    for k in &args[1..] {
        let key = ctx.key(k);
        let mut slot = ctx.lock(&key);
        let entry = slot.get_access(&key);
        ctx.notify_miss(entry.is_some(), key.bytes);
        if let Some(e) = entry {
            e.touch_access(now);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// TYPE key
pub fn type_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let t = ctx.lock(&key).get(&key).map(|e| e.value().type_name());
    ctx.notify_miss(t.is_some(), key.bytes);
    let t = t.unwrap_or("none");
    ctx.out.simple(t);
    Ok(())
}

fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    name: &str,
) -> CmdResult {
    let n = arg_i64(&args[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for a in &args[3..] {
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if is(a, "gt") {
            gt = true;
        } else if is(a, "lt") {
            lt = true;
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(a)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| CmdError::InvalidExpire(name.into()))?;
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(ctx.now_ms as i64)
    }
    .ok_or_else(|| CmdError::InvalidExpire(name.into()))?;
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let Some(e) = slot.get(&key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let cur = e.expire_at();
    let allowed = match cur {
        Some(c) => !nx && (!gt || at > c as i64) && (!lt || at < c as i64),
        None => !xx && !gt,
    };
    if !allowed {
        ctx.out.int(0);
        return Ok(());
    }
    if at <= ctx.now_ms as i64 {
        slot.remove(&key);
        ctx.notify(GENERIC, "del", key.bytes);
    } else {
        slot.set_expire(&key, Some(at as u64));
        ctx.notify(GENERIC, "expire", key.bytes);
    }
    ctx.out.int(1);
    Ok(())
}

/// EXPIRE key seconds [NX|XX|GT|LT]
pub fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, false, "expire")
}

/// PEXPIRE key ms [NX|XX|GT|LT]
pub fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, false, "pexpire")
}

/// EXPIREAT key unix-seconds [NX|XX|GT|LT]
pub fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, true, "expireat")
}

/// PEXPIREAT key unix-ms [NX|XX|GT|LT]
pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, true, "pexpireat")
}

fn ttl_generic(ctx: &mut Ctx<'_>, args: &[Bytes], ms: bool, absolute: bool) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let entry = slot.get(&key);
    ctx.notify_miss(entry.is_some(), key.bytes);
    let reply = match entry {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => {
                let t = if absolute {
                    at as i64
                } else {
                    (at as i64 - ctx.now_ms as i64).max(0)
                };
                if ms {
                    t
                } else {
                    (t + 500) / 1000
                }
            }
        },
    };
    ctx.out.int(reply);
    Ok(())
}

/// TTL key
pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, false)
}

/// PTTL key
pub fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, false)
}

/// EXPIRETIME key
pub fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, false, true)
}

/// PEXPIRETIME key
pub fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, true, true)
}

/// PERSIST key
pub fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let had = slot.get(&key).and_then(|e| e.expire_at()).is_some();
    if had {
        slot.set_expire(&key, None);
        ctx.notify(GENERIC, "persist", key.bytes);
    }
    ctx.out.int(had as i64);
    Ok(())
}

/// Live keys of one slot that match `pattern` (and type), appended to `out`.
fn collect_slot(
    ctx: &Ctx<'_>,
    slot: u16,
    pattern: Option<&[u8]>,
    type_filter: Option<&[u8]>,
    out: &mut Vec<Vec<u8>>,
) {
    let mut locked = ctx.store().lock_slot(ctx.client.db, slot, ctx.now_ms);
    let now = ctx.now_ms;
    for e in locked.table().iter() {
        if e.is_expired(now) {
            continue;
        }
        if pattern.is_some_and(|p| !glob_match(p, e.key(), false)) {
            continue;
        }
        if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(e.value().type_name().as_bytes())) {
            continue;
        }
        out.push(e.key().to_vec());
    }
}

/// KEYS pattern
pub fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pat: &[u8] = &args[1];
    let all = pat == b"*";
    let mut out = Vec::new();
    for s in 0..SLOTS as u16 {
        collect_slot(ctx, s, (!all).then_some(pat), None, &mut out);
    }
    ctx.out.bulks(out.iter());
    Ok(())
}

/// Parses a SCAN-family cursor (`ERR invalid cursor`).
pub fn parse_cursor(b: &[u8]) -> Result<u64, CmdError> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]
///
/// The cursor is the next slot to visit; whole slots are returned at a time,
/// so every key present for the whole iteration is returned.
pub fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cursor = parse_cursor(&args[1])?;
    let (mut pattern, mut count, mut type_filter): (Option<&[u8]>, i64, Option<&[u8]>) =
        (None, 10, None);
    let mut i = 2;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(CmdError::Syntax);
        }
        let (a, v) = (&args[i], &args[i + 1]);
        if is(a, "match") {
            pattern = (&v[..] != b"*").then_some(&v[..]);
        } else if is(a, "count") {
            count = arg_i64(v)?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if is(a, "type") {
            type_filter = Some(&v[..]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let mut slot = cursor.min(SLOTS as u64) as usize;
    let mut out = Vec::new();
    let mut visited = 0i64;
    while slot < SLOTS && (out.len() as i64) < count && visited < count.saturating_mul(10) {
        collect_slot(ctx, slot as u16, pattern, type_filter, &mut out);
        slot += 1;
        visited += 1;
    }
    let next = if slot >= SLOTS { 0 } else { slot };
    ctx.out.array_len(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.bulks(out.iter());
    Ok(())
}

/// RANDOMKEY
pub fn randomkey(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let _ = args;
    let db = ctx.client.db;
    let mut rng = rand::rng();
    for _ in 0..100 {
        let start = rng.random_range(0..SLOTS);
        // Probe a few random slots, then fall back to a sweep for sparse databases.
        let found = (0..SLOTS).map(|o| ((start + o) % SLOTS) as u16).find(|&s| {
            let mut l = ctx.store().lock_slot(db, s, ctx.now_ms);
            !l.table().is_empty()
        });
        let Some(s) = found else {
            ctx.out.null();
            return Ok(());
        };
        let mut l = ctx.store().lock_slot(db, s, ctx.now_ms);
        let n = l.table().len();
        if n == 0 {
            continue;
        }
        let pos = rng.random_range(0..n);
        let Some(e) = l.table().at(pos) else { continue };
        let k = e.key().to_vec();
        let key = ctx.key(&k);
        if l.get(&key).is_some() {
            ctx.out.bulk(&k);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

fn rename_generic(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    let src = ctx.key(&args[1]);
    let dst = ctx.key(&args[2]);
    let mut locked = ctx
        .store()
        .lock_many(ctx.client.db, &[src, dst], ctx.now_ms);
    if !locked.of(&src).exists(&src) {
        return Err(CmdError::NoSuchKey);
    }
    if src.bytes == dst.bytes {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if nx && locked.of(&dst).exists(&dst) {
        ctx.out.int(0);
        return Ok(());
    }
    let Some(e) = locked.of(&src).remove(&src) else {
        return Err(CmdError::NoSuchKey);
    };
    let expire = e.expire_at();
    let lru = e.lru();
    let moved = Entry::new(dst.bytes, e.into_value(), lru);
    let dslot = locked.of(&dst);
    dslot.remove(&dst);
    dslot.insert_entry(&dst, moved);
    dslot.set_expire(&dst, expire);
    ctx.notify(GENERIC, "rename_from", src.bytes);
    ctx.notify(GENERIC, "rename_to", dst.bytes);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// RENAME key newkey
pub fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, false)
}

/// RENAMENX key newkey
pub fn renamenx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rename_generic(ctx, args, true)
}

fn parse_db_index(ctx: &Ctx<'_>, b: &[u8]) -> Result<usize, CmdError> {
    let n = arg_i64(b)?;
    if n < 0 || n as usize >= ctx.store().db_count() {
        return Err(CmdError::err("DB index is out of range"));
    }
    Ok(n as usize)
}

/// Copies (or moves) an entry between two (db, key) places under both slot locks.
fn transfer(
    ctx: &Ctx<'_>,
    src_db: usize,
    src: &Key<'_>,
    dst_db: usize,
    dst: &Key<'_>,
    replace: bool,
    remove_src: bool,
) -> bool {
    let store = ctx.store();
    let (now, lru) = (ctx.now_ms, ctx.lru_stamp());
    let same_lock = src_db == dst_db && src.slot == dst.slot;
    let (mut a, mut b_opt) = if same_lock {
        (store.lock_slot(src_db, src.slot, now), None)
    } else if (src_db, src.slot) < (dst_db, dst.slot) {
        let a = store.lock_slot(src_db, src.slot, now);
        let b = store.lock_slot(dst_db, dst.slot, now);
        (a, Some(b))
    } else {
        let b = store.lock_slot(dst_db, dst.slot, now);
        let a = store.lock_slot(src_db, src.slot, now);
        (a, Some(b))
    };
    let Some(e) = a.get(src) else { return false };
    let (value, expire) = (e.value().clone(), e.expire_at());
    let dst_lock = match b_opt.as_mut() {
        Some(b) => b,
        None => &mut a,
    };
    if dst_lock.exists(dst) {
        if !replace {
            return false;
        }
        // Redis deletes the old value and adds the copy (a `new` key).
        dst_lock.remove(dst);
    }
    dst_lock.set(dst, value, false, lru);
    dst_lock.set_expire(dst, expire);
    if remove_src {
        a.remove(src);
        store.notify(src_db, GENERIC, "move_from", src.bytes);
        store.notify(dst_db, GENERIC, "move_to", dst.bytes);
    } else {
        store.notify(dst_db, GENERIC, "copy_to", dst.bytes);
    }
    true
}

/// COPY source destination [DB db] [REPLACE]
pub fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut dst_db = ctx.client.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            dst_db = parse_db_index(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let (src, dst) = (ctx.key(&args[1]), ctx.key(&args[2]));
    if dst_db == ctx.client.db && src.bytes == dst.bytes {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let done = transfer(ctx, ctx.client.db, &src, dst_db, &dst, replace, false);
    if done {
        // The generic wake-up in `call` only covers the client's own database.
        ctx.shared.blocking.signal(dst_db, dst.bytes);
    }
    ctx.out.int(done as i64);
    Ok(())
}

/// MOVE key db
pub fn move_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let dst_db = parse_db_index(ctx, &args[2])?;
    if dst_db == ctx.client.db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let key = ctx.key(&args[1]);
    let done = transfer(ctx, ctx.client.db, &key, dst_db, &key, false, true);
    if done {
        ctx.shared.blocking.signal(dst_db, key.bytes);
    }
    ctx.out.int(done as i64);
    Ok(())
}

/// DBSIZE
pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let n = ctx.store().dbsize(ctx.client.db);
    ctx.out.int(n as i64);
    Ok(())
}

fn with_entry<T>(ctx: &mut Ctx<'_>, key: &[u8], f: impl FnOnce(&Entry) -> T) -> Option<T> {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    slot.get(&key).map(f)
}

/// OBJECT ENCODING key
pub fn object_encoding(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match with_entry(ctx, &args[2], |e| e.value().encoding()) {
        Some(enc) => ctx.out.bulk(enc.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// OBJECT FREQ key
pub fn object_freq(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let policy = ctx.shared.config.read().maxmemory_policy;
    let now = ctx.now_ms;
    let Some(lru) = with_entry(ctx, &args[2], |e| e.lru()) else {
        ctx.out.null();
        return Ok(());
    };
    if !policy.is_lfu() {
        return Err(CmdError::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    let decay = ctx.shared.config.read().lfu_decay_time;
    ctx.out
        .int(crate::store::evict::lfu_decayed(lru, now, decay) as i64);
    Ok(())
}

/// OBJECT IDLETIME key
pub fn object_idletime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let policy = ctx.shared.config.read().maxmemory_policy;
    let now = ctx.now_ms;
    let Some(lru) = with_entry(ctx, &args[2], |e| e.lru()) else {
        ctx.out.null();
        return Ok(());
    };
    if policy.is_lfu() {
        return Err(CmdError::err("An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."));
    }
    ctx.out
        .int(crate::store::evict::idle_ms(lru, now) as i64 / 1000);
    Ok(())
}

/// OBJECT REFCOUNT key
pub fn object_refcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let policy = ctx.shared.config.read().maxmemory_policy;
    let shared_ints = !matches!(policy.name(), n if n.ends_with("lru") || n.ends_with("lfu"));
    match with_entry(
        ctx,
        &args[2],
        |e| matches!(e.value(), Value::Str(StrValue::Int(n)) if (0..10000).contains(n)),
    ) {
        Some(true) if shared_ints => ctx.out.int(i32::MAX as i64),
        Some(_) => ctx.out.int(1),
        None => ctx.out.null(),
    }
    Ok(())
}

/// OBJECT HELP
pub fn object_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::ctx::help_reply(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

/// Options of HSCAN/SSCAN/ZSCAN after the cursor: `MATCH pattern` (None for
/// `*`) and the `COUNT` hint, parsed with Redis' errors.
pub fn parse_scan_opts(args: &[Bytes]) -> Result<(Option<&[u8]>, usize), CmdError> {
    let (mut pattern, mut count) = (None, 10usize);
    let mut i = 0;
    while i < args.len() {
        if i + 1 >= args.len() {
            return Err(CmdError::Syntax);
        }
        let (a, v) = (&args[i], &args[i + 1]);
        if is(a, "count") {
            let n = arg_i64(v)?;
            if n < 1 {
                return Err(CmdError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(a, "match") {
            pattern = (&v[..] != b"*").then_some(&v[..]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, count))
}

/// Writes the head of a SCAN-family reply: `[cursor, [n items...]]`.
pub fn scan_head(out: &mut crate::resp::Reply, cursor: u64, n: usize) {
    out.array_len(2);
    out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    out.array_len(n);
}
