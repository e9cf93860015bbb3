//! What a command handler runs with: the context ([`Ctx`]), the follow-up it
//! may ask of its connection ([`After`]), argument parsing and the key access
//! helpers shared by the command families.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use super::client::Client;
use super::shared::Shared;
use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::store::{notify, Key, Locked, Store};

/// A command handler: reads `args` (name included) and writes its reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;
/// Finds key argument positions of commands whose keys move (numkeys forms).
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Work the connection loop must do after a command returns.
#[derive(Debug)]
pub enum After {
    /// Write pending replies, then close.
    Close,
    /// Enter MONITOR mode.
    Monitor,
    /// Pause this connection (DEBUG SLEEP, WAIT without replicas).
    Sleep(std::time::Duration),
    /// Block until a key has elements (BLPOP and friends).
    Block(crate::node::blocking::BlockSpec),
    /// Run a cluster routing plan (proxy to the owner) and append its reply.
    Route(Box<crate::cluster::route::RoutedCommand>),
    /// Become a replica link: serve the replication stream (PSYNC, SYNC).
    Replicate(Box<crate::node::replication::SyncRequest>),
    /// Wait for replicas to acknowledge (WAIT) and append the count.
    Wait(crate::node::replication::WaitSpec),
    /// Send keys to another server (MIGRATE) and append the outcome.
    Migrate(Box<super::migrate_plan::MigratePlan>),
}

/// Everything a handler may touch.
pub struct Ctx<'a> {
    /// Node state.
    pub shared: &'a Arc<Shared>,
    /// This connection.
    pub client: &'a mut Client,
    /// Reply buffer.
    pub out: &'a mut Reply,
    /// Time of the batch in unix ms (consistent within one command).
    pub now_ms: u64,
    /// Follow-up for the connection loop.
    pub after: Option<After>,
    /// True while this command runs under the exclusive gate.
    pub exclusive: bool,
    /// Set when the command was held back by CLIENT PAUSE (its arguments
    /// are handed back to run after the pause).
    pub paused: bool,
}

impl<'a> Ctx<'a> {
    /// The context of one command for `client` at `now_ms`; `exclusive`
    /// when it runs under the exclusive side of the gate.
    pub fn new(
        shared: &'a Arc<Shared>,
        client: &'a mut Client,
        out: &'a mut Reply,
        now_ms: u64,
        exclusive: bool,
    ) -> Ctx<'a> {
        Ctx {
            shared,
            client,
            out,
            now_ms,
            after: None,
            exclusive,
            paused: false,
        }
    }

    /// True when the node runs as a ring member (cluster mode).
    pub fn cluster_enabled(&self) -> bool {
        self.shared.config.read().cluster_enabled
    }

    /// The keyspace.
    pub fn store(&self) -> &'a Store {
        &self.shared.store
    }

    /// Slot and hash of a key.
    pub fn key<'k>(&self, bytes: &'k [u8]) -> Key<'k> {
        self.shared.store.key(bytes)
    }

    /// Locks the slot of `key` in the client's database.
    pub fn lock(&self, key: &Key<'_>) -> Locked<'a> {
        self.shared.store.lock(self.client.db, key, self.now_ms)
    }

    /// The LRU/LFU stamp for a newly written or accessed key.
    pub fn lru_stamp(&self) -> u32 {
        crate::store::evict::new_stamp(self.now_ms)
    }

    /// Records a hit or miss of a read lookup of `key`; a miss raises the
    /// `keymiss` event (Redis' `lookupKey` for reads).
    pub fn hit(&self, found: bool, key: &[u8]) {
        let s = &self.shared.store.stats;
        if found {
            s.keyspace_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            s.keyspace_misses.fetch_add(1, Ordering::Relaxed);
            self.notify(notify::KEY_MISS, "keymiss", key);
        }
    }

    /// Raises the `keymiss` event when a read lookup of `key` found nothing
    /// (for lookups Redis counts apart from the keyspace hits: EXISTS, TYPE,
    /// TTL, TOUCH).
    #[inline]
    pub fn notify_miss(&self, found: bool, key: &[u8]) {
        if !found {
            self.notify(notify::KEY_MISS, "keymiss", key);
        }
    }

    /// Raises keyspace event `event` of class `class` (`store::notify`) for
    /// `key` in the client's database, as Redis' `notifyKeyspaceEvent`.
    /// Costs one branch while the class is off.
    #[inline]
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        self.shared.store.notify(self.client.db, class, event, key);
    }
}

