//! What a command is ([`Command`]: name, arity, flags, key positions,
//! handler) and the registry the node's commands are looked up in: dispatch,
//! MULTI, COMMAND introspection, scripts and metrics read it.
//!
//! The rows themselves are `cmd/table.rs`, which imports every command
//! family's handlers. Only `Shared::new` reads them: it installs them here
//! once (`install`), so the code that runs commands (and is called by the
//! handlers) never depends on the table.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::cluster::route::{Join, Shape};

use super::ctx::{Handler, KeysFn};

/// Command flags (Redis' names in `FLAG_NAMES`).
pub mod flags {
    /// Modifies the keyspace.
    pub const WRITE: u32 = 1;
    /// Reads only.
    pub const READONLY: u32 = 1 << 1;
    /// May grow memory: refused with -OOM over maxmemory.
    pub const DENYOOM: u32 = 1 << 2;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 3;
    /// Pub/Sub.
    pub const PUBSUB: u32 = 1 << 4;
    /// Not allowed in scripts.
    pub const NOSCRIPT: u32 = 1 << 5;
    /// May block the client.
    pub const BLOCKING: u32 = 1 << 6;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 7;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 8;
    /// Not shown in MONITOR.
    pub const SKIP_MONITOR: u32 = 1 << 9;
    /// Not logged in SLOWLOG.
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    /// O(1) or O(log n).
    pub const FAST: u32 = 1 << 11;
    /// Allowed before AUTH.
    pub const NO_AUTH: u32 = 1 << 12;
    /// May replicate even when read-only.
    pub const MAY_REPLICATE: u32 = 1 << 13;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 14;
    /// Keys are found by a function, not by positions.
    pub const MOVABLEKEYS: u32 = 1 << 15;
    /// Allowed while a script is busy.
    pub const ALLOW_BUSY: u32 = 1 << 16;
    /// Refused unless `enable-debug-command` allows the client (Redis'
    /// `CMD_PROTECTED`: DEBUG), whatever its subcommand.
    pub const PROTECTED: u32 = 1 << 17;
    /// Read-only in Redis' flags yet may change its key in place (PFCOUNT
    /// caches the cardinality in the HLL string): WATCH records it like a write.
    pub const WRITES_ON_READ: u32 = 1 << 23;
    /// Runs under the exclusive gate (atomic against every other client).
    pub const EXCLUSIVE: u32 = 1 << 24;
    /// Split per owner in a cluster, replies joined as MGET's values.
    pub const SPLIT_VALUES: u32 = 1 << 25;
    /// Split per owner in a cluster (key/value pairs), `+OK` when every part is.
    pub const SPLIT_OK: u32 = 1 << 26;
    /// Split per owner in a cluster, integer replies summed.
    pub const SPLIT_SUM: u32 = 1 << 27;
    /// Bound to the client's own connection (a subscription): a cluster node
    /// answers `-MOVED` for another node's slot, it never proxies it.
    pub const REDIRECT_ONLY: u32 = 1 << 28;
    /// Allowed to a RESP2 client in subscribed mode.
    pub const SUBSCRIBED_OK: u32 = 1 << 29;
    /// Runs at once inside MULTI instead of being queued.
    pub const NOT_QUEUED: u32 = 1 << 30;

    /// Redis' names for the public flags, in COMMAND INFO order.
    pub const FLAG_NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        // MAY_REPLICATE ("may_replicate") is hidden on purpose, as in Redis.
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

use flags::*;

/// One command (or subcommand) of the node: a row of `cmd/table.rs`.
#[derive(Debug)]
pub struct Command {
    /// Full lowercase name (`get`, `config|get`).
    pub name: &'static str,
    /// Redis arity: exact count, or at least `-arity` when negative.
    pub arity: i32,
    /// Bit set of `flags`.
    pub flags: u32,
    /// First key argument (0: none).
    pub first_key: i32,
    /// Last key argument (-1: last argument).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Key finder for commands with movable keys.
    pub keys_fn: Option<KeysFn>,
    /// Handler (None for containers such as CONFIG).
    pub handler: Option<Handler>,
    /// Subcommands of a container.
    pub subcommands: &'static [Command],
    /// Documentation group (string, keyspace, server, ...).
    pub group: &'static str,
}

impl Command {
    /// True when the command has flag `f`.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }

