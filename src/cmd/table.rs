//! The command table: the single source of truth for every command's name,
//! arity, flags, key positions and handler. Dispatch, arity errors, COMMAND
//! INFO/DOCS/GETKEYS, MULTI, WATCH, OOM checks and cluster routing all read it.

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;

use crate::cluster::route::{Join, Shape};

use super::ctx::{Handler, KeysFn};
use super::{
    cluster, connection, function, hash, keys, list, pubsub, scripting, server, set, string,
    transaction, zset,
};

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
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

use flags::*;

/// One row of the table.
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
    /// One-line summary for COMMAND DOCS.
    pub summary: &'static str,
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

const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        keys_fn: None,
        handler: Some(handler),
        subcommands: &[],
        group,
        summary: "",
    }
}

const fn container(
    name: &'static str,
    arity: i32,
    group: &'static str,
    subs: &'static [Command],
) -> Command {
    Command {
        name,
        arity,
        flags: 0,
        first_key: 0,
        last_key: 0,
        step: 0,
        keys_fn: None,
        handler: None,
        subcommands: subs,
        group,
        summary: "",
    }
}

const fn container_with(
    name: &'static str,
    arity: i32,
    group: &'static str,
    handler: Handler,
    subs: &'static [Command],
) -> Command {
    let mut cmd = container(name, arity, group, subs);
    cmd.handler = Some(handler);
    cmd.flags = LOADING | STALE;
    cmd
}

/// Marks a command as finding its keys with `f` (numkeys forms).
pub const fn movable(mut cmd: Command, f: KeysFn) -> Command {
    cmd.keys_fn = Some(f);
    cmd.flags |= MOVABLEKEYS;
    cmd
}

const NK: (i32, i32, i32) = (0, 0, 0);
const K1: (i32, i32, i32) = (1, 1, 1);
const KALL: (i32, i32, i32) = (1, -1, 1);
const K12: (i32, i32, i32) = (1, 2, 1);
/// Command group of the sorted set commands.
const ZS: &str = "sorted_set";
const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

