//! String commands: GET/SET and friends, counters, ranges, LCS.

use bytes::Bytes;

use super::ctx::{arg_i64, is, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::store::notify::{GENERIC, STRING};
use crate::store::{Entry, Key, StrValue, Value};

/// Largest string a command may build (Redis' proto-max-bulk-len default).
const MAX_STRING: usize = 512 * 1024 * 1024;

/// The string value of an entry, or WRONGTYPE.
pub fn as_str(e: &Entry) -> Result<&StrValue, CmdError> {
    value_as_str(e.value())
}

/// A value as a string, or WRONGTYPE.
pub fn value_as_str(v: &Value) -> Result<&StrValue, CmdError> {
    match v {
        Value::Str(s) => Ok(s),
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::WrongType),
    }
}

/// The string value of an entry, mutably, or WRONGTYPE.
pub fn as_str_mut(e: &mut Entry) -> Result<&mut StrValue, CmdError> {
    match e.value_mut() {
        Value::Str(s) => Ok(s),
        #[allow(unreachable_patterns)]
        _ => Err(CmdError::WrongType),
    }
}

/// GET key
pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let found = match slot.get_access(&key) {
        Some(e) => {
            let mut b = itoa::Buffer::new();
            ctx.out.bulk(as_str(e)?.as_bytes(&mut b));
            e.touch_access(ctx.now_ms);
            true
        }
        None => {
            ctx.out.null();
            false
        }
    };
    drop(slot);
    ctx.hit(found, key.bytes);
    Ok(())
}

/// Expiry option of SET / GETEX.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ExpiryOpt {
    None,
    Keep,
    Persist,
    At(u64),
}

/// Parses `EX s | PX ms | EXAT ts | PXAT ts` at `args[i]`; returns absolute ms.
fn parse_expiry(ctx: &Ctx<'_>, name: &str, unit: &[u8], val: &[u8]) -> Result<u64, CmdError> {
    let n = arg_i64(val)?;
    if n <= 0 {
        return Err(CmdError::InvalidExpire(name.into()));
    }
    let ms = if is(unit, "ex") || is(unit, "exat") {
        n.checked_mul(1000)
    } else {
        Some(n)
    }
    .ok_or_else(|| CmdError::InvalidExpire(name.into()))?;
    let abs = if is(unit, "ex") || is(unit, "px") {
        ms.checked_add(ctx.now_ms as i64)
    } else {
        Some(ms)
    }
    .ok_or_else(|| CmdError::InvalidExpire(name.into()))?;
    Ok(abs as u64)
}

/// SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT t | KEEPTTL]
pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut want_get) = (false, false, false);
    let mut expiry = ExpiryOpt::None;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let has_next = i + 1 < args.len();
        if is(a, "nx") && !xx {
            nx = true;
        } else if is(a, "xx") && !nx {
            xx = true;
        } else if is(a, "get") {
            want_get = true;
        } else if is(a, "keepttl") && expiry == ExpiryOpt::None {
            expiry = ExpiryOpt::Keep;
        } else if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && expiry == ExpiryOpt::None
            && has_next
        {
            expiry = ExpiryOpt::At(0);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    // Second pass for the expiry value so syntax errors win over value errors like Redis.
    if expiry == ExpiryOpt::At(0) {
        let pos = (3..args.len()).find(|&j| {
            let a = &args[j];
            is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat")
        });
        if let Some(j) = pos {
            expiry = ExpiryOpt::At(parse_expiry(ctx, "set", &args[j], &args[j + 1])?);
        }
    }
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let mut old_val = None;
    // A plain SET needs no lookup before the write.
    let write = if nx || xx || want_get {
        let old = slot.get(&key);
        let exists = old.is_some();
        if want_get {
            ctx.hit(exists, key.bytes);
        }
        if let Some(e) = old {
            if want_get {
                old_val = Some(as_str(e)?.to_vec());
            }
        }
        !((nx && exists) || (xx && !exists))
    } else {
        true
    };
    if write {
        slot.set_str(&key, &args[2], expiry == ExpiryOpt::Keep, lru);
        ctx.notify(STRING, "set", key.bytes);
        if let ExpiryOpt::At(t) = expiry {
            // Like Redis, a key whose EXAT/PXAT already passed stays until
            // its next lookup (or the active cycle) expires it.
            slot.set_expire(&key, Some(t));
            ctx.notify(GENERIC, "expire", key.bytes);
        }
    }
    drop(slot);
    if want_get {
        match old_val {
            Some(v) => ctx.out.bulk(&v),
            None => ctx.out.null(),
        }
    } else if write {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

/// SETNX key value
pub fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    if slot.exists(&key) {
        ctx.out.int(0);
    } else {
        slot.set_str(&key, &args[2], false, lru);
        ctx.notify(STRING, "set", key.bytes);
        ctx.out.int(1);
    }
    Ok(())
}

fn set_with_ttl(ctx: &mut Ctx<'_>, args: &[Bytes], unit_ms: i64, name: &str) -> CmdResult {
    let n = arg_i64(&args[2])?;
    if n <= 0 {
        return Err(CmdError::InvalidExpire(name.into()));
    }
    let at = n
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(ctx.now_ms as i64))
        .ok_or_else(|| CmdError::InvalidExpire(name.into()))?;
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    slot.set_str(&key, &args[3], false, lru);
    ctx.notify(STRING, "set", key.bytes);
    slot.set_expire(&key, Some(at as u64));
    ctx.notify(GENERIC, "expire", key.bytes);
    ctx.out.ok();
    Ok(())
}