    /// What cluster routing needs of this command besides its keys.
    pub fn route_shape(&self) -> Shape {
        let split = if self.has(SPLIT_VALUES) {
            Some((Join::Values, 1))
        } else if self.has(SPLIT_OK) {
            Some((Join::Ok, 2))
        } else if self.has(SPLIT_SUM) {
            Some((Join::Sum, 1))
        } else {
            None
        };
        Shape {
            split,
            redirect_only: self.has(REDIRECT_ONLY),
        }
    }

    /// True when `argc` arguments (name included) satisfy the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc as i32 == a
        } else {
            argc as i32 >= -a
        }
    }

    /// Indexes of the key arguments in `args`.
    pub fn key_positions(&self, args: &[Bytes]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(args);
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = args.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key.min(argc - 1)
        };
        let step = self.step.max(1);
        (self.first_key..=last)
            .step_by(step as usize)
            .map(|i| i as usize)
            .filter(|&i| i < args.len())
            .collect()
    }

    /// The name shown in errors, uppercase container part (`CONFIG`).
    pub fn container_name(&self) -> String {
        self.name
            .split('|')
            .next()
            .unwrap_or(self.name)
            .to_ascii_uppercase()
    }
}

/// A command found in the registry with the index of its statistics.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The command.
    pub cmd: &'static Command,
    /// Index into `Shared::cmd_stats` (and into `all_commands`).
    pub stat: usize,
}

/// The installed commands, indexed by name.
struct CommandIndex {
    /// The top-level rows, in table order (COMMAND's order).
    rows: &'static [Command],
    /// Every command and subcommand by full lowercase name.
    by_name: HashMap<&'static [u8], Found, ahash::RandomState>,
    /// Every command and subcommand, in statistics order.
    all: Vec<&'static Command>,
}

impl CommandIndex {
    fn build(rows: &'static [Command]) -> CommandIndex {
        let mut by_name = HashMap::with_hasher(ahash::RandomState::new());
        let mut all = Vec::new();
        for cmd in rows {
            by_name.insert(
                cmd.name.as_bytes(),
                Found {
                    cmd,
                    stat: all.len(),
                },
            );
            all.push(cmd);
            for sub in cmd.subcommands {
                by_name.insert(
                    sub.name.as_bytes(),
                    Found {
                        cmd: sub,
                        stat: all.len(),
                    },
                );
                all.push(sub);
            }
        }
        CommandIndex { rows, by_name, all }
    }
}

/// The registry: empty until `install`.
static INSTALLED: OnceLock<CommandIndex> = OnceLock::new();

/// Installs `rows` as the node's commands. The first call wins: the node has
/// one table, and `Shared::new` installs it for every `Shared` it builds.
pub fn install(rows: &'static [Command]) {
    INSTALLED.get_or_init(|| CommandIndex::build(rows));
}

/// The top-level commands, in table order (empty before `install`).
pub fn top_level() -> &'static [Command] {
    INSTALLED.get().map_or(&[], |i| i.rows)
}

/// Number of statistics slots (commands plus subcommands).
pub fn stat_slots() -> usize {
    all_commands().len()
}

/// Every command and subcommand, in statistics order.
pub fn all_commands() -> &'static [&'static Command] {
    INSTALLED.get().map_or(&[], |i| &i.all)
}

/// The command whose statistics slot is `stat`.
pub fn by_stat(stat: usize) -> Option<Found> {
    let cmd = *all_commands().get(stat)?;
    Some(Found { cmd, stat })
}

thread_local! {
    /// The last command found on this thread: pipelines and benchmarks send
    /// the same command over and over, and comparing its name is cheaper than
    /// hashing it (about 2% of a pipelined SET's CPU).
    static LAST_FOUND: std::cell::Cell<Option<Found>> = const { std::cell::Cell::new(None) };
}

/// Looks up a top-level command by (any-case) name.
pub fn lookup(name: &[u8]) -> Option<Found> {
    if let Some(last) = LAST_FOUND.get() {
        if last.cmd.name.as_bytes().eq_ignore_ascii_case(name) {
            return Some(last);
        }
    }
    if name.len() > 32 || name.contains(&b'|') {
        return None;
    }
    let mut buf = [0u8; 32];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let found = INSTALLED.get()?.by_name.get(&*lower).copied();
    if found.is_some() {
        LAST_FOUND.set(found);
    }
    found
}

/// Looks up `container|sub` for a container command.
pub fn lookup_sub(container: &Command, sub: &[u8]) -> Option<Found> {
    let name = format!(
        "{}|{}",
        container.name,
        String::from_utf8_lossy(sub).to_ascii_lowercase()
    );
    INSTALLED.get()?.by_name.get(name.as_bytes()).copied()
}
