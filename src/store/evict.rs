//! LRU/LFU bookkeeping and maxmemory eviction (Redis' sampled approximation).
//!
//! Every entry carries 24 bits of access data: an LRU clock in seconds, or for
//! the LFU policies a 16-bit minute stamp and an 8-bit logarithmic counter.
//! Before a command that may grow memory, `ensure_memory` evicts sampled
//! victims until `used_memory` is under `maxmemory`, or answers -OOM.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::Rng;

use super::{Store, SLOTS};
use crate::config::{EvictionPolicy, Settings};
use crate::error::CmdError;

const LRU_MASK: u32 = (1 << 24) - 1;
const LFU_INIT: u32 = 5;

static LFU_MODE: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU64 = AtomicU64::new(10);
static LFU_DECAY: AtomicU64 = AtomicU64::new(1);
static MAXMEMORY: AtomicU64 = AtomicU64::new(0);

/// Publishes the LFU settings to the access path (called on start and CONFIG SET).
pub fn apply_settings(s: &Settings) {
    LFU_MODE.store(s.maxmemory_policy.is_lfu(), Ordering::Relaxed);
    LFU_LOG_FACTOR.store(s.lfu_log_factor, Ordering::Relaxed);
    LFU_DECAY.store(s.lfu_decay_time, Ordering::Relaxed);
    MAXMEMORY.store(s.maxmemory, Ordering::Relaxed);
}

fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_MASK
}

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xFFFF
}

/// Access data for a newly written key.
pub fn lru_stamp(now_ms: u64, lfu: bool) -> u32 {
    if lfu {
        (minutes(now_ms) << 8) | LFU_INIT
    } else {
        lru_clock(now_ms)
    }
}

/// Access data for a newly written key under the current policy.
pub fn new_stamp(now_ms: u64) -> u32 {
    lru_stamp(now_ms, LFU_MODE.load(Ordering::Relaxed))
}

/// Access data of a key RESTOREd with `IDLETIME idle_secs` or `FREQ freq`
/// (Redis' `objectSetLRUOrLFU`): under an LFU policy only `freq` counts,
/// otherwise only `idle_secs`; without the one that counts, a fresh stamp.
pub fn restored_stamp(now_ms: u64, idle_secs: Option<u64>, freq: Option<u8>) -> u32 {
    if LFU_MODE.load(Ordering::Relaxed) {
        return match freq {
            Some(f) => (minutes(now_ms) << 8) | u32::from(f),
            None => lru_stamp(now_ms, true),
        };
    }
    match idle_secs {
        Some(idle) => {
            let mut abs = i64::from(lru_clock(now_ms)) - i64::try_from(idle).unwrap_or(i64::MAX);
            if abs < 0 {
                abs = abs.saturating_add(i64::from(LRU_MASK));
            }
            // The 24-bit field keeps the low bits, as Redis' bitfield does.
            (abs as u32) & LRU_MASK
        }
        None => lru_clock(now_ms),
    }
}

/// LFU counter after decay for the time since its last access.
pub fn lfu_decayed(lru: u32, now_ms: u64, decay_minutes: u64) -> u32 {
    let last = (lru >> 8) & 0xFFFF;
    let now = minutes(now_ms);
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    };
    let counter = lru & 0xFF;
    let periods = (elapsed as u64).checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u32)
}

/// Access data after one more access.
pub fn touch_stamp(lru: u32, now_ms: u64) -> u32 {
    if !LFU_MODE.load(Ordering::Relaxed) {
        return lru_clock(now_ms);
    }
    let mut counter = lfu_decayed(lru, now_ms, LFU_DECAY.load(Ordering::Relaxed));
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let p = 1.0 / (base * LFU_LOG_FACTOR.load(Ordering::Relaxed) as f64 + 1.0);
        if rand::rng().random::<f64>() < p {
            counter += 1;
        }
    }
    (minutes(now_ms) << 8) | counter
}

/// Milliseconds since the last access recorded in LRU data.
pub fn idle_ms(lru: u32, now_ms: u64) -> u64 {
    let now = lru_clock(now_ms);
    let secs = if now >= lru {
        now - lru
    } else {
        LRU_MASK - lru + now
    };
    secs as u64 * 1000
}

/// Eviction score: higher is a better victim.
fn score(policy: EvictionPolicy, lru: u32, expire: Option<u64>, now_ms: u64, decay: u64) -> u64 {
    match policy {
        EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
            255 - lfu_decayed(lru, now_ms, decay) as u64
        }
        EvictionPolicy::VolatileTtl => u64::MAX - expire.unwrap_or(u64::MAX),
        EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom => 0,
        _ => idle_ms(lru, now_ms),
    }
}

/// Evicts one sampled victim; false when no candidate exists.
fn evict_one(
    store: &Store,
    policy: EvictionPolicy,
    samples: usize,
    decay: u64,
    now_ms: u64,
) -> bool {
    let mut rng = rand::rng();
    let mut best: Option<(u64, usize, u16, Vec<u8>)> = None;
    let dbs: Vec<usize> = (0..store.db_count())
        .filter(|&d| store.db_if_used(d).is_some())
        .collect();
    for &db in &dbs {
        let mut got = 0;
        let mut probes = 0;
        while got < samples && probes < samples * 32 {
            probes += 1;
            let slot = rng.random_range(0..SLOTS) as u16;
            let mut l = store.lock_slot(db, slot, now_ms);
            let t = l.table();
            if t.is_empty() || (policy.volatile_only() && t.volatile() == 0) {
                continue;
            }
            let pos = rng.random_range(0..t.len());
            let Some(e) = t.at(pos) else { continue };
            if policy.volatile_only() && e.expire_at().is_none() {
                continue;
            }
            got += 1;
            let s = score(policy, e.lru(), e.expire_at(), now_ms, decay);
            if best.as_ref().is_none_or(|b| s > b.0) {
                best = Some((s, db, slot, e.key().to_vec()));
            }
        }
    }
    let Some((_, db, slot, key)) = best else {
        return false;
    };
    let k = store.key(&key);
    let _ = slot;
    store.lock(db, &k, now_ms).evict(&k)
}

/// Evicts until under maxmemory; `-OOM` when that is impossible.
pub fn ensure_memory(
    store: &super::Store,
    config: &parking_lot::RwLock<Settings>,
) -> Result<(), CmdError> {
    // Fast path without touching the config lock: no limit, or under it.
    let limit = MAXMEMORY.load(Ordering::Relaxed);
    if limit == 0 || (crate::alloc::used_memory() as u64) <= limit {
        return Ok(());
    }
    let (max, policy, samples, decay) = {
        let c = config.read();
        (
            c.maxmemory,
            c.maxmemory_policy,
            c.maxmemory_samples as usize,
            c.lfu_decay_time,
        )
    };
    if max == 0 || (crate::alloc::used_memory() as u64) <= max {
        return Ok(());
    }
    if policy == EvictionPolicy::NoEviction {
        return Err(CmdError::Oom);
    }
    let now = super::now_ms();
    for _ in 0..10_000 {
        if (crate::alloc::used_memory() as u64) <= max {
            return Ok(());
        }
        if !evict_one(store, policy, samples, decay, now) {
            break;
        }
    }
    if (crate::alloc::used_memory() as u64) <= max {
        Ok(())
    } else {
        Err(CmdError::Oom)
    }
}
