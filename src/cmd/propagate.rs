//! The replication stream's producer: turns what a command (or an expiry
//! cycle, a memcached request, a blocked client's wake-up) changed into
//! stream entries, in deterministic form, and appends them to the backlog
//! (`node::replication`).
//!
//! While a replica is attached, every path that changes the keyspace runs
//! inside `record`, under the node's order lock: the mutation observer
//! (`store::mutation::replicating`) logs each change in order, and after
//! the run:
//!
//! - keys removed by expiry or eviction become `DEL key` (the primary
//!   decides; replicas never expire keys on their own);
//! - a command whose effect depends only on its arguments and the keys'
//!   state (`verbatim`: SET without relative TTL, HSET, LPUSH, INCR, DEL,
//!   FLUSHALL, ...) is sent as executed, after a `SELECT` when the stream's
//!   database changes;
//! - a one-key command with a relative TTL, a random pick or a float
//!   result is rewritten as Redis does (`SET key value PXAT t`, `PEXPIREAT
//!   key t`, SPOP as `SREM key picked...`, INCRBYFLOAT as `SET key value
//!   KEEPTTL`; see `rewrite`);
//! - anything else (XADD `*`, scripts, MULTI/EXEC, memcached
//!   writes) is sent as its effects: the final state
//!   of every key it wrote, with absolute expiry and memcached flags, in
//!   `cluster::dump`'s record format (`REPLRECORDS db payload`, a
//!   tombstone for a deleted key), applied by the replica's stream task.
//!
//! More than one entry for one run is wrapped in `MULTI`/`EXEC`, which the
//! replica applies atomically.

use bytes::{Bytes, BytesMut};

use crate::node::Node;
use crate::resp::encode_command;
use crate::store::mutation::{self, Change, Logged};

/// The stream verb of a batch of effect records (never a client command:
/// only the replica's stream task understands it).
pub const RECORDS_VERB: &[u8] = b"REPLRECORDS";

/// Commands sent as executed (see the module doc), and whether they are
/// sent even when the log shows no key change (whole-database commands,
/// which do not log per key).
fn verbatim_kind(args: &[Bytes]) -> Option<bool> {
    let name = std::str::from_utf8(&args[0]).ok()?.to_ascii_lowercase();
    let always = match name.as_str() {
        "flushall" | "flushdb" | "swapdb" => true,
        // Relative or clock-relative expiry options take the effects path.
        "set" => {
            return args[3..]
                .iter()
                .all(|a| {
                    ["nx", "xx", "get", "keepttl"]
                        .iter()
                        .any(|o| a.eq_ignore_ascii_case(o.as_bytes()))
                })
                .then_some(false)
        }
        "setnx" | "mset" | "msetnx" | "append" | "setrange" | "incr" | "decr" | "incrby"
        | "decrby" | "getset" | "getdel" | "del" | "unlink" | "hset" | "hmset" | "hsetnx"
        | "hdel" | "hincrby" | "lpush" | "rpush" | "lpushx" | "rpushx" | "lpop" | "rpop"
        | "lset" | "ltrim" | "lrem" | "linsert" | "lmove" | "rpoplpush" | "sadd" | "srem"
        | "smove" | "zadd" | "zrem" | "zincrby" | "zpopmin" | "zpopmax" | "persist" | "setbit"
        | "pfadd" | "rename" | "renamenx" | "sinterstore" | "sunionstore" | "sdiffstore"
        | "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" => false,
        _ => return None,
    };
    Some(always)
}

/// One RESP command.
fn command(parts: &[&[u8]]) -> BytesMut {
    let mut out = BytesMut::new();
    encode_command(&mut out, parts);
    out
}