/// Writes Redis' HELP reply: a header line, the given lines, and the HELP line.
pub fn help_reply(ctx: &mut Ctx<'_>, name: &str, lines: &[&str]) {
    ctx.out.array_len(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(b: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(b).ok_or(CmdError::NotInt)
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn arg_f64(b: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(b).ok_or(CmdError::NotFloat)
}

/// Key positions of the `numkeys key [key ...]` forms (LMPOP, ZUNION, ...)
/// whose numkeys argument is at `numkeys_at`: none when it is not a positive
/// number, never past the last argument.
pub fn numkeys_positions(args: &[Bytes], numkeys_at: usize) -> Vec<usize> {
    let n = args
        .get(numkeys_at)
        .and_then(|a| crate::util::parse_i64(a))
        .unwrap_or(0)
        .max(0) as usize;
    let first = numkeys_at + 1;
    (first..first.saturating_add(n).min(args.len())).collect()
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

/// Looks up `key` for a read-only command: counts the keyspace hit or miss,
/// refreshes the key's LRU/LFU stamp and hands the value (None when the key is
/// missing) to `f` together with the reply buffer.
pub fn read_key<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(Option<&crate::store::Value>, &mut Reply) -> Result<T, CmdError>,
) -> Result<T, CmdError> {
    let key = ctx.key(key);
    let mut slot = ctx.lock(&key);
    let now = ctx.now_ms;
    let entry = slot.get_access(&key);
    ctx.hit(entry.is_some(), key.bytes);
    let value = entry.map(|e| {
        e.touch_access(now);
        e.value()
    });
    f(value, ctx.out)
}

/// The value at `key` for a write command, created with `make` when missing;
/// `pick` selects the expected type (WRONGTYPE when it returns None). Only a
/// creation counts as a modification (WATCH); a caller that changes an
/// existing value calls `signal_modified` (Redis skips it for no-op writes).
pub fn value_for_write<'s, T>(
    slot: &'s mut crate::store::Locked<'_>,
    key: &Key<'_>,
    lru: u32,
    make: impl FnOnce() -> crate::store::Value,
    pick: fn(&mut crate::store::Value) -> Option<&mut T>,
) -> Result<&'s mut T, CmdError> {
    if slot.get(key).is_none() {
        slot.set(key, make(), false, lru);
    }
    slot.get_mut_quiet(key)
        .and_then(|e| pick(e.value_mut()))
        .ok_or(CmdError::WrongType)
}

/// Runs `f` on the existing aggregate at `key` (None when the key is missing;
/// WRONGTYPE when `pick` rejects the value) and deletes the key when `f`
/// leaves the aggregate empty, as Redis does. The key counts as modified
/// (WATCH) and raises `event` (class, name) only when `changed` says so of
/// `f`'s result; a deletion raises `del` after it, in Redis' order.
pub fn modify_key<T, R>(
    slot: &mut crate::store::Locked<'_>,
    key: &Key<'_>,
    event: (u32, &str),
    pick: fn(&mut crate::store::Value) -> Option<&mut T>,
    is_empty: fn(&T) -> bool,
    changed: fn(&R) -> bool,
    f: impl FnOnce(&mut T) -> R,
) -> Result<Option<R>, CmdError> {
    let Some(e) = slot.get_mut_quiet(key) else {
        return Ok(None);
    };
    let agg = pick(e.value_mut()).ok_or(CmdError::WrongType)?;
    let r = f(agg);
    let empty = is_empty(agg);
    if changed(&r) {
        slot.signal_modified(key);
        slot.notify(event.0, event.1, key.bytes);
    }
    if empty {
        slot.remove(key);
        slot.notify(notify::GENERIC, "del", key.bytes);
    }
    Ok(Some(r))
}
