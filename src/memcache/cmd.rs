//! Executes parsed memcached requests against the shared store (database 0).
//!
//! Each request locks the slot of its key for O(1) work, exactly like a Redis
//! command, so memcached and Redis clients see one keyspace. Replies are
//! memcached 1.6's, byte for byte.

use std::io::Write;
use std::sync::atomic::Ordering;

use super::cas;
use super::parse::{
    base64_encode, safe_strtoull, Meta, Request, StorageRequest, StoreMode, ITEM_OVERHEAD,
};
use crate::cmd::Shared;
use crate::node::mc_stats::McCounters;
use crate::store::evict::{idle_ms, new_stamp};
use crate::store::thin::Extras;
use crate::store::{Entry, Key, Locked, StrValue, Value};

/// memcached's relative/absolute exptime boundary (30 days).
const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// What the connection does after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go on with the next request.
    Continue,
    /// Discard this many incoming bytes first (a rejected data block).
    Swallow(usize),
    /// Close the connection.
    Close,
}

/// A memcached exptime resolved against the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// 0: never expires.
    Never,
    /// Expires at this unix millisecond.
    At(u64),
    /// Negative or an absolute time in the past: expired on arrival.
    Expired,
}

impl Ttl {
    /// memcached's `realtime(EXPTIME_TO_POSITIVE_TIME(exptime))`.
    pub fn from_exptime(exptime: i32, now_ms: u64) -> Ttl {
        let e = i64::from(exptime);
        if e < 0 {
            Ttl::Expired
        } else if e == 0 {
            Ttl::Never
        } else if e > REALTIME_MAXDELTA {
            let at = e as u64 * 1000;
            if at <= now_ms {
                Ttl::Expired
            } else {
                Ttl::At(at)
            }
        } else {
            Ttl::At(now_ms + e as u64 * 1000)
        }
    }

    fn at(self) -> Option<u64> {
        match self {
            Ttl::At(t) => Some(t),
            _ => None,
        }
    }
}

/// Outcome of a storage command (memcached's `store_item_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // memcached's own names
enum Stored {
    Stored,
    NotStored,
    Exists,
    NotFound,
}

/// Outcome of incr/decr (memcached's `delta_result_type`).
enum Delta {
    Ok(Vec<u8>),
    NonNumeric,
    NotFound,
    CasMismatch,
}

/// Arguments of `Exec::store_item` (memcached's `do_store_item`).
struct StoreReq<'r> {
    key: &'r [u8],
    mode: StoreMode,
    data: &'r [u8],
    flags: u32,
    ttl: Ttl,
    /// CAS to compare (0: none, except in `cas` mode).
    req_cas: u64,
    /// Meta `I`: an older CAS still stores, marked stale.
    stale_ok: bool,
    /// Meta `E`: the new version's CAS unique.
    explicit: Option<u64>,
}

/// One request's execution context.
pub struct Exec<'a> {
    /// The node.
    pub shared: &'a std::sync::Arc<Shared>,
    /// Output buffer.
    pub out: &'a mut Vec<u8>,
    /// The counter block of the thread running the request.
    pub stats: &'a McCounters,
    /// Time of the batch.
    pub now_ms: u64,
}

