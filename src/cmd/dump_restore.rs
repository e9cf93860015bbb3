//! DUMP and RESTORE: a key's value in Redis' RDB serialization
//! (`store::rdb`), so keys move between ringcache and redis-server with the
//! tools written for Redis. Options, their order of checks and error texts
//! are Redis 7.0's `dumpCommand`/`restoreCommand`.

use bytes::Bytes;

use super::ctx::{arg_i64, is, Ctx};
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
    if o.replace {
        slot.remove(&key);
    }
    if ttl != 0 && at <= ctx.now_ms as i64 {
        // Already expired: only the old key goes.
        ctx.out.ok();
        return Ok(());
    }
    let expire = (ttl != 0).then_some(at as u64);
    slot.insert_entry(&key, Entry::new(key.bytes, value, lru).with_expire(expire));
    ctx.out.ok();
    Ok(())
}