/// Runs `f`, recording what it changes into the replication stream when a
/// replica is attached (else just runs it: one flag read). `verbatim` is
/// the command and the database it runs in, when the caller is a client
/// command; its entry may then be the command itself.
pub fn record<R>(node: &Node, verbatim: Option<(usize, &[Bytes])>, f: impl FnOnce() -> R) -> R {
    if !node.repl.active() {
        return f();
    }
    if mutation::is_replicating() {
        if let Some((db, args)) = verbatim {
            note_whole_db(node, db, args);
        }
        return f();
    }
    if BESIDE_BUSY.with(std::cell::Cell::get) {
        return f();
    }
    let _order = node.repl.order();
    let (r, log) = mutation::replicating(f);
    emit(node, verbatim, log);
    r
}

thread_local! {
    /// Set while a command runs beside a busy script (see `beside_busy`).
    static BESIDE_BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, a command allowed while a script is busy (SCRIPT KILL, ...),
/// without the order lock, which the busy script holds until it ends:
/// these commands change no key.
pub fn beside_busy<R>(f: impl FnOnce() -> R) -> R {
    BESIDE_BUSY.with(|b| b.set(true));
    let r = f();
    BESIDE_BUSY.with(|b| b.set(false));
    r
}

thread_local! {
    /// Whole-database commands (FLUSHALL, FLUSHDB, SWAPDB) run inside the
    /// current recording, in order: they log no per-key change.
    static WHOLE_DB: std::cell::RefCell<Vec<(Option<usize>, BytesMut)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Notes a whole-database command that ran (in database `db`) inside a
/// recording (inside EXEC, a script, a memcached `flush_all`): it goes to
/// the stream before the unit's key effects. One flag read otherwise.
pub fn note_whole_db(node: &Node, db: usize, args: &[Bytes]) {
    if !node.repl.active() || !mutation::is_replicating() || verbatim_kind(args) != Some(true) {
        return;
    }
    let parts: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
    WHOLE_DB.with(|w| w.borrow_mut().push((Some(db), command(&parts))));
}

thread_local! {
    /// The reply of the recorded command when its effect is in it (SPOP's
    /// picks).
    static REPLY: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Keeps the reply of a command whose stream entry is built from it (SPOP:
/// its popped members become `SREM key member ...`); one flag read for
/// every other command.
pub fn note_reply(args: &[Bytes], reply: &[u8]) {
    if mutation::is_replicating() && args[0].eq_ignore_ascii_case(b"spop") {
        REPLY.with(|r| *r.borrow_mut() = Some(reply.to_vec()));
    }
}

/// The bulk strings of a RESP2/RESP3 reply (one bulk, or an array or set of
/// bulks); None for anything else.
fn reply_bulks(reply: &[u8]) -> Option<Vec<&[u8]>> {
    fn line(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((&b[at..end], end + 2))
    }
    fn bulk(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let (head, at) = line(b, at)?;
        let n: usize = std::str::from_utf8(head.strip_prefix(b"$")?)
            .ok()?
            .parse()
            .ok()?;
        Some((b.get(at..at + n)?, at + n + 2))
    }
    match reply.first()? {
        b'$' => Some(vec![bulk(reply, 0)?.0]),
        b'*' | b'~' => {
            let (head, mut at) = line(reply, 0)?;
            let n: usize = std::str::from_utf8(&head[1..]).ok()?.parse().ok()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let (m, next) = bulk(reply, at)?;
                out.push(m);
                at = next;
            }
            Some(out)
        }
        _ => None,
    }
}

/// Appends a `PING` to the stream (Redis' `repl-ping-replica-period`), so
/// that replicas of an idle primary still see their link alive; false
/// (nothing sent) while a command holds the stream's order (a long script).
pub fn ping(node: &Node) -> bool {
    let Some(_order) = node.repl.try_order() else {
        return false;
    };
    node.repl.append(&command(&[b"PING"]));
    true
}

/// Appends the stream entries of one run's changes.
fn emit(node: &Node, verbatim: Option<(usize, &[Bytes])>, log: Logged) {
    let command_run = verbatim;
    let verbatim = verbatim.and_then(|(db, args)| Some((db, args, verbatim_kind(args)?)));
    let whole_db = WHOLE_DB.with(|w| std::mem::take(&mut *w.borrow_mut()));
    let reply = REPLY.with(|r| r.borrow_mut().take());
    if log.is_empty() && whole_db.is_empty() && !verbatim.is_some_and(|(_, _, always)| always) {
        return;
    }
    let mut entries: Vec<(Option<usize>, BytesMut)> = Vec::new();
    let mut touched: Vec<(usize, Box<[u8]>)> = Vec::new();
    for (db, key, change) in log {
        match change {
            Change::Expired | Change::Evicted => {
                entries.push((Some(db), command(&[b"DEL", &key[..]])));
            }
            Change::Written | Change::Deleted => {
                if !touched.iter().any(|(d, k)| *d == db && *k == key) {
                    touched.push((db, key));
                }
            }
            Change::Opened | Change::Dropped => {}
        }
    }
    if !whole_db.is_empty() {
        // The flushes first, then the final state of every key written
        // (a key written before a flush in the unit is a tombstone now).
        entries.extend(whole_db);
        effects(node, &touched, &mut entries);
    } else {
        emit_command(
            node,
            command_run,
            verbatim,
            reply.as_deref(),
            &touched,
            &mut entries,
        );
    }
    append(node, entries);
}

/// The entry of a run without whole-database commands: the command as
/// executed when it is deterministic, else its effects.
fn emit_command(
    node: &Node,
    rewritable: Option<(usize, &[Bytes])>,
    verbatim: Option<(usize, &[Bytes], bool)>,
    reply: Option<&[u8]>,
    touched: &[(usize, Box<[u8]>)],
    entries: &mut Vec<(Option<usize>, BytesMut)>,
) {
    match verbatim {
        Some((db, args, always)) if always || !touched.is_empty() => {
            let parts: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
            entries.push((Some(db), command(&parts)));
        }
        _ => {
            if let Some((db, args)) = rewritable.filter(|_| touched.len() == 1) {
                if let Some(c) = rewrite(node, db, args, &touched[0].1, reply) {
                    entries.push((Some(db), c));
                    return;
                }
            }
            effects(node, touched, entries)
        }
    }
}

/// Redis' rewrites of a one-key command whose effect depends on the clock,
/// on a random pick or on floating-point formatting, as the command that
/// has the same effect: SPOP → `SREM key picked...`, SET/SETEX/PSETEX/INCRBYFLOAT → `SET key value [PXAT t]`
/// (INCRBYFLOAT with `KEEPTTL`), EXPIRE/PEXPIRE/EXPIREAT/GETEX →
/// `PEXPIREAT key t` or `PERSIST key`, and `DEL key` when the key is gone.
/// None for other commands (they take the effects path).
fn rewrite(
    node: &Node,
    db: usize,
    args: &[Bytes],
    key: &[u8],
    reply: Option<&[u8]>,
) -> Option<BytesMut> {
    let name = std::str::from_utf8(&args[0]).ok()?.to_ascii_lowercase();
    if name == "spop" {
        let mut parts: Vec<&[u8]> = vec![b"SREM", key];
        parts.extend(reply_bulks(reply?)?);
        return Some(command(&parts));
    }
    let k = node.store.key(key);
    let mut slot = node.store.lock(db, &k, 0);
    let Some(e) = slot.get(&k) else {
        return Some(command(&[b"DEL", key]));
    };
    let at = e.expire_at().map(|t| t.to_string());
    match name.as_str() {
        "set" | "setex" | "psetex" | "incrbyfloat" => {
            let crate::store::Value::Str(v) = e.value() else {
                return None;
            };
            let mut scratch = itoa::Buffer::new();
            let v = v.as_bytes(&mut scratch);
            Some(match (&at, name.as_str()) {
                (_, "incrbyfloat") => command(&[b"SET", key, v, b"KEEPTTL"]),
                (Some(t), _) => command(&[b"SET", key, v, b"PXAT", t.as_bytes()]),
                (None, _) => command(&[b"SET", key, v]),
            })
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => Some(match &at {
            Some(t) => command(&[b"PEXPIREAT", key, t.as_bytes()]),
            None => command(&[b"PERSIST", key]),
        }),
        _ => None,
    }
}

/// Appends `entries` to the stream, with the SELECTs they need, wrapped in
/// MULTI/EXEC when more than one.
fn append(node: &Node, entries: Vec<(Option<usize>, BytesMut)>) {
    if entries.is_empty() {
        return;
    }
    let mut out = BytesMut::new();
    let mut stream = node.repl.stream();
    let wrap = entries.len() > 1;
    if wrap {
        encode_command(&mut out, &[&b"MULTI"[..]]);
    }
    for (db, bytes) in entries {
        if let Some(db) = db.filter(|&d| stream.db != Some(d)) {
            encode_command(&mut out, &[&b"SELECT"[..], db.to_string().as_bytes()]);
            stream.db = Some(db);
        }
        out.extend_from_slice(&bytes);
    }
    if wrap {
        encode_command(&mut out, &[&b"EXEC"[..]]);
    }
    drop(stream);
    node.repl.append(&out);
}

/// The final state of every key in `touched`, one `REPLRECORDS` entry per
/// database.
fn effects(
    node: &Node,
    touched: &[(usize, Box<[u8]>)],
    entries: &mut Vec<(Option<usize>, BytesMut)>,
) {
    let mut dbs: Vec<usize> = touched.iter().map(|(d, _)| *d).collect();
    dbs.dedup();
    dbs.sort_unstable();
    dbs.dedup();
    for db in dbs {
        let mut payload = Vec::new();
        for (_, key) in touched.iter().filter(|(d, _)| *d == db) {
            let k = node.store.key(key);
            // The stream's records carry absolute expiry: a key whose TTL
            // passed is sent as it is and its DEL follows from expiry.
            let mut slot = node.store.lock(db, &k, 0);
            match slot.get(&k) {
                Some(e) => crate::cluster::dump::encode_entry(&mut payload, e),
                None => crate::cluster::dump::encode_tombstone(&mut payload, key),
            }
        }
        entries.push((
            None,
            command(&[RECORDS_VERB, db.to_string().as_bytes(), &payload]),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    /// Deterministic commands go as executed; relative TTLs and random or
    /// clock-dependent ones take the effects path.
    #[test]
    fn verbatim_only_when_deterministic() {
        assert_eq!(verbatim_kind(&args(&["SET", "k", "v"])), Some(false));
        assert_eq!(
            verbatim_kind(&args(&["set", "k", "v", "NX", "GET"])),
            Some(false)
        );
        assert_eq!(verbatim_kind(&args(&["SET", "k", "v", "EX", "10"])), None);
        assert_eq!(verbatim_kind(&args(&["SET", "k", "v", "PXAT", "10"])), None);
        assert_eq!(verbatim_kind(&args(&["FLUSHALL"])), Some(true));
        for cmd in [
            "SPOP",
            "INCRBYFLOAT",
            "EXPIRE",
            "EVAL",
            "EXEC",
            "XADD",
            "SRANDMEMBER",
        ] {
            assert_eq!(verbatim_kind(&args(&[cmd, "k"])), None, "{cmd}");
        }
    }

    /// SPOP's reply, in each shape, gives its picks.
    #[test]
    fn spop_picks_from_its_reply() {
        assert_eq!(reply_bulks(b"$1\r\na\r\n"), Some(vec![&b"a"[..]]));
        assert_eq!(
            reply_bulks(b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"),
            Some(vec![&b"a"[..], b"bc"])
        );
        assert_eq!(reply_bulks(b"~1\r\n$0\r\n\r\n"), Some(vec![&b""[..]]));
        assert_eq!(reply_bulks(b"*0\r\n"), Some(vec![]));
        assert_eq!(reply_bulks(b"$-1\r\n"), None);
        assert_eq!(reply_bulks(b"-ERR x\r\n"), None);
    }
}
