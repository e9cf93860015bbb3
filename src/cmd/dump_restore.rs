//! DUMP, RESTORE and MIGRATE: a key's value in Redis' RDB serialization
//! (`store::rdb`), so keys move between ringcache and redis-server with the
//! tools written for Redis. Options, their order of checks and error texts
//! are Redis 7.0's `dumpCommand`/`restoreCommand`/`migrateCommand`. MIGRATE
//! serializes here and leaves the network exchange to the connection
//! (`server::migrate_cmd`), which holds no lock while it waits.

use bytes::Bytes;

use super::client::ReplyMode;
use super::ctx::{arg_i64, is, After, Ctx};
use super::migrate_plan::{MigrateItem, MigratePlan};
use crate::error::{CmdError, CmdResult};
use crate::store::hash::HashLimits;
use crate::store::rdb::{self, decode::Options};
use crate::store::zset::ZsetLimits;
use crate::store::Entry;

/// DUMP key
pub fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = ctx.key(&args[1]);
    let payload = ctx
        .lock(&key)
        .get(&key)
        .map(|e| rdb::encode::encode(e.value()));
    match payload {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct RestoreOpts {
    replace: bool,
    absttl: bool,
    idle_secs: Option<u64>,
    freq: Option<u8>,
}

/// Parses RESTORE's options as Redis does: IDLETIME and FREQ exclude each
/// other (the second one is a syntax error), values are checked at once.
fn parse_opts(args: &[Bytes]) -> Result<RestoreOpts, CmdError> {
    let mut o = RestoreOpts::default();
    let mut j = 4;
    while j < args.len() {
        let a = &args[j];
        let has_value = j + 1 < args.len();
        if is(a, "replace") {
            o.replace = true;
        } else if is(a, "absttl") {
            o.absttl = true;
        } else if is(a, "idletime") && has_value && o.freq.is_none() {
            let n = arg_i64(&args[j + 1])?;
            o.idle_secs = Some(
                u64::try_from(n)
                    .map_err(|_| CmdError::err("Invalid IDLETIME value, must be >= 0"))?,
            );
            j += 1;
        } else if is(a, "freq") && has_value && o.idle_secs.is_none() {
            let n = arg_i64(&args[j + 1])?;
            o.freq = Some(
                u8::try_from(n)
                    .map_err(|_| CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"))?,
            );
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
pub fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = parse_opts(args)?;
    let ttl = arg_i64(&args[2]);
    let settings = {
        let c = ctx.shared.config.read();
        Options {
            hash: HashLimits {
                entries: c.hash_max_listpack_entries as usize,
                value: c.hash_max_listpack_value as usize,
            },
            zset: ZsetLimits {
                entries: c.zset_max_listpack_entries as usize,
                value: c.zset_max_listpack_value as usize,
            },
            max_intset: c.set_max_intset_entries as usize,
            deep: c.sanitize_dump_payload.deep_for_clients(),
        }
    };
    // Read the payload before taking the slot lock (it may be large); its
    // errors still come after BUSYKEY and the TTL checks, as in Redis.
    let value = match ttl {
        Ok(t) if t >= 0 => Some(rdb::decode::decode(&args[3], &settings)),
        _ => None,
    };
    let key = ctx.key(&args[1]);
    let lru = crate::store::evict::restored_stamp(ctx.now_ms, o.idle_secs, o.freq);
    let mut slot = ctx.lock(&key);
    if !o.replace && slot.exists(&key) {
        return Err(CmdError::Other(
            "BUSYKEY Target key name already exists.".into(),
        ));
    }
    let ttl = ttl?;
    let value = match value {
        Some(v) => v.map_err(CmdError::err)?,
        None => return Err(CmdError::err("Invalid TTL value, must be >= 0")),
    };
    let mut at = ttl;
    if ttl != 0 && !o.absttl {
        at = ttl.saturating_add(ctx.now_ms as i64);
    }
    let replaced = o.replace && slot.remove(&key).is_some();
    if ttl != 0 && at <= ctx.now_ms as i64 {
        // Already expired: only the old key goes (Redis' `del` event).
        if replaced {
            slot.notify(crate::store::notify::GENERIC, "del", key.bytes);
        }
        ctx.out.ok();
        return Ok(());
    }
    let expire = (ttl != 0).then_some(at as u64);
    slot.insert_entry(&key, Entry::new(key.bytes, value, lru).with_expire(expire));
    slot.notify(crate::store::notify::GENERIC, "restore", key.bytes);
    ctx.out.ok();
    Ok(())
}

/// Key positions of MIGRATE: the key argument, or everything after KEYS.
pub fn migrate_keys(args: &[Bytes]) -> Vec<usize> {
    if let Some(k) = (6..args.len()).find(|&i| is(&args[i], "keys")) {
        return (k + 1..args.len()).collect();
    }
    if args.len() > 3 && !args[3].is_empty() {
        vec![3]
    } else {
        Vec::new()
    }
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE]
/// [AUTH password | AUTH2 username password] [KEYS key [key ...]]
pub fn migrate(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys: &[Bytes] = &args[3..4];
    let mut j = 6;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let a = &args[j];
        if is(a, "copy") {
            copy = true;
        } else if is(a, "replace") {
            replace = true;
        } else if is(a, "auth") && more >= 1 {
            auth = Some((None, args[j + 1].clone()));
            j += 1;
        } else if is(a, "auth2") && more >= 2 {
            auth = Some((Some(args[j + 1].clone()), args[j + 2].clone()));
            j += 2;
        } else if is(a, "keys") {
            if !args[3].is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = &args[j + 1..];
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = arg_i64(&args[5])?;
    let db = arg_i64(&args[4])?;
    // The exchange runs on the connection after the command returns, which
    // a transaction or a script (one reply for many commands) cannot wait for.
    if ctx.exclusive {
        return Err(CmdError::err(
            "MIGRATE is not allowed inside MULTI/EXEC or scripts on ringcache",
        ));
    }
    let timeout_ms = if timeout <= 0 { 1000 } else { timeout as u64 };
    let mut items = Vec::new();
    for k in keys {
        let key = ctx.key(k);
        let mut slot = ctx.lock(&key);
        let Some(e) = slot.get(&key) else { continue };
        let ttl_ms = e
            .expire_at()
            .map_or(0, |at| at.saturating_sub(ctx.now_ms).max(1));
        items.push(MigrateItem {
            key: k.clone(),
            ttl_ms,
            payload: rdb::encode::encode(e.value()),
        });
    }
    if items.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    ctx.after = Some(After::Migrate(Box::new(MigratePlan {
        host: String::from_utf8_lossy(&args[1]).into_owned(),
        port: String::from_utf8_lossy(&args[2]).into_owned(),
        db,
        timeout_ms,
        copy,
        replace,
        auth,
        items,
        source_db: ctx.client.db,
        silent: ctx.client.reply_mode != ReplyMode::On,
    })));
    Ok(())
}