fn bump(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The string value of a live entry (other types are invisible to memcached).
fn str_of(e: &Entry) -> Option<&StrValue> {
    match e.value() {
        Value::Str(s) => Some(s),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// A new memcached item: value, expiry, client flags and CAS word built into
/// the entry at once (one key allocation, no rebuilds).
fn new_item(key: &[u8], data: &[u8], lru: u32, ttl: Ttl, flags: u32, cas_word: u64) -> Entry {
    let mc = (cas_word != 0 || flags != 0).then_some((cas_word, flags));
    let extras = Extras {
        expire: ttl.at(),
        mc,
    };
    Entry::new_str_with(key, data, lru, extras)
}

/// Remaining TTL in whole seconds (rounded up), -1 without expiry.
fn ttl_secs(e: &Entry, now_ms: u64) -> i64 {
    match e.expire_at() {
        None => -1,
        Some(at) => (at.saturating_sub(now_ms).div_ceil(1000)) as i64,
    }
}

impl<'a> Exec<'a> {
    /// Appends a reply line.
    pub(super) fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// Appends a reply line unless `noreply`.
    pub(super) fn maybe(&mut self, s: &str, noreply: bool) {
        if !noreply {
            self.line(s);
        }
    }

    fn lock<'k>(&self, key: &'k [u8]) -> (Key<'k>, Locked<'a>) {
        let shared: &'a Shared = self.shared;
        let store = &shared.store;
        let k = store.key(key);
        let l = store.lock(0, &k, self.now_ms);
        (k, l)
    }

    /// Looks up a live string entry, counting `get_expired` on lazy expiry.
    fn lookup<'l>(&self, l: &'l mut Locked<'_>, k: &Key<'_>) -> Option<&'l mut Entry> {
        // One probe; the entry is then reached by position.
        let pos = l.table().position(k.hash, k.bytes)?;
        let expired = l.table().at(pos).is_some_and(|e| e.is_expired(self.now_ms));
        if expired {
            bump(&self.stats.get_expired);
            // Deletes it (and counts `expired_keys`) like any lazy expiry.
            l.get_access(k);
            return None;
        }
        l.access_at(pos).filter(|e| str_of(e).is_some())
    }

    fn memory_ok(&self) -> bool {
        self.shared.ensure_memory().is_ok()
    }

    /// Runs one request.
    pub fn run(&mut self, req: Request<'_>) -> Outcome {
        match req {
            Request::Reply { text, noreply } => self.maybe(text, noreply),
            Request::Get { keys, cas, touch } => {
                for key in keys.iter() {
                    self.get_one(key, cas, touch);
                }
                self.line("END");
            }
            Request::Store(s) => {
                let noreply = s.noreply;
                match self.store_cmd(&s) {
                    Some(r) => {
                        let text = match r {
                            Stored::Stored => "STORED",
                            Stored::NotStored => "NOT_STORED",
                            Stored::Exists => "EXISTS",
                            Stored::NotFound => "NOT_FOUND",
                        };
                        self.maybe(text, noreply);
                    }
                    None => self.maybe("SERVER_ERROR out of memory storing object", noreply),
                }
            }
            Request::TooLarge {
                key,
                delete,
                noreply,
                swallow,
            } => {
                bump(&self.stats.store_too_large);
                if delete {
                    let (k, mut l) = self.lock(&key);
                    l.remove(&k);
                }
                self.maybe("SERVER_ERROR object too large for cache", noreply);
                return Outcome::Swallow(swallow);
            }
            Request::SwallowError { text, swallow } => {
                self.line(text);
                return Outcome::Swallow(swallow);
            }
            Request::Arith {
                key,
                delta,
                incr,
                noreply,
            } => match self.add_delta(key, incr, delta, None, None) {
                Delta::Ok(v) => {
                    if !noreply {
                        self.out.extend_from_slice(&v);
                        self.out.extend_from_slice(b"\r\n");
                    }
                }
                Delta::NonNumeric => self.maybe(
                    "CLIENT_ERROR cannot increment or decrement non-numeric value",
                    noreply,
                ),
                Delta::NotFound | Delta::CasMismatch => {
                    self.arith_miss(incr);
                    self.maybe("NOT_FOUND", noreply);
                }
            },
            Request::Touch {
                key,
                exptime,
                noreply,
            } => {
                bump(&self.stats.cmd_touch);
                let ttl = Ttl::from_exptime(exptime, self.now_ms);
                let hit = self.touch_key(key, ttl);
                if hit {
                    bump(&self.stats.touch_hits);
                } else {
                    bump(&self.stats.touch_misses);
                }
                self.maybe(if hit { "TOUCHED" } else { "NOT_FOUND" }, noreply);
            }
            Request::Delete { key, noreply } => {
                let (k, mut l) = self.lock(key);
                let hit = self.lookup(&mut l, &k).is_some() && l.remove(&k).is_some();
                drop(l);
                if hit {
                    bump(&self.stats.delete_hits);
                } else {
                    bump(&self.stats.delete_misses);
                }
                self.maybe(if hit { "DELETED" } else { "NOT_FOUND" }, noreply);
            }
            Request::FlushAll { delay, noreply } => {
                bump(&self.stats.cmd_flush);
                super::flush(
                    self.shared,
                    Ttl::from_exptime(delay, self.now_ms),
                    self.now_ms,
                );
                self.maybe("OK", noreply);
            }
            Request::Stats(sub) => self.stats(sub),
            Request::Version => {
                let v = format!("VERSION {}", super::VERSION);
                self.line(&v);
            }
            Request::Verbosity { noreply } => self.maybe("OK", noreply),
            Request::Quit => return Outcome::Close,
            Request::MetaGet(m) => self.meta_get(&m),
            Request::MetaSet(m, data) => self.meta_set(&m, data),
            Request::MetaDelete(m) => self.meta_delete(&m),
            Request::MetaArith(m) => self.meta_arith(&m),
            Request::MetaDebug(key) => self.meta_debug(&key),
            Request::MetaNoop => self.line("MN"),
        }
        Outcome::Continue
    }

    /// One key of a get/gets/gat/gats (its `VALUE` block on a hit).
    pub(super) fn get_one(&mut self, key: &[u8], with_cas: bool, touch: Option<i32>) {
        let stats = self.stats;
        let ttl = touch.map(|e| Ttl::from_exptime(e, self.now_ms));
        let (k, mut l) = self.lock(key);
        let now = self.now_ms;
        let hit = match self.lookup(&mut l, &k) {
            Some(e) => {
                let flags = e.mc_flags();
                let unique = if with_cas { cas::unique(e) } else { 0 };
                e.set_mc_cas(e.mc_cas() | cas::FETCHED);
                e.touch_access(now);
                let mut b = itoa::Buffer::new();
                let Some(s) = str_of(e) else { return };
                let data = s.as_bytes(&mut b);
                let out = &mut *self.out;
                let mut n = itoa::Buffer::new();
                out.extend_from_slice(b"VALUE ");
                out.extend_from_slice(key);
                out.push(b' ');
                out.extend_from_slice(n.format(flags).as_bytes());
                out.push(b' ');
                out.extend_from_slice(n.format(data.len()).as_bytes());
                if with_cas {
                    out.push(b' ');
                    out.extend_from_slice(n.format(unique).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(data);
                out.extend_from_slice(b"\r\n");
                true
            }
            None => false,
        };
        if let Some(ttl) = ttl {
            if hit {
                apply_ttl(&mut l, &k, ttl);
            }
            drop(l);
            bump(&stats.cmd_touch);
            bump(if hit {
                &stats.touch_hits
            } else {
                &stats.touch_misses
            });
        } else {
            drop(l);
            bump(&stats.cmd_get);
            bump(if hit {
                &stats.get_hits
            } else {
                &stats.get_misses
            });
        }
    }

    fn touch_key(&mut self, key: &[u8], ttl: Ttl) -> bool {
        let (k, mut l) = self.lock(key);
        let now = self.now_ms;
        match self.lookup(&mut l, &k) {
            Some(e) => {
                e.touch_access(now);
                apply_ttl(&mut l, &k, ttl);
                true
            }
            None => false,
        }
    }

    fn arith_miss(&self, incr: bool) {
        let s = self.stats;
        bump(if incr { &s.incr_misses } else { &s.decr_misses });
    }

    /// memcached's `do_store_item` for every storage mode; None when memory
    /// cannot be freed.
    fn store_item(&mut self, r: StoreReq<'_>) -> Option<(Stored, u64)> {
        let StoreReq {
            key,
            mode,
            data,
            flags,
            ttl,
            req_cas,
            stale_ok,
            explicit,
        } = r;
        if !self.memory_ok() {
            return None;
        }
        let stats = self.stats;
        bump(&stats.cmd_set);
        let (k, mut l) = self.lock(key);
        let lru = new_stamp(self.now_ms);
        // A stale store (meta `I`) keeps the old TTL and token bit: (expiry, bits).
        let mut stale: Option<(Option<u64>, u64)> = None;
        let mut ttl = ttl;
        let old = self.lookup(&mut l, &k);
        let result = match (mode, old) {
            (StoreMode::Add, Some(e)) => {
                e.touch_access(self.now_ms);
                return Some((Stored::NotStored, 0));
            }
            (StoreMode::Replace | StoreMode::Append | StoreMode::Prepend, None) => {
                return Some((Stored::NotStored, 0));
            }
            (StoreMode::Cas, None) => {
                bump(&stats.cas_misses);
                return Some((Stored::NotFound, 0));
            }
            (StoreMode::Cas, Some(e)) => {
                let cur = cas::unique(e);
                if cur == req_cas {
                    bump(&stats.cas_hits);
                } else if stale_ok && req_cas < cur {
                    stale = Some((e.expire_at(), cas::STALE | (e.mc_cas() & cas::TOKEN_SENT)));
                } else {
                    bump(&stats.cas_badval);
                    return Some((Stored::Exists, 0));
                }
                Stored::Stored
            }
            (StoreMode::Append | StoreMode::Prepend, Some(e)) => {
                if req_cas != 0 && req_cas != cas::unique(e) {
                    return Some((Stored::Exists, 0));
                }
                let Value::Str(s) = e.value_mut() else {
                    return Some((Stored::NotStored, 0));
                };
                let v = s.make_raw();
                if mode == StoreMode::Append {
                    v.extend_from_slice(data);
                } else {
                    v.splice(0..0, data.iter().copied());
                }
                let c = cas::renew(e, explicit);
                e.set_mc_cas(e.mc_cas() & !cas::FETCHED);
                l.signal_modified(&k);
                drop(l);
                bump(&stats.total_items);
                return Some((Stored::Stored, c));
            }
            _ => Stored::Stored,
        };
        if let Some((exp, _)) = stale {
            ttl = exp.map_or(Ttl::Never, Ttl::At);
        }
        if ttl == Ttl::Expired {
            l.remove(&k);
            return Some((result, 0));
        }
        let c = explicit.unwrap_or_else(cas::next);
        let cas_word = c | stale.map_or(0, |(_, bits)| bits);
        l.insert_entry(&k, new_item(key, data, lru, ttl, flags, cas_word));
        drop(l);
        bump(&stats.total_items);
        Some((result, c))
    }

    fn store_cmd(&mut self, s: &StorageRequest<'_>) -> Option<Stored> {
        let ttl = Ttl::from_exptime(s.exptime, self.now_ms);
        self.store_item(StoreReq {
            key: s.key,
            mode: s.mode,
            data: s.data,
            flags: s.flags,
            ttl,
            req_cas: s.cas,
            stale_ok: false,
            explicit: None,
        })
        .map(|r| r.0)
    }

    /// memcached's `do_add_delta`; `req_cas` is the meta `C` compare value.
    fn add_delta(
        &mut self,
        key: &[u8],
        incr: bool,
        delta: u64,
        req_cas: Option<u64>,
        explicit: Option<u64>,
    ) -> Delta {
        let stats = self.stats;
        let (k, mut l) = self.lock(key);
        let Some(e) = self.lookup(&mut l, &k) else {
            return Delta::NotFound;
        };
        let mut b = itoa::Buffer::new();
        let Some(s) = str_of(e) else {
            return Delta::NonNumeric;
        };
        let cur = s.as_bytes(&mut b);
        let old_len = cur.len();
        if old_len == 0 {
            return Delta::NonNumeric;
        }
        let parsed = safe_strtoull(cur);
        if let Some(c) = req_cas.filter(|&c| c != 0) {
            if cas::unique(e) != c {
                return Delta::CasMismatch;
            }
        }
        let Some(value) = parsed else {
            return Delta::NonNumeric;
        };
        let value = if incr {
            bump(&stats.incr_hits);
            value.wrapping_add(delta)
        } else {
            bump(&stats.decr_hits);
            value.saturating_sub(delta)
        };
        let mut nb = itoa::Buffer::new();
        let res = nb.format(value).as_bytes().to_vec();
        // memcached rewrites a shorter result in place, padded with spaces.
        let mut stored = res.clone();
        if stored.len() < old_len {
            stored.resize(old_len, b' ');
        }
        e.set_value(Value::Str(StrValue::from_bytes(&stored)));
        cas::renew(e, explicit);
        l.signal_modified(&k);
        drop(l);
        Delta::Ok(res)
    }

    fn stats(&mut self, sub: &[u8]) {
        let text = match sub {
            b"" => super::general_stats(self.shared),
            b"settings" => super::settings_stats(self.shared),
            b"items" | b"sizes" => String::new(),
            b"slabs" => format!(
                "STAT active_slabs 0\r\nSTAT total_malloced {}\r\n",
                crate::alloc::used_memory()
            ),
            b"conns" => String::new(),
            b"reset" => {
                self.shared.memcache.reset();
                self.line("RESET");
                return;
            }
            _ => {
                self.line("ERROR");
                return;
            }
        };
        self.out.extend_from_slice(text.as_bytes());
        self.line("END");
    }

    /// Echoes the `O` and `k` flags of a reply without an item.
    fn echo_ok(&mut self, m: &Meta<'_>) {
        for tok in m.flag_tokens() {
            echo_flag(self.out, tok, m);
        }
    }

    fn meta_get(&mut self, m: &Meta<'_>) {
        let stats = self.stats;
        let f = m.flags;
        let now = self.now_ms;
        let key: &[u8] = &m.key;
        let (k, mut l) = self.lock(key);
        let mut created = false;
        if self.lookup(&mut l, &k).is_none() {
            if let Some(n) = f.vivify {
                let ttl = Ttl::from_exptime(n, now);
                let cas_word = f.explicit_cas.unwrap_or_else(cas::next);
                l.insert_entry(&k, new_item(key, b"", new_stamp(now), ttl, 0, cas_word));
                created = true;
            }
        }
        let mut ttl_set = false;
        let Some(e) = self.lookup(&mut l, &k) else {
            drop(l);
            bump(&stats.cmd_get);
            bump(&stats.get_misses);
            if !f.quiet {
                self.out.extend_from_slice(b"EN");
                self.echo_ok(m);
                self.out.extend_from_slice(b"\r\n");
            }
            return;
        };
        let mut won = false;
        let len = str_of(e).map_or(0, |s| s.len());
        let out = &mut *self.out;
        meta_head(out, f.value, len);
        let mut new_ttl = None;
        for tok in m.flag_tokens() {
            match tok[0] {
                b'T' => {
                    ttl_set = true;
                    let t = Ttl::from_exptime(f.ttl.unwrap_or(0), now);
                    new_ttl = Some(t);
                }
                b'N' if created => won = true,
                b'R' => {
                    let recache = super::parse::safe_strtol(&tok[1..]).unwrap_or(0);
                    let left = ttl_secs(e, now);
                    if !cas::has(e, cas::TOKEN_SENT)
                        && !created
                        && left >= 0
                        && left < i64::from(recache)
                    {
                        won = true;
                    }
                }
                b's' => {
                    let _ = write!(out, " s{len}");
                }
                b'f' => {
                    let _ = write!(out, " f{}", e.mc_flags());
                }
                b'l' => {
                    let _ = write!(out, " l{}", idle_ms(e.lru(), now) / 1000);
                }
                b'h' => {
                    out.extend_from_slice(if cas::has(e, cas::FETCHED) {
                        b" h1"
                    } else {
                        b" h0"
                    });
                }
                _ => item_flag(out, tok, m, e, new_ttl, now),
            }
        }
        if cas::has(e, cas::TOKEN_SENT) {
            out.extend_from_slice(b" Z");
        }
        if cas::has(e, cas::STALE) {
            out.extend_from_slice(b" X");
            if !cas::has(e, cas::TOKEN_SENT) {
                won = true;
            }
        }
        if won {
            out.extend_from_slice(b" W");
            e.set_mc_cas(e.mc_cas() | cas::TOKEN_SENT);
        }
        out.extend_from_slice(b"\r\n");
        if f.value {
            let mut b = itoa::Buffer::new();
            if let Some(s) = str_of(e) {
                out.extend_from_slice(s.as_bytes(&mut b));
            }
            out.extend_from_slice(b"\r\n");
        }
        if !f.no_update {
            e.touch_access(now);
            e.set_mc_cas(e.mc_cas() | cas::FETCHED);
        }
        if let Some(t) = new_ttl {
            apply_ttl(&mut l, &k, t);
        }
        drop(l);
        if ttl_set {
            bump(&stats.cmd_touch);
            bump(&stats.touch_hits);
        } else {
            bump(&stats.cmd_get);
            bump(&stats.get_hits);
        }
    }

    fn meta_set(&mut self, m: &Meta<'_>, data: &[u8]) {
        let f = m.flags;
        let mut mode = match f.mode {
            Some(b'E') => StoreMode::Add,
            Some(b'A') => StoreMode::Append,
            Some(b'P') => StoreMode::Prepend,
            Some(b'R') => StoreMode::Replace,
            _ => StoreMode::Set,
        };
        if f.cas.is_some() && matches!(mode, StoreMode::Set | StoreMode::Replace) {
            mode = StoreMode::Cas;
        }
        let ttl = Ttl::from_exptime(f.ttl.unwrap_or(0), self.now_ms);
        let stale_ok = f.invalidate && mode == StoreMode::Cas;
        let Some((r, c)) = self.store_item(StoreReq {
            key: &m.key,
            mode,
            data,
            flags: f.client_flags,
            ttl,
            req_cas: f.cas.unwrap_or(0),
            stale_ok,
            explicit: f.explicit_cas,
        }) else {
            self.line("SERVER_ERROR out of memory storing object");
            return;
        };
        let code: &[u8] = match r {
            Stored::Stored if f.quiet => return,
            Stored::Stored => b"HD",
            Stored::Exists => b"EX",
            Stored::NotFound => b"NF",
            Stored::NotStored => b"NS",
        };
        self.out.extend_from_slice(code);
        for tok in m.flag_tokens() {
            if tok[0] == b'c' {
                let _ = write!(self.out, " c{c}");
            } else {
                echo_flag(self.out, tok, m);
            }
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn meta_delete(&mut self, m: &Meta<'_>) {
        let f = m.flags;
        let stats = self.stats;
        let now = self.now_ms;
        let key: &[u8] = &m.key;
        let (k, mut l) = self.lock(key);
        let code: &[u8] = match self.lookup(&mut l, &k) {
            None => {
                bump(&stats.delete_misses);
                b"NF"
            }
            Some(e) => {
                if f.cas.is_some_and(|c| c != cas::unique(e)) {
                    bump(&stats.delete_misses);
                    b"EX"
                } else if f.invalidate {
                    cas::renew(e, f.explicit_cas);
                    e.set_mc_cas((e.mc_cas() | cas::STALE) & !cas::TOKEN_SENT);
                    l.signal_modified(&k);
                    if let Some(t) = f.ttl {
                        apply_ttl(&mut l, &k, Ttl::from_exptime(t, now));
                    }
                    b"HD"
                } else {
                    bump(&stats.delete_hits);
                    l.remove(&k);
                    b"HD"
                }
            }
        };
        drop(l);
        if code == b"HD" && f.quiet {
            return;
        }
        self.out.extend_from_slice(code);
        self.echo_ok(m);
        self.out.extend_from_slice(b"\r\n");
    }

    fn meta_arith(&mut self, m: &Meta<'_>) {
        let f = m.flags;
        let incr = match f.mode {
            None | Some(b'I' | b'i' | b'+') => true,
            Some(b'D' | b'd' | b'-') => false,
            _ => {
                self.line("CLIENT_ERROR invalid mode for ma M token");
                return;
            }
        };
        let key: &[u8] = &m.key;
        let now = self.now_ms;
        let value = match self.add_delta(key, incr, f.delta, f.cas, f.explicit_cas) {
            Delta::Ok(v) => {
                if f.quiet {
                    return;
                }
                v
            }
            Delta::NonNumeric => {
                self.line("CLIENT_ERROR cannot increment or decrement non-numeric value");
                return;
            }
            Delta::CasMismatch => {
                self.out.extend_from_slice(b"EX");
                self.echo_ok(m);
                self.out.extend_from_slice(b"\r\n");
                return;
            }
            Delta::NotFound => match f.vivify {
                Some(n) => {
                    let v = itoa::Buffer::new().format(f.initial).as_bytes().to_vec();
                    let ttl = Ttl::from_exptime(n, now);
                    let req = StoreReq {
                        key,
                        mode: StoreMode::Add,
                        data: &v,
                        flags: 0,
                        ttl,
                        req_cas: 0,
                        stale_ok: false,
                        explicit: f.explicit_cas,
                    };
                    match self.store_item(req) {
                        Some((Stored::Stored, _)) => {}
                        Some(_) => {
                            self.line("NS");
                            return;
                        }
                        None => {
                            self.line("SERVER_ERROR Out of memory allocating new item");
                            return;
                        }
                    }
                    v
                }
                None => {
                    self.arith_miss(incr);
                    self.out.extend_from_slice(b"NF");
                    self.echo_ok(m);
                    self.out.extend_from_slice(b"\r\n");
                    return;
                }
            },
        };
        let (k, mut l) = self.lock(key);
        let Some(e) = self.lookup(&mut l, &k) else {
            // Expired on arrival (vivified with a past TTL).
            self.out.extend_from_slice(b"NF\r\n");
            return;
        };
        let out = &mut *self.out;
        meta_head(out, f.value, value.len());
        let mut new_ttl = None;
        for tok in m.flag_tokens() {
            match tok[0] {
                b'T' => new_ttl = Some(Ttl::from_exptime(f.ttl.unwrap_or(0), now)),
                _ => item_flag(out, tok, m, e, new_ttl, now),
            }
        }
        if f.value {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&value);
        }
        out.extend_from_slice(b"\r\n");
        if let Some(t) = new_ttl {
            apply_ttl(&mut l, &k, t);
        }
    }

    fn meta_debug(&mut self, key: &[u8]) {
        let (k, mut l) = self.lock(key);
        let now = self.now_ms;
        let Some(e) = self.lookup(&mut l, &k) else {
            drop(l);
            self.line("EN");
            return;
        };
        let exp = match e.expire_at() {
            None => -1,
            Some(_) => -ttl_secs(e, now),
        };
        let len = str_of(e).map(|s| s.len()).unwrap_or(0);
        let size = ITEM_OVERHEAD + key.len() + len + 2 + if e.mc_flags() != 0 { 4 } else { 0 };
        let line = format!(
            " exp={} la={} cas={} fetch={} cls=1 size={}\r\n",
            exp,
            idle_ms(e.lru(), now) / 1000,
            cas::unique(e),
            if cas::has(e, cas::FETCHED) {
                "yes"
            } else {
                "no"
            },
            size
        );
        drop(l);
        self.out.extend_from_slice(b"ME ");
        self.out.extend_from_slice(key);
        self.out.extend_from_slice(line.as_bytes());
    }
}

/// The head of a meta reply about an item: `VA <len>` when the value follows
/// (`v` flag), else `HD`.
fn meta_head(out: &mut Vec<u8>, value: bool, len: usize) {
    if value {
        out.extend_from_slice(b"VA ");
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    } else {
        out.extend_from_slice(b"HD");
    }
}

/// Echoes a meta request's `O` (opaque) and `k` (key, base64 with ` b` for
/// binary keys) flags into a reply.
fn echo_flag(out: &mut Vec<u8>, tok: &[u8], m: &Meta<'_>) {
    match tok[0] {
        b'O' => {
            out.push(b' ');
            out.extend_from_slice(tok);
        }
        b'k' => {
            out.extend_from_slice(b" k");
            if m.flags.binary {
                base64_encode(&m.key, out);
                out.extend_from_slice(b" b");
            } else {
                out.extend_from_slice(&m.key);
            }
        }
        _ => {}
    }
}

/// The return flags `mg` and `ma` share: `c` (CAS), `t` (TTL left, after a
/// `T` earlier in the request), and the echoed `O`/`k`.
fn item_flag(
    out: &mut Vec<u8>,
    tok: &[u8],
    m: &Meta<'_>,
    e: &mut Entry,
    new_ttl: Option<Ttl>,
    now: u64,
) {
    match tok[0] {
        b'c' => {
            let _ = write!(out, " c{}", cas::unique(e));
        }
        b't' => {
            let left = match new_ttl {
                Some(Ttl::Never) => -1,
                Some(Ttl::At(at)) => at.saturating_sub(now).div_ceil(1000) as i64,
                Some(Ttl::Expired) => 0,
                None => ttl_secs(e, now),
            };
            let _ = write!(out, " t{left}");
        }
        _ => echo_flag(out, tok, m),
    }
}

/// Sets a live key's expiry per memcached rules (expired: removed).
fn apply_ttl(l: &mut Locked<'_>, k: &Key<'_>, ttl: Ttl) {
    match ttl {
        Ttl::Expired => {
            l.remove(k);
        }
        Ttl::Never => {
            l.set_expire(k, None);
        }
        Ttl::At(at) => {
            l.set_expire(k, Some(at));
        }
    }
}