/// Every command of the node.
pub static COMMANDS: &[Command] = &[
    // strings
    c("get", 2, READONLY | FAST, K1, "string", string::get),
    c("set", -3, WRITE | DENYOOM, K1, "string", string::set),
    c(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::setnx,
    ),
    c("setex", 4, WRITE | DENYOOM, K1, "string", string::setex),
    c("psetex", 4, WRITE | DENYOOM, K1, "string", string::psetex),
    c(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::getset,
    ),
    c("getdel", 2, WRITE | FAST, K1, "string", string::getdel),
    c("getex", -2, WRITE | FAST, K1, "string", string::getex),
    c(
        "mget",
        -2,
        SPLIT_VALUES | READONLY | FAST,
        KALL,
        "string",
        string::mget,
    ),
    c(
        "mset",
        -3,
        SPLIT_OK | WRITE | DENYOOM,
        (1, -1, 2),
        "string",
        string::mset,
    ),
    c(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        (1, -1, 2),
        "string",
        string::msetnx,
    ),
    c(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::append,
    ),
    c("strlen", 2, READONLY | FAST, K1, "string", string::strlen),
    c("getrange", 4, READONLY, K1, "string", string::getrange),
    c("substr", 4, READONLY, K1, "string", string::getrange),
    c(
        "setrange",
        4,
        WRITE | DENYOOM,
        K1,
        "string",
        string::setrange,
    ),
    c(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::incr,
    ),
    c(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::decr,
    ),
    c(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::incrby,
    ),
    c(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::decrby,
    ),
    c(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        K1,
        "string",
        string::incrbyfloat,
    ),
    c("lcs", -3, READONLY, K12, "string", string::lcs),
    // keyspace
    c("del", -2, SPLIT_SUM | WRITE, KALL, "generic", keys::del),
    c(
        "unlink",
        -2,
        SPLIT_SUM | WRITE | FAST,
        KALL,
        "generic",
        keys::del,
    ),
    c(
        "exists",
        -2,
        SPLIT_SUM | READONLY | FAST,
        KALL,
        "generic",
        keys::exists,
    ),
    c("type", 2, READONLY | FAST, K1, "generic", keys::type_cmd),
    c("expire", -3, WRITE | FAST, K1, "generic", keys::expire),
    c("pexpire", -3, WRITE | FAST, K1, "generic", keys::pexpire),
    c("expireat", -3, WRITE | FAST, K1, "generic", keys::expireat),
    c(
        "pexpireat",
        -3,
        WRITE | FAST,
        K1,
        "generic",
        keys::pexpireat,
    ),
    c("ttl", 2, READONLY | FAST, K1, "generic", keys::ttl),
    c("pttl", 2, READONLY | FAST, K1, "generic", keys::pttl),
    c(
        "expiretime",
        2,
        READONLY | FAST,
        K1,
        "generic",
        keys::expiretime,
    ),
    c(
        "pexpiretime",
        2,
        READONLY | FAST,
        K1,
        "generic",
        keys::pexpiretime,
    ),
    c("persist", 2, WRITE | FAST, K1, "generic", keys::persist),
    c("keys", 2, READONLY, NK, "generic", keys::keys),
    c("scan", -2, READONLY, NK, "generic", keys::scan),
    c("randomkey", 1, READONLY, NK, "generic", keys::randomkey),
    c("rename", 3, WRITE, K12, "generic", keys::rename),
    c("renamenx", 3, WRITE | FAST, K12, "generic", keys::renamenx),
    c("copy", -3, WRITE | DENYOOM, K12, "generic", keys::copy),
    c("move", 3, WRITE | FAST, K1, "generic", keys::move_cmd),
    c(
        "touch",
        -2,
        SPLIT_SUM | READONLY | FAST,
        KALL,
        "generic",
        keys::touch,
    ),
    c("dbsize", 1, READONLY | FAST, NK, "server", keys::dbsize),
    container(
        "object",
        -2,
        "generic",
        &[
            c(
                "object|encoding",
                3,
                READONLY,
                (2, 2, 1),
                "generic",
                keys::object_encoding,
            ),
            c(
                "object|freq",
                3,
                READONLY,
                (2, 2, 1),
                "generic",
                keys::object_freq,
            ),
            c(
                "object|idletime",
                3,
                READONLY,
                (2, 2, 1),
                "generic",
                keys::object_idletime,
            ),
            c(
                "object|refcount",
                3,
                READONLY,
                (2, 2, 1),
                "generic",
                keys::object_refcount,
            ),
            c(
                "object|help",
                2,
                LOADING | STALE,
                NK,
                "generic",
                keys::object_help,
            ),
        ],
    ),
    // connection
    c(
        "ping",
        -1,
        SUBSCRIBED_OK | FAST,
        NK,
        "connection",
        connection::ping,
    ),
    c("echo", 2, FAST, NK, "connection", connection::echo),
    c(
        "quit",
        -1,
        SUBSCRIBED_OK | NOT_QUEUED | ALLOW_BUSY | FAST | NOSCRIPT | LOADING | STALE | NO_AUTH,
        NK,
        "connection",
        connection::quit,
    ),
    c(
        "reset",
        1,
        SUBSCRIBED_OK | NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        NK,
        "connection",
        connection::reset,
    ),
    c(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        NK,
        "connection",
        connection::auth,
    ),
    c(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        NK,
        "connection",
        connection::hello,
    ),
    c(
        "select",
        2,
        LOADING | STALE | FAST,
        NK,
        "connection",
        connection::select,
    ),
    container(
        "client",
        -2,
        "connection",
        &[
            c(
                "client|setname",
                3,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_setname,
            ),
            c(
                "client|getname",
                2,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_getname,
            ),
            c(
                "client|id",
                2,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_id,
            ),
            c(
                "client|info",
                2,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_info,
            ),
            c(
                "client|list",
                -2,
                ADM,
                NK,
                "connection",
                connection::client_list,
            ),
            c(
                "client|kill",
                -3,
                ADM,
                NK,
                "connection",
                connection::client_kill,
            ),
            c(
                "client|unblock",
                -3,
                ADM,
                NK,
                "connection",
                connection::client_unblock,
            ),
            c(
                "client|no-evict",
                3,
                ADM,
                NK,
                "connection",
                connection::client_no_evict,
            ),
            c(
                "client|reply",
                3,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_reply,
            ),
            c(
                "client|setinfo",
                4,
                NOSCRIPT | LOADING | STALE,
                NK,
                "connection",
                connection::client_setinfo,
            ),
            c(
                "client|help",
                2,
                LOADING | STALE,
                NK,
                "connection",
                connection::client_help,
            ),
        ],
    ),
    // server
    c("info", -1, LOADING | STALE, NK, "server", server::info),
    container(
        "config",
        -2,
        "server",
        &[
            c("config|get", -3, ADM, NK, "server", server::config_get),
            c("config|set", -4, ADM, NK, "server", server::config_set),
            c(
                "config|resetstat",
                2,
                ADM,
                NK,
                "server",
                server::config_resetstat,
            ),
            c(
                "config|help",
                2,
                LOADING | STALE,
                NK,
                "server",
                server::config_help,
            ),
        ],
    ),
    c("flushall", -1, WRITE, NK, "server", server::flushall),
    c("flushdb", -1, WRITE, NK, "server", server::flushdb),
    c(
        "swapdb",
        3,
        WRITE | FAST | EXCLUSIVE,
        NK,
        "server",
        server::swapdb,
    ),
    c(
        "time",
        1,
        LOADING | STALE | FAST,
        NK,
        "server",
        server::time,
    ),
    c(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        NK,
        "server",
        server::lastsave,
    ),
    container(
        "slowlog",
        -2,
        "server",
        &[
            c(
                "slowlog|get",
                -2,
                ADMIN | LOADING | STALE,
                NK,
                "server",
                server::slowlog_get,
            ),
            c(
                "slowlog|len",
                2,
                ADMIN | LOADING | STALE,
                NK,
                "server",
                server::slowlog_len,
            ),
            c(
                "slowlog|reset",
                2,
                ADMIN | LOADING | STALE,
                NK,
                "server",
                server::slowlog_reset,
            ),
            c(
                "slowlog|help",
                2,
                LOADING | STALE,
                NK,
                "server",
                server::slowlog_help,
            ),
        ],
    ),
    c("monitor", 1, ADM, NK, "server", server::monitor),
    container(
        "debug",
        -2,
        "server",
        &[
            c("debug|sleep", 3, ADM, NK, "server", server::debug_sleep),
            c(
                "debug|set-active-expire",
                3,
                ADM,
                NK,
                "server",
                server::debug_set_active_expire,
            ),
        ],
    ),
    c(
        "shutdown",
        -1,
        ADM | NO_MULTI | ALLOW_BUSY,
        NK,
        "server",
        server::shutdown,
    ),
    c("wait", 3, NOSCRIPT, NK, "generic", server::wait),
    container(
        "memory",
        -2,
        "server",
        &[c(
            "memory|usage",
            -3,
            READONLY,
            (2, 2, 1),
            "server",
            server::memory_usage,
        )],
    ),
    container_with(
        "command",
        -1,
        "server",
        server::command,
        &[
            c(
                "command|count",
                2,
                LOADING | STALE,
                NK,
                "server",
                server::command_count,
            ),
            c(
                "command|info",
                -2,
                LOADING | STALE,
                NK,
                "server",
                server::command_info,
            ),
            c(
                "command|docs",
                -2,
                LOADING | STALE,
                NK,
                "server",
                server::command_docs,
            ),
            c(
                "command|getkeys",
                -4,
                LOADING | STALE,
                NK,
                "server",
                server::command_getkeys,
            ),
            c(
                "command|list",
                -2,
                LOADING | STALE,
                NK,
                "server",
                server::command_list,
            ),
            c(
                "command|help",
                2,
                LOADING | STALE,
                NK,
                "server",
                server::command_help,
            ),
        ],
    ),
    // hashes (cmd/hash.rs)
    c("hset", -4, WRITE | DENYOOM | FAST, K1, "hash", hash::hset),
    c(
        "hsetnx",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        "hash",
        hash::hsetnx,
    ),
    c("hget", 3, READONLY | FAST, K1, "hash", hash::hget),
    c("hmset", -4, WRITE | DENYOOM | FAST, K1, "hash", hash::hmset),
    c("hmget", -3, READONLY | FAST, K1, "hash", hash::hmget),
    c(
        "hincrby",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        "hash",
        hash::hincrby,
    ),
    c(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        K1,
        "hash",
        hash::hincrbyfloat,
    ),
    c("hdel", -3, WRITE | FAST, K1, "hash", hash::hdel),
    c("hlen", 2, READONLY | FAST, K1, "hash", hash::hlen),
    c("hstrlen", 3, READONLY | FAST, K1, "hash", hash::hstrlen),
    c("hkeys", 2, READONLY, K1, "hash", hash::hkeys),
    c("hvals", 2, READONLY, K1, "hash", hash::hvals),
    c("hgetall", 2, READONLY, K1, "hash", hash::hgetall),
    c("hexists", 3, READONLY | FAST, K1, "hash", hash::hexists),
    c("hrandfield", -2, READONLY, K1, "hash", hash::hrandfield),
    c("hscan", -3, READONLY, K1, "hash", hash::hscan),
    // sets (cmd/set.rs)
    c("sadd", -3, WRITE | DENYOOM | FAST, K1, "set", set::sadd),
    c("srem", -3, WRITE | FAST, K1, "set", set::srem),
    c("smove", 4, WRITE | FAST, K12, "set", set::smove),
    c("sismember", 3, READONLY | FAST, K1, "set", set::sismember),
    c(
        "smismember",
        -3,
        READONLY | FAST,
        K1,
        "set",
        set::smismember,
    ),
    c("scard", 2, READONLY | FAST, K1, "set", set::scard),
    c("spop", -2, WRITE | FAST, K1, "set", set::spop),
    c("srandmember", -2, READONLY, K1, "set", set::srandmember),
    c("sinter", -2, READONLY, KALL, "set", set::sinter),
    c(
        "sinterstore",
        -3,
        WRITE | DENYOOM,
        KALL,
        "set",
        set::sinterstore,
    ),
    c("sunion", -2, READONLY, KALL, "set", set::sunion),
    c(
        "sunionstore",
        -3,
        WRITE | DENYOOM,
        KALL,
        "set",
        set::sunionstore,
    ),
    c("sdiff", -2, READONLY, KALL, "set", set::sdiff),
    c(
        "sdiffstore",
        -3,
        WRITE | DENYOOM,
        KALL,
        "set",
        set::sdiffstore,
    ),
    c("smembers", 2, READONLY, K1, "set", set::smembers),
    c("sscan", -3, READONLY, K1, "set", set::sscan),
    movable(
        c("sintercard", -3, READONLY, NK, "set", set::sintercard),
        set::sintercard_keys,
    ),
    // lists (cmd/list.rs)
    c("lpush", -3, WRITE | DENYOOM | FAST, K1, "list", list::lpush),
    c("rpush", -3, WRITE | DENYOOM | FAST, K1, "list", list::rpush),
    c(
        "lpushx",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        "list",
        list::lpushx,
    ),
    c(
        "rpushx",
        -3,
        WRITE | DENYOOM | FAST,
        K1,
        "list",
        list::rpushx,
    ),
    c("lpop", -2, WRITE | FAST, K1, "list", list::lpop),
    c("rpop", -2, WRITE | FAST, K1, "list", list::rpop),
    c("llen", 2, READONLY | FAST, K1, "list", list::llen),
    c("lindex", 3, READONLY, K1, "list", list::lindex),
    c("lset", 4, WRITE | DENYOOM, K1, "list", list::lset),
    c("lrange", 4, READONLY, K1, "list", list::lrange),
    c("ltrim", 4, WRITE, K1, "list", list::ltrim),
    c("lrem", 4, WRITE, K1, "list", list::lrem),
    c("linsert", 5, WRITE | DENYOOM, K1, "list", list::linsert),
    c("lpos", -3, READONLY, K1, "list", list::lpos),
    c("lmove", 5, WRITE | DENYOOM, K12, "list", list::lmove),
    c(
        "rpoplpush",
        3,
        WRITE | DENYOOM,
        K12,
        "list",
        list::rpoplpush,
    ),
    c(
        "blpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        "list",
        list::blpop,
    ),
    c(
        "brpop",
        -3,
        WRITE | NOSCRIPT | BLOCKING,
        (1, -2, 1),
        "list",
        list::brpop,
    ),
    c(
        "blmove",
        6,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        K12,
        "list",
        list::blmove,
    ),
    c(
        "brpoplpush",
        4,
        WRITE | DENYOOM | NOSCRIPT | BLOCKING,
        K12,
        "list",
        list::brpoplpush,
    ),
    movable(
        c("lmpop", -4, WRITE, NK, "list", list::lmpop),
        list::lmpop_keys,
    ),
    movable(
        c("blmpop", -5, WRITE | BLOCKING, NK, "list", list::blmpop),
        list::blmpop_keys,
    ),
    // sorted sets (cmd/zset.rs)
    c("zadd", -4, WRITE | DENYOOM | FAST, K1, ZS, zset::zadd),
    c("zincrby", 4, WRITE | DENYOOM | FAST, K1, ZS, zset::zincrby),
    c("zrem", -3, WRITE | FAST, K1, ZS, zset::zrem),
    c("zcard", 2, READONLY | FAST, K1, ZS, zset::zcard),
    c("zscore", 3, READONLY | FAST, K1, ZS, zset::zscore),
    c("zmscore", -3, READONLY | FAST, K1, ZS, zset::zmscore),
    c("zrank", 3, READONLY | FAST, K1, ZS, zset::zrank),
    c("zrevrank", 3, READONLY | FAST, K1, ZS, zset::zrevrank),
    c("zcount", 4, READONLY | FAST, K1, ZS, zset::zcount),
    c("zlexcount", 4, READONLY | FAST, K1, ZS, zset::zlexcount),
    c("zrange", -4, READONLY, K1, ZS, zset::zrange),
    c(
        "zrangestore",
        -5,
        WRITE | DENYOOM,
        K12,
        ZS,
        zset::zrangestore,
    ),
    c("zrevrange", -4, READONLY, K1, ZS, zset::zrevrange),
    c("zrangebyscore", -4, READONLY, K1, ZS, zset::zrangebyscore),
    c(
        "zrevrangebyscore",
        -4,
        READONLY,
        K1,
        ZS,
        zset::zrevrangebyscore,
    ),
    c("zrangebylex", -4, READONLY, K1, ZS, zset::zrangebylex),
    c("zrevrangebylex", -4, READONLY, K1, ZS, zset::zrevrangebylex),
    c("zremrangebyrank", 4, WRITE, K1, ZS, zset::zremrangebyrank),
    c("zremrangebyscore", 4, WRITE, K1, ZS, zset::zremrangebyscore),
    c("zremrangebylex", 4, WRITE, K1, ZS, zset::zremrangebylex),
    c("zpopmin", -2, WRITE | FAST, K1, ZS, zset::zpopmin),
    c("zpopmax", -2, WRITE | FAST, K1, ZS, zset::zpopmax),
    c(
        "bzpopmin",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        zset::bzpopmin,
    ),
    c(
        "bzpopmax",
        -3,
        WRITE | NOSCRIPT | BLOCKING | FAST,
        (1, -2, 1),
        ZS,
        zset::bzpopmax,
    ),
    movable(
        c("zmpop", -4, WRITE, NK, ZS, zset::zmpop),
        zset::keys_numkeys,
    ),
    movable(
        c("bzmpop", -5, WRITE | BLOCKING, NK, ZS, zset::bzmpop),
        zset::keys_bzmpop,
    ),
    movable(
        c("zunion", -3, READONLY, NK, ZS, zset::zunion),
        zset::keys_numkeys,
    ),
    movable(
        c("zinter", -3, READONLY, NK, ZS, zset::zinter),
        zset::keys_numkeys,
    ),
    movable(
        c("zdiff", -3, READONLY, NK, ZS, zset::zdiff),
        zset::keys_numkeys,
    ),
    movable(
        c("zintercard", -3, READONLY, NK, ZS, zset::zintercard),
        zset::keys_numkeys,
    ),
    movable(
        c(
            "zunionstore",
            -4,
            WRITE | DENYOOM,
            K1,
            ZS,
            zset::zunionstore,
        ),
        zset::keys_store,
    ),
    movable(
        c(
            "zinterstore",
            -4,
            WRITE | DENYOOM,
            K1,
            ZS,
            zset::zinterstore,
        ),
        zset::keys_store,
    ),
    movable(
        c("zdiffstore", -4, WRITE | DENYOOM, K1, ZS, zset::zdiffstore),
        zset::keys_store,
    ),
    c("zrandmember", -2, READONLY, K1, ZS, zset::zrandmember),
    c("zscan", -3, READONLY, K1, ZS, zset::zscan),
    // pub/sub (cmd/pubsub.rs)
    c(
        "subscribe",
        -2,
        SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE,
        NK,
        "pubsub",
        pubsub::subscribe,
    ),
    c(
        "unsubscribe",
        -1,
        SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE,
        NK,
        "pubsub",
        pubsub::unsubscribe,
    ),
    c(
        "psubscribe",
        -2,
        SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE,
        NK,
        "pubsub",
        pubsub::psubscribe,
    ),
    c(
        "punsubscribe",
        -1,
        SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE,
        NK,
        "pubsub",
        pubsub::punsubscribe,
    ),
    c(
        "ssubscribe",
        -2,
        SUBSCRIBED_OK | REDIRECT_ONLY | PUBSUB | NOSCRIPT | LOADING | STALE,
        KALL,
        "pubsub",
        pubsub::ssubscribe,
    ),
    c(
        "sunsubscribe",
        -1,
        SUBSCRIBED_OK | REDIRECT_ONLY | PUBSUB | NOSCRIPT | LOADING | STALE,
        KALL,
        "pubsub",
        pubsub::sunsubscribe,
    ),
    c(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        NK,
        "pubsub",
        pubsub::publish,
    ),
    c(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        K1,
        "pubsub",
        pubsub::spublish,
    ),
    container(
        "pubsub",
        -2,
        "pubsub",
        &[
            c(
                "pubsub|channels",
                -2,
                PUBSUB | LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_channels,
            ),
            c(
                "pubsub|numsub",
                -2,
                PUBSUB | LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_numsub,
            ),
            c(
                "pubsub|numpat",
                2,
                PUBSUB | LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_numpat,
            ),
            c(
                "pubsub|shardchannels",
                -2,
                PUBSUB | LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_shardchannels,
            ),
            c(
                "pubsub|shardnumsub",
                -2,
                PUBSUB | LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_shardnumsub,
            ),
            c(
                "pubsub|help",
                2,
                LOADING | STALE,
                NK,
                "pubsub",
                pubsub::pubsub_help,
            ),
        ],
    ),
    // scripting (cmd/scripting.rs)
    movable(
        c(
            "eval",
            -3,
            NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | EXCLUSIVE,
            NK,
            "scripting",
            scripting::eval,
        ),
        scripting::eval_keys,
    ),
    movable(
        c(
            "evalsha",
            -3,
            NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | EXCLUSIVE,
            NK,
            "scripting",
            scripting::evalsha,
        ),
        scripting::eval_keys,
    ),
    movable(
        c(
            "eval_ro",
            -3,
            NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE,
            NK,
            "scripting",
            scripting::eval_ro,
        ),
        scripting::eval_keys,
    ),
    movable(
        c(
            "evalsha_ro",
            -3,
            NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE,
            NK,
            "scripting",
            scripting::evalsha_ro,
        ),
        scripting::eval_keys,
    ),
    container(
        "script",
        -2,
        "scripting",
        &[
            c(
                "script|load",
                3,
                NOSCRIPT | STALE,
                NK,
                "scripting",
                scripting::script_load,
            ),
            c(
                "script|exists",
                -3,
                NOSCRIPT | STALE,
                NK,
                "scripting",
                scripting::script_exists,
            ),
            c(
                "script|flush",
                -2,
                NOSCRIPT | MAY_REPLICATE,
                NK,
                "scripting",
                scripting::script_flush,
            ),
            c(
                "script|kill",
                2,
                NOSCRIPT | ALLOW_BUSY,
                NK,
                "scripting",
                scripting::script_kill,
            ),
            c(
                "script|help",
                2,
                LOADING | STALE,
                NK,
                "scripting",
                scripting::script_help,
            ),
        ],
    ),
    // functions (cmd/function.rs)
    movable(
        c(
            "fcall",
            -3,
            NOSCRIPT | SKIP_MONITOR | STALE | EXCLUSIVE,
            NK,
            "scripting",
            function::fcall,
        ),
        scripting::eval_keys,
    ),
    movable(
        c(
            "fcall_ro",
            -3,
            NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE,
            NK,
            "scripting",
            function::fcall_ro,
        ),
        scripting::eval_keys,
    ),
    container(
        "function",
        -2,
        "scripting",
        &[
            c(
                "function|load",
                -3,
                NOSCRIPT | WRITE | DENYOOM,
                NK,
                "scripting",
                function::function_load,
            ),
            c(
                "function|delete",
                3,
                NOSCRIPT | WRITE,
                NK,
                "scripting",
                function::function_delete,
            ),
            c(
                "function|flush",
                -2,
                NOSCRIPT | WRITE,
                NK,
                "scripting",
                function::function_flush,
            ),
            c(
                "function|list",
                -2,
                NOSCRIPT,
                NK,
                "scripting",
                function::function_list,
            ),
            c(
                "function|dump",
                2,
                NOSCRIPT,
                NK,
                "scripting",
                function::function_dump,
            ),
            c(
                "function|restore",
                -3,
                NOSCRIPT | WRITE | DENYOOM,
                NK,
                "scripting",
                function::function_restore,
            ),
            c(
                "function|stats",
                2,
                NOSCRIPT | ALLOW_BUSY,
                NK,
                "scripting",
                function::function_stats,
            ),
            c(
                "function|kill",
                2,
                NOSCRIPT | ALLOW_BUSY,
                NK,
                "scripting",
                function::function_kill,
            ),
            c(
                "function|help",
                2,
                LOADING | STALE,
                NK,
                "scripting",
                function::function_help,
            ),
        ],
    ),
    // cluster (cmd/cluster.rs)
    container(
        "cluster",
        -2,
        "cluster",
        &[
            c(
                "cluster|help",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::help,
            ),
            c(
                "cluster|info",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::info,
            ),
            c(
                "cluster|myid",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::myid,
            ),
            c(
                "cluster|nodes",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::nodes,
            ),
            c(
                "cluster|slots",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::slots,
            ),
            c(
                "cluster|shards",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::shards,
            ),
            c("cluster|keyslot", 3, STALE, NK, "cluster", cluster::keyslot),
            c(
                "cluster|countkeysinslot",
                3,
                STALE,
                NK,
                "cluster",
                cluster::countkeysinslot,
            ),
            c(
                "cluster|getkeysinslot",
                4,
                STALE,
                NK,
                "cluster",
                cluster::getkeysinslot,
            ),
            c(
                "cluster|meet",
                -4,
                ADMIN | STALE,
                NK,
                "cluster",
                cluster::meet,
            ),
            c(
                "cluster|forget",
                3,
                ADMIN | STALE,
                NK,
                "cluster",
                cluster::forget,
            ),
            c(
                "cluster|proxy-origin",
                -2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::proxy_origin,
            ),
            c(
                "cluster|raft",
                -5,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::raft,
            ),
            c(
                "cluster|migrate-batch",
                7,
                ADMIN | STALE,
                NK,
                "cluster",
                cluster::migrate_batch,
            ),
            c(
                "cluster|rebalance-status",
                2,
                LOADING | STALE,
                NK,
                "cluster",
                cluster::rebalance_status,
            ),
            c("cluster|mc", 3, STALE, NK, "cluster", cluster::mc),
        ],
    ),
    c(
        "readonly",
        1,
        FAST | LOADING | STALE,
        NK,
        "cluster",
        cluster::client_mode,
    ),
    c(
        "readwrite",
        1,
        FAST | LOADING | STALE,
        NK,
        "cluster",
        cluster::client_mode,
    ),
    c("asking", 1, FAST, NK, "cluster", cluster::client_mode),
    // transactions
    c(
        "multi",
        1,
        NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        NK,
        "transactions",
        transaction::multi,
    ),
    c(
        "exec",
        1,
        NOT_QUEUED | NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | EXCLUSIVE,
        NK,
        "transactions",
        transaction::exec,
    ),
    c(
        "discard",
        1,
        NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        NK,
        "transactions",
        transaction::discard,
    ),
    c(
        "watch",
        -2,
        NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        KALL,
        "transactions",
        transaction::watch,
    ),
    c(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        NK,
        "transactions",
        transaction::unwatch,
    ),
];

/// A command found in the table with the index of its statistics.
#[derive(Debug, Clone, Copy)]
pub struct Found {
    /// The table row.
    pub cmd: &'static Command,
    /// Index into `Shared::cmd_stats`.
    pub stat: usize,
}

struct Index {
    by_name: HashMap<&'static [u8], Found, ahash::RandomState>,
    all: Vec<&'static Command>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut by_name = HashMap::with_hasher(ahash::RandomState::new());
        let mut all = Vec::new();
        for cmd in COMMANDS {
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
        Index { by_name, all }
    })
}

/// Number of statistics slots (commands plus subcommands).
pub fn stat_slots() -> usize {
    index().all.len()
}

/// Every command and subcommand, in statistics order.
pub fn all_commands() -> &'static [&'static Command] {
    &index().all
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
    let found = index().by_name.get(&*lower).copied();
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
    index().by_name.get(name.as_bytes()).copied()
}

/// Statistics slot of a command.
pub fn stat_of(cmd: &Command) -> Option<usize> {
    index().by_name.get(cmd.name.as_bytes()).map(|f| f.stat)
}