/// SETEX key seconds value
pub fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1000, "setex")
}

/// PSETEX key milliseconds value
pub fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, 1, "psetex")
}

/// GETSET key value
pub fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let old = match slot.get(&key) {
        Some(e) => Some(as_str(e)?.to_vec()),
        None => None,
    };
    ctx.hit(old.is_some(), key.bytes);
    slot.set_str(&key, &args[2], false, lru);
    ctx.notify(STRING, "set", key.bytes);
    drop(slot);
    match old {
        Some(v) => ctx.out.bulk(&v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// GETDEL key
pub fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let entry = slot.get(&key);
    ctx.hit(entry.is_some(), key.bytes);
    match entry {
        Some(e) => {
            as_str(e)?;
            if let Some(e) = slot.remove(&key) {
                ctx.notify(GENERIC, "del", key.bytes);
                let mut b = itoa::Buffer::new();
                ctx.out.bulk(as_str(&e)?.as_bytes(&mut b));
            }
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// GETEX key [EX|PX|EXAT|PXAT t | PERSIST]
pub fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut expiry = ExpiryOpt::None;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if is(a, "persist") && expiry == ExpiryOpt::None {
            expiry = ExpiryOpt::Persist;
        } else if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && expiry == ExpiryOpt::None
            && i + 1 < args.len()
        {
            expiry = ExpiryOpt::At(parse_expiry(ctx, "getex", a, &args[i + 1])?);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let entry = slot.get(&key);
    ctx.hit(entry.is_some(), key.bytes);
    let Some(e) = entry else {
        ctx.out.null();
        return Ok(());
    };
    let mut b = itoa::Buffer::new();
    let v = as_str(e)?.as_bytes(&mut b).to_vec();
    let had_ttl = e.expire_at().is_some();
    match expiry {
        ExpiryOpt::At(t) if t <= ctx.now_ms => {
            slot.remove(&key);
            ctx.notify(GENERIC, "del", key.bytes);
        }
        ExpiryOpt::At(t) => {
            slot.set_expire(&key, Some(t));
            ctx.notify(GENERIC, "expire", key.bytes);
        }
        ExpiryOpt::Persist if had_ttl => {
            slot.set_expire(&key, None);
            ctx.notify(GENERIC, "persist", key.bytes);
        }
        _ => {}
    }
    ctx.out.bulk(&v);
    Ok(())
}

/// MGET key [key ...]
pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys: Vec<Key<'_>> = args[1..].iter().map(|k| ctx.key(k)).collect();
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    ctx.out.array_len(keys.len());
    let mut b = itoa::Buffer::new();
    for k in &keys {
        let entry = locked.of(k).get(k);
        ctx.hit(entry.is_some(), k.bytes);
        match entry.map(Entry::value) {
            Some(Value::Str(s)) => ctx.out.bulk(s.as_bytes(&mut b)),
            #[allow(unreachable_patterns)]
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_>, args: &[Bytes], nx: bool) -> CmdResult {
    if args.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        return Err(CmdError::Arity(name.into()));
    }
    let lru = ctx.lru_stamp();
    let keys: Vec<Key<'_>> = args[1..].iter().step_by(2).map(|k| ctx.key(k)).collect();
    let mut locked = ctx.store().lock_many(ctx.client.db, &keys, ctx.now_ms);
    if nx && keys.iter().any(|k| locked.of(k).exists(k)) {
        ctx.out.int(0);
        return Ok(());
    }
    for (k, v) in keys.iter().zip(args[2..].iter().step_by(2)) {
        locked.of(k).set_str(k, v, false, lru);
        ctx.notify(STRING, "set", k.bytes);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// MSET key value [key value ...]
pub fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mset_generic(ctx, args, false)
}

/// MSETNX key value [key value ...]
pub fn msetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    mset_generic(ctx, args, true)
}

fn check_size(len: usize) -> CmdResult {
    if len > MAX_STRING {
        return Err(CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// APPEND key value
pub fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let len = match slot.get_mut(&key) {
        Some(e) => {
            let s = as_str_mut(e)?;
            check_size(s.len() + args[2].len())?;
            let v = s.make_raw();
            v.extend_from_slice(&args[2]);
            v.len()
        }
        None => {
            slot.set(
                &key,
                Value::Str(StrValue::raw(args[2].to_vec())),
                false,
                lru,
            );
            args[2].len()
        }
    };
    ctx.notify(STRING, "append", key.bytes);
    ctx.out.int(len as i64);
    Ok(())
}

/// STRLEN key
pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let entry = slot.get(&key);
    ctx.hit(entry.is_some(), key.bytes);
    let n = match entry {
        Some(e) => as_str(e)?.len(),
        None => 0,
    };
    ctx.out.int(n as i64);
    Ok(())
}

/// GETRANGE key start end (and SUBSTR)
pub fn getrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut start, mut end) = (arg_i64(&args[2])?, arg_i64(&args[3])?);
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let entry = slot.get(&key);
    ctx.hit(entry.is_some(), key.bytes);
    let Some(e) = entry else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut b = itoa::Buffer::new();
    let s = as_str(e)?.as_bytes(&mut b);
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&s[start as usize..=end as usize]);
    }
    Ok(())
}

/// SETRANGE key offset value
pub fn setrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = arg_i64(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    let val = &args[3];
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    // An empty value changes nothing (no WATCH invalidation, as in Redis).
    let len = match slot.get_mut_quiet(&key) {
        Some(e) => {
            let s = as_str_mut(e)?;
            if val.is_empty() {
                s.len()
            } else {
                check_size(offset + val.len())?;
                let v = s.make_raw();
                if v.len() < offset + val.len() {
                    v.resize(offset + val.len(), 0);
                }
                v[offset..offset + val.len()].copy_from_slice(val);
                v.len()
            }
        }
        None => {
            if val.is_empty() {
                0
            } else {
                check_size(offset + val.len())?;
                let mut v = vec![0u8; offset + val.len()];
                v[offset..].copy_from_slice(val);
                let n = v.len();
                slot.set(&key, Value::Str(StrValue::raw(v)), false, lru);
                n
            }
        }
    };
    if !val.is_empty() {
        slot.signal_modified(&key);
        ctx.notify(STRING, "setrange", key.bytes);
    }
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let lru = ctx.lru_stamp();
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let result = match slot.get_mut(&key) {
        Some(e) => {
            // Read through `&` first: a failing INCR must not re-encode the value.
            let cur = match as_str(e)? {
                StrValue::Int(n) => *n,
                other => {
                    let mut b = itoa::Buffer::new();
                    crate::util::parse_i64(other.as_bytes(&mut b)).ok_or(CmdError::NotInt)?
                }
            };
            let n = cur.checked_add(delta).ok_or(CmdError::Overflow)?;
            e.set_value(Value::Str(StrValue::Int(n)));
            e.set_lru(lru);
            n
        }
        None => {
            slot.set(&key, Value::Str(StrValue::Int(delta)), false, lru);
            delta
        }
    };
    ctx.notify(STRING, "incrby", key.bytes);
    ctx.out.int(result);
    Ok(())
}

/// INCR key
pub fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

/// DECR key
pub fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

/// INCRBY key increment
pub fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let d = arg_i64(&args[2])?;
    incr_by(ctx, &args[1], d)
}

