//! CAS uniques and meta-protocol item state, packed into `Entry::mc_cas`.
//!
//! The low 61 bits hold the CAS unique, drawn from one global counter; the top
//! bits hold memcached's per-item `STALE`, `TOKEN_SENT` and `FETCHED` flags.
//! Redis writes zero the field (`Locked::get_mut`, new entries), so a CAS is
//! only drawn when a memcached client asks for one: the Redis path pays one
//! store per write and nothing else.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::Entry;

/// Item marked stale by `md ... I` (or an `ms ... I` with an older CAS).
pub const STALE: u64 = 1 << 63;
/// A client already won the recache token for this item.
pub const TOKEN_SENT: u64 = 1 << 62;
/// The item was fetched since it was stored.
pub const FETCHED: u64 = 1 << 61;
const MASK: u64 = FETCHED - 1;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh CAS unique.
pub fn next() -> u64 {
    let v = NEXT.fetch_add(1, Ordering::Relaxed) & MASK;
    if v == 0 {
        NEXT.fetch_add(1, Ordering::Relaxed) & MASK
    } else {
        v
    }
}

/// The entry's CAS unique, drawing one if it was modified since the last.
pub fn unique(e: &mut Entry) -> u64 {
    if e.mc_cas() & MASK == 0 {
        e.set_mc_cas(e.mc_cas() | next());
    }
    e.mc_cas() & MASK
}

/// Gives the entry a new CAS unique (a memcached modification), clearing the
/// stale/token state like memcached's fresh item. `explicit` is the meta `E`
/// flag's client-chosen value.
pub fn renew(e: &mut Entry, explicit: Option<u64>) -> u64 {
    let v = explicit.map(|c| c & MASK).unwrap_or_else(next);
    e.set_mc_cas(v | (e.mc_cas() & FETCHED));
    v
}

/// True when `bit` is set.
pub fn has(e: &Entry, bit: u64) -> bool {
    e.mc_cas() & bit != 0
}