/// DECRBY key decrement
pub fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let d = arg_i64(&args[2])?;
    if d == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, &args[1], -d)
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let lru = ctx.lru_stamp();
    let key = ctx.key(&args[1]);
    let mut slot = ctx.lock(&key);
    let cur = match slot.get(&key) {
        Some(e) => Some(as_str(e)?.to_vec()),
        None => None,
    };
    let text = crate::util::incr_long_double(cur.as_deref(), &args[2]).map_err(|e| match e {
        crate::util::LdError::NanOrInf => CmdError::err("increment would produce NaN or Infinity"),
        _ => CmdError::NotFloat,
    })?;
    slot.set(
        &key,
        Value::Str(StrValue::verbatim(text.as_bytes())),
        true,
        lru,
    );
    ctx.notify(STRING, "incrbyfloat", key.bytes);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]
pub fn lcs(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        if is(a, "idx") {
            want_idx = true;
        } else if is(a, "len") {
            want_len = true;
        } else if is(a, "withmatchlen") {
            with_len = true;
        } else if is(a, "minmatchlen") && i + 1 < args.len() {
            min_len = arg_i64(&args[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let read = |ctx: &Ctx<'_>, k: &[u8]| -> Result<Vec<u8>, CmdError> {
        let key = ctx.key(k);
        let mut slot = ctx.lock(&key);
        let entry = slot.get(&key);
        ctx.hit(entry.is_some(), key.bytes);
        match entry {
            Some(e) => match e.value() {
                Value::Str(s) => Ok(s.to_vec()),
                #[allow(unreachable_patterns)]
                _ => Err(CmdError::err(
                    "The specified keys must contain string values",
                )),
            },
            None => Ok(Vec::new()),
        }
    };
    let a = read(ctx, &args[1])?;
    let b = read(ctx, &args[2])?;
    if want_len && want_idx {
        return Err(CmdError::err(
            "If you want both the length and indexes, please just use IDX.",
        ));
    }
    if (a.len() + 1)
        .checked_mul(b.len() + 1)
        .is_none_or(|n| n > MAX_STRING / 4)
    {
        return Err(CmdError::err(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let (alen, blen) = (a.len(), b.len());
    let w = blen + 1;
    let mut t = vec![0u32; (alen + 1) * (blen + 1)];
    for i in 1..=alen {
        for j in 1..=blen {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    let total = t[alen * w + blen] as usize;
    let mut result = vec![0u8; total];
    let mut idx = total;
    let (mut i, mut j) = (alen, blen);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    let mut matches: Vec<[usize; 5]> = Vec::new();
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == alen {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        let mlen = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if min_len == 0 || mlen as i64 >= min_len {
                matches.push([a_start, a_end, b_start, b_end, mlen]);
            }
            a_start = alen;
        }
    }
    if want_idx {
        ctx.out.map_len(2);
        ctx.out.bulk(b"matches");
        ctx.out.array_len(matches.len());
        for m in &matches {
            ctx.out.array_len(if with_len { 3 } else { 2 });
            ctx.out.array_len(2);
            ctx.out.int(m[0] as i64);
            ctx.out.int(m[1] as i64);
            ctx.out.array_len(2);
            ctx.out.int(m[2] as i64);
            ctx.out.int(m[3] as i64);
            if with_len {
                ctx.out.int(m[4] as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(total as i64);
    } else if want_len {
        ctx.out.int(total as i64);
    } else {
        ctx.out.bulk(&result);
    }
    Ok(())
}
