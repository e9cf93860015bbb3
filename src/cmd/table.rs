//! The command table: one row per command (name, arity, flags, key
//! positions, group, handler), the single source of truth that dispatch,
//! arity errors, COMMAND INFO/DOCS/GETKEYS, MULTI, WATCH, OOM checks and
//! cluster routing read through the registry of `cmd/command.rs`.
//!
//! The rows import every command family's handlers, so only `Shared::new`
//! (below) reads them: it installs them in the registry once.

use std::sync::Arc;

use super::command::{self, flags::*, Command};
use super::ctx::{Handler, KeysFn};
use super::shared::Shared;
use super::{
    acl, bitfield, bitmap, blocking_pop, cluster, config_cmd, connection, dump_restore, function,
    geo, hash, hyperloglog, info, introspect, keys, latency, list, lolwut, memory, pubsub,
    replication, scripting, server, set, sort, stream, stream_group, stream_read, string, tracking,
    transaction, zset,
};
use crate::config::Settings;
use crate::node::Node;

impl Shared {
    /// Shared state for the given settings: installs the command table in
    /// the registry and gives the node a counter slot per command and per
    /// memcached verb.
    pub fn new(settings: Settings) -> Arc<Shared> {
        command::install(COMMANDS);
        Shared::with_node(Node::new(
            settings,
            super::dispatch_mc::stat_slots_with_mc(),
        ))
    }
}

/// Key positions of a row: (first key, last key, step) as in Redis' legacy
/// key spec; last key -1 is the last argument, -2 the one before it.
type KeySpec = (i32, i32, i32);

/// No key arguments.
const NO_KEYS: KeySpec = (0, 0, 0);
/// One key, the first argument.
const FIRST_KEY: KeySpec = (1, 1, 1);
/// Every argument is a key.
const ALL_KEYS: KeySpec = (1, -1, 1);
/// The first two arguments are keys (source and destination).
const FIRST_TWO_KEYS: KeySpec = (1, 2, 1);
/// Every argument from the second is a key (BITOP's destination and sources).
const KEYS_AFTER_FIRST_ARG: KeySpec = (2, -1, 1);
/// Key/value pairs: every other argument from the first is a key (MSET).
const KEY_VALUE_PAIRS: KeySpec = (1, -1, 2);
/// Every argument but the trailing timeout is a key (BLPOP).
const KEYS_BEFORE_TIMEOUT: KeySpec = (1, -2, 1);
/// One key right after the subcommand name (OBJECT ENCODING key).
const SUBCOMMAND_KEY: KeySpec = (2, 2, 1);
/// MIGRATE's key argument (the third), as Redis' legacy key spec says.
const MIGRATE_KEY: KeySpec = (3, 3, 1);
/// Redis' flags of its administrative commands.
const ADMIN_CMD: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

/// A command (or subcommand) row run by `handler`.
const fn c(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: KeySpec,
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
    }
}

/// A container command (CONFIG, CLIENT, ...): only its subcommands run.
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
    }
}

/// A container refused as a whole unless `enable-debug-command` allows it
/// (DEBUG), even with a subcommand it does not know.
const fn protected(mut cmd: Command) -> Command {
    cmd.flags |= PROTECTED;
    cmd
}

/// A container that also runs without a subcommand (COMMAND).
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
const fn movable(mut cmd: Command, f: KeysFn) -> Command {
    cmd.keys_fn = Some(f);
    cmd.flags |= MOVABLEKEYS;
    cmd
}

/// Every command of the node, in COMMAND's order: one row per command,
/// `c(name, arity, flags, keys, group, handler)`.
#[rustfmt::skip]
static COMMANDS: &[Command] = &[
    // strings
    c("get", 2, READONLY | FAST, FIRST_KEY, "string", string::get),
    c("set", -3, WRITE | DENYOOM, FIRST_KEY, "string", string::set),
    c("setnx", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::setnx),
    c("setex", 4, WRITE | DENYOOM, FIRST_KEY, "string", string::setex),
    c("psetex", 4, WRITE | DENYOOM, FIRST_KEY, "string", string::psetex),
    c("getset", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::getset),
    c("getdel", 2, WRITE | FAST, FIRST_KEY, "string", string::getdel),
    c("getex", -2, WRITE | FAST, FIRST_KEY, "string", string::getex),
    c("mget", -2, SPLIT_VALUES | READONLY | FAST, ALL_KEYS, "string", string::mget),
    c("mset", -3, SPLIT_OK | WRITE | DENYOOM, KEY_VALUE_PAIRS, "string", string::mset),
    c("msetnx", -3, WRITE | DENYOOM, KEY_VALUE_PAIRS, "string", string::msetnx),
    c("append", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::append),
    c("strlen", 2, READONLY | FAST, FIRST_KEY, "string", string::strlen),
    c("getrange", 4, READONLY, FIRST_KEY, "string", string::getrange),
    c("substr", 4, READONLY, FIRST_KEY, "string", string::getrange),
    c("setrange", 4, WRITE | DENYOOM, FIRST_KEY, "string", string::setrange),
    c("incr", 2, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::incr),
    c("decr", 2, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::decr),
    c("incrby", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::incrby),
    c("decrby", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::decrby),
    c("incrbyfloat", 3, WRITE | DENYOOM | FAST, FIRST_KEY, "string", string::incrbyfloat),
    c("lcs", -3, READONLY, FIRST_TWO_KEYS, "string", string::lcs),
    // bitmaps (cmd/bitmap.rs, cmd/bitfield.rs)
    c("setbit", 4, WRITE | DENYOOM, FIRST_KEY, "bitmap", bitmap::setbit),
    c("getbit", 3, READONLY | FAST, FIRST_KEY, "bitmap", bitmap::getbit),
    c("bitcount", -2, READONLY, FIRST_KEY, "bitmap", bitmap::bitcount),
    c("bitpos", -3, READONLY, FIRST_KEY, "bitmap", bitmap::bitpos),
    c("bitop", -4, WRITE | DENYOOM, KEYS_AFTER_FIRST_ARG, "bitmap", bitmap::bitop),
    c("bitfield", -2, WRITE | DENYOOM, FIRST_KEY, "bitmap", bitfield::bitfield),
    c("bitfield_ro", -2, READONLY | FAST, FIRST_KEY, "bitmap", bitfield::bitfield_ro),
    // HyperLogLog (cmd/hyperloglog.rs)
    c("pfadd", -2, WRITE | DENYOOM | FAST, FIRST_KEY, "hyperloglog", hyperloglog::pfadd),
    c("pfcount", -2, READONLY | MAY_REPLICATE | WRITES_ON_READ, ALL_KEYS, "hyperloglog", hyperloglog::pfcount),
    c("pfmerge", -2, WRITE | DENYOOM, ALL_KEYS, "hyperloglog", hyperloglog::pfmerge),
    c("pfdebug", 3, WRITE | DENYOOM | ADMIN, SUBCOMMAND_KEY, "hyperloglog", hyperloglog::pfdebug),
    // keyspace
    c("del", -2, SPLIT_SUM | WRITE, ALL_KEYS, "generic", keys::del),
    c("unlink", -2, SPLIT_SUM | WRITE | FAST, ALL_KEYS, "generic", keys::del),
    c("exists", -2, SPLIT_SUM | READONLY | FAST, ALL_KEYS, "generic", keys::exists),
    c("type", 2, READONLY | FAST, FIRST_KEY, "generic", keys::type_cmd),
    c("expire", -3, WRITE | FAST, FIRST_KEY, "generic", keys::expire),
    c("pexpire", -3, WRITE | FAST, FIRST_KEY, "generic", keys::pexpire),
    c("expireat", -3, WRITE | FAST, FIRST_KEY, "generic", keys::expireat),
    c("pexpireat", -3, WRITE | FAST, FIRST_KEY, "generic", keys::pexpireat),
    c("ttl", 2, READONLY | FAST, FIRST_KEY, "generic", keys::ttl),
    c("pttl", 2, READONLY | FAST, FIRST_KEY, "generic", keys::pttl),
    c("expiretime", 2, READONLY | FAST, FIRST_KEY, "generic", keys::expiretime),
    c("pexpiretime", 2, READONLY | FAST, FIRST_KEY, "generic", keys::pexpiretime),
    c("persist", 2, WRITE | FAST, FIRST_KEY, "generic", keys::persist),
    c("keys", 2, READONLY, NO_KEYS, "generic", keys::keys),
    c("scan", -2, READONLY, NO_KEYS, "generic", keys::scan),
    c("randomkey", 1, READONLY, NO_KEYS, "generic", keys::randomkey),
    c("rename", 3, WRITE, FIRST_TWO_KEYS, "generic", keys::rename),
    c("renamenx", 3, WRITE | FAST, FIRST_TWO_KEYS, "generic", keys::renamenx),
    c("copy", -3, WRITE | DENYOOM, FIRST_TWO_KEYS, "generic", keys::copy),
    c("move", 3, WRITE | FAST, FIRST_KEY, "generic", keys::move_cmd),
    c("touch", -2, SPLIT_SUM | READONLY | FAST, ALL_KEYS, "generic", keys::touch),
    c("dbsize", 1, READONLY | FAST, NO_KEYS, "server", keys::dbsize),
    // DUMP / RESTORE in Redis' RDB serialization (cmd/dump_restore.rs)
    c("dump", 2, READONLY, FIRST_KEY, "generic", dump_restore::dump),
    c("restore", -4, WRITE | DENYOOM, FIRST_KEY, "generic", dump_restore::restore),
    movable(c("migrate", -6, WRITE, MIGRATE_KEY, "generic", dump_restore::migrate), dump_restore::migrate_keys),
    container("object", -2, "generic", &[
        c("object|encoding", 3, READONLY, SUBCOMMAND_KEY, "generic", keys::object_encoding),
        c("object|freq", 3, READONLY, SUBCOMMAND_KEY, "generic", keys::object_freq),
        c("object|idletime", 3, READONLY, SUBCOMMAND_KEY, "generic", keys::object_idletime),
        c("object|refcount", 3, READONLY, SUBCOMMAND_KEY, "generic", keys::object_refcount),
        c("object|help", 2, LOADING | STALE, NO_KEYS, "generic", keys::object_help),
    ]),
    // connection
    c("ping", -1, SUBSCRIBED_OK | FAST, NO_KEYS, "connection", connection::ping),
    c("echo", 2, FAST, NO_KEYS, "connection", connection::echo),
    c("quit", -1, SUBSCRIBED_OK | NOT_QUEUED | ALLOW_BUSY | FAST | NOSCRIPT | LOADING | STALE | NO_AUTH, NO_KEYS, "connection", connection::quit),
    c("reset", 1, SUBSCRIBED_OK | NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, "connection", connection::reset),
    c("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, "connection", connection::auth),
    c("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, NO_KEYS, "connection", connection::hello),
    c("select", 2, LOADING | STALE | FAST, NO_KEYS, "connection", connection::select),
    container("client", -2, "connection", &[
        c("client|setname", 3, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_setname),
        c("client|getname", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_getname),
        c("client|id", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_id),
        c("client|info", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_info),
        c("client|list", -2, ADMIN_CMD, NO_KEYS, "connection", connection::client_list),
        c("client|kill", -3, ADMIN_CMD, NO_KEYS, "connection", connection::client_kill),
        c("client|unblock", -3, ADMIN_CMD, NO_KEYS, "connection", connection::client_unblock),
        c("client|no-evict", 3, ADMIN_CMD, NO_KEYS, "connection", connection::client_no_evict),
        c("client|pause", -3, ADMIN_CMD, NO_KEYS, "connection", connection::client_pause),
        c("client|unpause", 2, ADMIN_CMD, NO_KEYS, "connection", connection::client_unpause),
        c("client|reply", 3, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_reply),
        c("client|setinfo", 4, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", connection::client_setinfo),
        c("client|help", 2, LOADING | STALE, NO_KEYS, "connection", connection::client_help),
        c("client|tracking", -3, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", tracking::client_tracking),
        c("client|caching", 3, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", tracking::client_caching),
        c("client|getredir", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", tracking::client_getredir),
        c("client|trackinginfo", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "connection", tracking::client_trackinginfo),
    ]),
    // server
    c("info", -1, LOADING | STALE, NO_KEYS, "server", info::info),
    container("config", -2, "server", &[
        c("config|get", -3, ADMIN_CMD, NO_KEYS, "server", config_cmd::config_get),
        c("config|set", -4, ADMIN_CMD, NO_KEYS, "server", config_cmd::config_set),
        c("config|resetstat", 2, ADMIN_CMD, NO_KEYS, "server", config_cmd::config_resetstat),
        c("config|rewrite", 2, ADMIN_CMD, NO_KEYS, "server", config_cmd::config_rewrite),
        c("config|help", 2, LOADING | STALE, NO_KEYS, "server", config_cmd::config_help),
    ]),
    c("flushall", -1, WRITE, NO_KEYS, "server", server::flushall),
    c("flushdb", -1, WRITE, NO_KEYS, "server", server::flushdb),
    c("swapdb", 3, WRITE | FAST | EXCLUSIVE, NO_KEYS, "server", server::swapdb),
    c("time", 1, LOADING | STALE | FAST, NO_KEYS, "server", server::time),
    c("lastsave", 1, LOADING | STALE | FAST, NO_KEYS, "server", server::lastsave),
    container("slowlog", -2, "server", &[
        c("slowlog|get", -2, ADMIN | LOADING | STALE, NO_KEYS, "server", server::slowlog_get),
        c("slowlog|len", 2, ADMIN | LOADING | STALE, NO_KEYS, "server", server::slowlog_len),
        c("slowlog|reset", 2, ADMIN | LOADING | STALE, NO_KEYS, "server", server::slowlog_reset),
        c("slowlog|help", 2, LOADING | STALE, NO_KEYS, "server", server::slowlog_help),
    ]),
    c("monitor", 1, ADMIN_CMD, NO_KEYS, "server", server::monitor),
    protected(container("debug", -2, "server", &[
        c("debug|sleep", 3, ADMIN_CMD | PROTECTED, NO_KEYS, "server", server::debug_sleep),
        c("debug|set-active-expire", 3, ADMIN_CMD | PROTECTED, NO_KEYS, "server", server::debug_set_active_expire),
    ])),
    c("shutdown", -1, ADMIN_CMD | NO_MULTI | ALLOW_BUSY, NO_KEYS, "server", server::shutdown),
    c("wait", 3, NOSCRIPT, NO_KEYS, "generic", replication::wait),
    container("memory", -2, "server", &[
        c("memory|usage", -3, READONLY, SUBCOMMAND_KEY, "server", memory::memory_usage),
        c("memory|help", 2, LOADING | STALE, NO_KEYS, "server", memory::memory_help),
        c("memory|stats", 2, 0, NO_KEYS, "server", memory::memory_stats),
        c("memory|doctor", 2, 0, NO_KEYS, "server", memory::memory_doctor),
        c("memory|malloc-stats", 2, 0, NO_KEYS, "server", memory::memory_malloc_stats),
        c("memory|purge", 2, 0, NO_KEYS, "server", memory::memory_purge),
    ]),
    c("lolwut", -1, READONLY | FAST, NO_KEYS, "server", lolwut::lolwut),
    // latency monitor (cmd/latency.rs)
    container("latency", -2, "server", &[
        c("latency|latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_latest),
        c("latency|history", 3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_history),
        c("latency|reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_reset),
        c("latency|help", 2, LOADING | STALE, NO_KEYS, "server", latency::latency_help),
        c("latency|doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_doctor),
        c("latency|graph", 3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_graph),
        c("latency|histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", latency::latency_histogram),
    ]),
    // ACL, read side, and ROLE (cmd/acl.rs)
    container("acl", -2, "server", &[
        c("acl|cat", -2, NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_cat),
        c("acl|whoami", 2, NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_whoami),
        c("acl|users", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_users),
        c("acl|list", 2, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_list),
        c("acl|getuser", 3, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_getuser),
        c("acl|genpass", -2, NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_genpass),
        c("acl|dryrun", -4, ADMIN | NOSCRIPT | LOADING | STALE, NO_KEYS, "server", acl::acl_dryrun),
        c("acl|help", 2, LOADING | STALE, NO_KEYS, "server", acl::acl_help),
    ]),
    c("role", 1, NOSCRIPT | LOADING | STALE | FAST, NO_KEYS, "server", replication::role),
    // replication (cmd/replication.rs)
    c("replicaof", 3, ADMIN | NOSCRIPT | STALE, NO_KEYS, "server", replication::replicaof),
    c("slaveof", 3, ADMIN | NOSCRIPT | STALE, NO_KEYS, "server", replication::replicaof),
    c("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, NO_KEYS, "server", replication::replconf),
    c("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, NO_KEYS, "server", replication::psync),
    c("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, NO_KEYS, "server", replication::sync),
    container_with("command", -1, "server", introspect::command, &[
        c("command|count", 2, LOADING | STALE, NO_KEYS, "server", introspect::command_count),
        c("command|info", -2, LOADING | STALE, NO_KEYS, "server", introspect::command_info),
        c("command|docs", -2, LOADING | STALE, NO_KEYS, "server", introspect::command_docs),
        c("command|getkeys", -4, LOADING | STALE, NO_KEYS, "server", introspect::command_getkeys),
        c("command|getkeysandflags", -4, LOADING | STALE, NO_KEYS, "server", introspect::command_getkeysandflags),
        c("command|list", -2, LOADING | STALE, NO_KEYS, "server", introspect::command_list),
        c("command|help", 2, LOADING | STALE, NO_KEYS, "server", introspect::command_help),
    ]),
    // hashes (cmd/hash.rs)
    c("hset", -4, WRITE | DENYOOM | FAST, FIRST_KEY, "hash", hash::hset),
    c("hsetnx", 4, WRITE | DENYOOM | FAST, FIRST_KEY, "hash", hash::hsetnx),
    c("hget", 3, READONLY | FAST, FIRST_KEY, "hash", hash::hget),
    c("hmset", -4, WRITE | DENYOOM | FAST, FIRST_KEY, "hash", hash::hmset),
    c("hmget", -3, READONLY | FAST, FIRST_KEY, "hash", hash::hmget),
    c("hincrby", 4, WRITE | DENYOOM | FAST, FIRST_KEY, "hash", hash::hincrby),
    c("hincrbyfloat", 4, WRITE | DENYOOM | FAST, FIRST_KEY, "hash", hash::hincrbyfloat),
    c("hdel", -3, WRITE | FAST, FIRST_KEY, "hash", hash::hdel),
    c("hlen", 2, READONLY | FAST, FIRST_KEY, "hash", hash::hlen),
    c("hstrlen", 3, READONLY | FAST, FIRST_KEY, "hash", hash::hstrlen),
    c("hkeys", 2, READONLY, FIRST_KEY, "hash", hash::hkeys),
    c("hvals", 2, READONLY, FIRST_KEY, "hash", hash::hvals),
    c("hgetall", 2, READONLY, FIRST_KEY, "hash", hash::hgetall),
    c("hexists", 3, READONLY | FAST, FIRST_KEY, "hash", hash::hexists),
    c("hrandfield", -2, READONLY, FIRST_KEY, "hash", hash::hrandfield),
    c("hscan", -3, READONLY, FIRST_KEY, "hash", hash::hscan),
    // sets (cmd/set.rs)
    c("sadd", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "set", set::sadd),
    c("srem", -3, WRITE | FAST, FIRST_KEY, "set", set::srem),
    c("smove", 4, WRITE | FAST, FIRST_TWO_KEYS, "set", set::smove),
    c("sismember", 3, READONLY | FAST, FIRST_KEY, "set", set::sismember),
    c("smismember", -3, READONLY | FAST, FIRST_KEY, "set", set::smismember),
    c("scard", 2, READONLY | FAST, FIRST_KEY, "set", set::scard),
    c("spop", -2, WRITE | FAST, FIRST_KEY, "set", set::spop),
    c("srandmember", -2, READONLY, FIRST_KEY, "set", set::srandmember),
    c("sinter", -2, READONLY, ALL_KEYS, "set", set::sinter),
    c("sinterstore", -3, WRITE | DENYOOM, ALL_KEYS, "set", set::sinterstore),
    c("sunion", -2, READONLY, ALL_KEYS, "set", set::sunion),
    c("sunionstore", -3, WRITE | DENYOOM, ALL_KEYS, "set", set::sunionstore),
    c("sdiff", -2, READONLY, ALL_KEYS, "set", set::sdiff),
    c("sdiffstore", -3, WRITE | DENYOOM, ALL_KEYS, "set", set::sdiffstore),
    c("smembers", 2, READONLY, FIRST_KEY, "set", set::smembers),
    c("sscan", -3, READONLY, FIRST_KEY, "set", set::sscan),
    movable(c("sintercard", -3, READONLY, NO_KEYS, "set", set::sintercard), set::sintercard_keys),
    // lists (cmd/list.rs)
    c("lpush", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "list", list::lpush),
    c("rpush", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "list", list::rpush),
    c("lpushx", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "list", list::lpushx),
    c("rpushx", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "list", list::rpushx),
    c("lpop", -2, WRITE | FAST, FIRST_KEY, "list", list::lpop),
    c("rpop", -2, WRITE | FAST, FIRST_KEY, "list", list::rpop),
    c("llen", 2, READONLY | FAST, FIRST_KEY, "list", list::llen),
    c("lindex", 3, READONLY, FIRST_KEY, "list", list::lindex),
    c("lset", 4, WRITE | DENYOOM, FIRST_KEY, "list", list::lset),
    c("lrange", 4, READONLY, FIRST_KEY, "list", list::lrange),
    c("ltrim", 4, WRITE, FIRST_KEY, "list", list::ltrim),
    c("lrem", 4, WRITE, FIRST_KEY, "list", list::lrem),
    c("linsert", 5, WRITE | DENYOOM, FIRST_KEY, "list", list::linsert),
    c("lpos", -3, READONLY, FIRST_KEY, "list", list::lpos),
    c("lmove", 5, WRITE | DENYOOM, FIRST_TWO_KEYS, "list", list::lmove),
    c("rpoplpush", 3, WRITE | DENYOOM, FIRST_TWO_KEYS, "list", list::rpoplpush),
    c("blpop", -3, WRITE | NOSCRIPT | BLOCKING, KEYS_BEFORE_TIMEOUT, "list", blocking_pop::blpop),
    c("brpop", -3, WRITE | NOSCRIPT | BLOCKING, KEYS_BEFORE_TIMEOUT, "list", blocking_pop::brpop),
    c("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, FIRST_TWO_KEYS, "list", blocking_pop::blmove),
    c("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, FIRST_TWO_KEYS, "list", blocking_pop::brpoplpush),
    movable(c("lmpop", -4, WRITE, NO_KEYS, "list", list::lmpop), list::lmpop_keys),
    movable(c("blmpop", -5, WRITE | BLOCKING, NO_KEYS, "list", blocking_pop::blmpop), list::blmpop_keys),
    // sorted sets (cmd/zset.rs)
    c("zadd", -4, WRITE | DENYOOM | FAST, FIRST_KEY, "sorted_set", zset::zadd),
    c("zincrby", 4, WRITE | DENYOOM | FAST, FIRST_KEY, "sorted_set", zset::zincrby),
    c("zrem", -3, WRITE | FAST, FIRST_KEY, "sorted_set", zset::zrem),
    c("zcard", 2, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zcard),
    c("zscore", 3, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zscore),
    c("zmscore", -3, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zmscore),
    c("zrank", 3, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zrank),
    c("zrevrank", 3, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zrevrank),
    c("zcount", 4, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zcount),
    c("zlexcount", 4, READONLY | FAST, FIRST_KEY, "sorted_set", zset::zlexcount),
    c("zrange", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrange),
    c("zrangestore", -5, WRITE | DENYOOM, FIRST_TWO_KEYS, "sorted_set", zset::zrangestore),
    c("zrevrange", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrevrange),
    c("zrangebyscore", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrangebyscore),
    c("zrevrangebyscore", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrevrangebyscore),
    c("zrangebylex", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrangebylex),
    c("zrevrangebylex", -4, READONLY, FIRST_KEY, "sorted_set", zset::zrevrangebylex),
    c("zremrangebyrank", 4, WRITE, FIRST_KEY, "sorted_set", zset::zremrangebyrank),
    c("zremrangebyscore", 4, WRITE, FIRST_KEY, "sorted_set", zset::zremrangebyscore),
    c("zremrangebylex", 4, WRITE, FIRST_KEY, "sorted_set", zset::zremrangebylex),
    c("zpopmin", -2, WRITE | FAST, FIRST_KEY, "sorted_set", zset::zpopmin),
    c("zpopmax", -2, WRITE | FAST, FIRST_KEY, "sorted_set", zset::zpopmax),
    c("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, KEYS_BEFORE_TIMEOUT, "sorted_set", blocking_pop::bzpopmin),
    c("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, KEYS_BEFORE_TIMEOUT, "sorted_set", blocking_pop::bzpopmax),
    movable(c("zmpop", -4, WRITE, NO_KEYS, "sorted_set", zset::zmpop), zset::keys_numkeys),
    movable(c("bzmpop", -5, WRITE | BLOCKING, NO_KEYS, "sorted_set", blocking_pop::bzmpop), zset::keys_bzmpop),
    movable(c("zunion", -3, READONLY, NO_KEYS, "sorted_set", zset::zunion), zset::keys_numkeys),
    movable(c("zinter", -3, READONLY, NO_KEYS, "sorted_set", zset::zinter), zset::keys_numkeys),
    movable(c("zdiff", -3, READONLY, NO_KEYS, "sorted_set", zset::zdiff), zset::keys_numkeys),
    movable(c("zintercard", -3, READONLY, NO_KEYS, "sorted_set", zset::zintercard), zset::keys_numkeys),
    movable(c("zunionstore", -4, WRITE | DENYOOM, FIRST_KEY, "sorted_set", zset::zunionstore), zset::keys_store),
    movable(c("zinterstore", -4, WRITE | DENYOOM, FIRST_KEY, "sorted_set", zset::zinterstore), zset::keys_store),
    movable(c("zdiffstore", -4, WRITE | DENYOOM, FIRST_KEY, "sorted_set", zset::zdiffstore), zset::keys_store),
    c("zrandmember", -2, READONLY, FIRST_KEY, "sorted_set", zset::zrandmember),
    c("zscan", -3, READONLY, FIRST_KEY, "sorted_set", zset::zscan),
    // geo (cmd/geo.rs)
    c("geoadd", -5, WRITE | DENYOOM, FIRST_KEY, "geo", geo::geoadd),
    c("geopos", -2, READONLY, FIRST_KEY, "geo", geo::geopos),
    c("geodist", -4, READONLY, FIRST_KEY, "geo", geo::geodist),
    c("geohash", -2, READONLY, FIRST_KEY, "geo", geo::geohash_cmd),
    movable(c("georadius", -6, WRITE | DENYOOM, FIRST_KEY, "geo", geo::georadius), geo::georadius_keys),
    movable(c("georadiusbymember", -5, WRITE | DENYOOM, FIRST_KEY, "geo", geo::georadiusbymember), geo::georadiusbymember_keys),
    c("georadius_ro", -6, READONLY, FIRST_KEY, "geo", geo::georadius_ro),
    c("georadiusbymember_ro", -5, READONLY, FIRST_KEY, "geo", geo::georadiusbymember_ro),
    c("geosearch", -7, READONLY, FIRST_KEY, "geo", geo::geosearch),
    c("geosearchstore", -8, WRITE | DENYOOM, FIRST_TWO_KEYS, "geo", geo::geosearchstore),
    // SORT (cmd/sort.rs): exclusive, as BY/GET patterns read any key
    movable(c("sort", -2, WRITE | DENYOOM | EXCLUSIVE, FIRST_KEY, "generic", sort::sort), sort::sort_keys),
    movable(c("sort_ro", -2, READONLY | EXCLUSIVE, FIRST_KEY, "generic", sort::sort_ro), sort::sort_ro_keys),
    // streams (cmd/stream.rs, cmd/stream_read.rs, cmd/stream_group.rs)
    c("xadd", -5, WRITE | DENYOOM | FAST, FIRST_KEY, "stream", stream::xadd),
    c("xlen", 2, READONLY | FAST, FIRST_KEY, "stream", stream::xlen),
    c("xrange", -4, READONLY, FIRST_KEY, "stream", stream::xrange),
    c("xrevrange", -4, READONLY, FIRST_KEY, "stream", stream::xrevrange),
    c("xdel", -3, WRITE | FAST, FIRST_KEY, "stream", stream::xdel),
    c("xtrim", -4, WRITE, FIRST_KEY, "stream", stream::xtrim),
    c("xsetid", -3, WRITE | DENYOOM | FAST, FIRST_KEY, "stream", stream::xsetid),
    movable(c("xread", -4, READONLY | BLOCKING, NO_KEYS, "stream", stream_read::xread), stream_read::xread_keys),
    movable(c("xreadgroup", -7, WRITE | BLOCKING, NO_KEYS, "stream", stream_read::xreadgroup), stream_read::xreadgroup_keys),
    c("xack", -4, WRITE | FAST, FIRST_KEY, "stream", stream_group::xack),
    c("xpending", -3, READONLY, FIRST_KEY, "stream", stream_group::xpending),
    c("xclaim", -6, WRITE | FAST, FIRST_KEY, "stream", stream_group::xclaim),
    c("xautoclaim", -6, WRITE | FAST, FIRST_KEY, "stream", stream_group::xautoclaim),
    container("xgroup", -2, "stream", &[
        c("xgroup|create", -5, WRITE | DENYOOM, SUBCOMMAND_KEY, "stream", stream_group::xgroup),
        c("xgroup|setid", -5, WRITE, SUBCOMMAND_KEY, "stream", stream_group::xgroup),
        c("xgroup|destroy", 4, WRITE, SUBCOMMAND_KEY, "stream", stream_group::xgroup),
        c("xgroup|createconsumer", 5, WRITE | DENYOOM, SUBCOMMAND_KEY, "stream", stream_group::xgroup),
        c("xgroup|delconsumer", 5, WRITE, SUBCOMMAND_KEY, "stream", stream_group::xgroup),
        c("xgroup|help", 2, LOADING | STALE, NO_KEYS, "stream", stream_group::xgroup_help),
    ]),
    container("xinfo", -2, "stream", &[
        c("xinfo|stream", -3, READONLY, SUBCOMMAND_KEY, "stream", stream::xinfo_stream),
        c("xinfo|groups", 3, READONLY, SUBCOMMAND_KEY, "stream", stream::xinfo_groups),
        c("xinfo|consumers", 4, READONLY, SUBCOMMAND_KEY, "stream", stream::xinfo_consumers),
        c("xinfo|help", 2, LOADING | STALE, NO_KEYS, "stream", stream::xinfo_help),
    ]),
    // pub/sub (cmd/pubsub.rs)
    c("subscribe", -2, SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, "pubsub", pubsub::subscribe),
    c("unsubscribe", -1, SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, "pubsub", pubsub::unsubscribe),
    c("psubscribe", -2, SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, "pubsub", pubsub::psubscribe),
    c("punsubscribe", -1, SUBSCRIBED_OK | PUBSUB | NOSCRIPT | LOADING | STALE, NO_KEYS, "pubsub", pubsub::punsubscribe),
    c("ssubscribe", -2, SUBSCRIBED_OK | REDIRECT_ONLY | PUBSUB | NOSCRIPT | LOADING | STALE, ALL_KEYS, "pubsub", pubsub::ssubscribe),
    c("sunsubscribe", -1, SUBSCRIBED_OK | REDIRECT_ONLY | PUBSUB | NOSCRIPT | LOADING | STALE, ALL_KEYS, "pubsub", pubsub::sunsubscribe),
    c("publish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, NO_KEYS, "pubsub", pubsub::publish),
    c("spublish", 3, PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE, FIRST_KEY, "pubsub", pubsub::spublish),
    container("pubsub", -2, "pubsub", &[
        c("pubsub|channels", -2, PUBSUB | LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_channels),
        c("pubsub|numsub", -2, PUBSUB | LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_numsub),
        c("pubsub|numpat", 2, PUBSUB | LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_numpat),
        c("pubsub|shardchannels", -2, PUBSUB | LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_shardchannels),
        c("pubsub|shardnumsub", -2, PUBSUB | LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_shardnumsub),
        c("pubsub|help", 2, LOADING | STALE, NO_KEYS, "pubsub", pubsub::pubsub_help),
    ]),
    // scripting (cmd/scripting.rs)
    movable(c("eval", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | EXCLUSIVE, NO_KEYS, "scripting", scripting::eval), scripting::eval_keys),
    movable(c("evalsha", -3, NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | EXCLUSIVE, NO_KEYS, "scripting", scripting::evalsha), scripting::eval_keys),
    movable(c("eval_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE, NO_KEYS, "scripting", scripting::eval_ro), scripting::eval_keys),
    movable(c("evalsha_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE, NO_KEYS, "scripting", scripting::evalsha_ro), scripting::eval_keys),
    container("script", -2, "scripting", &[
        c("script|load", 3, NOSCRIPT | STALE, NO_KEYS, "scripting", scripting::script_load),
        c("script|exists", -3, NOSCRIPT | STALE, NO_KEYS, "scripting", scripting::script_exists),
        c("script|flush", -2, NOSCRIPT | MAY_REPLICATE, NO_KEYS, "scripting", scripting::script_flush),
        c("script|kill", 2, NOSCRIPT | ALLOW_BUSY, NO_KEYS, "scripting", scripting::script_kill),
        c("script|help", 2, LOADING | STALE, NO_KEYS, "scripting", scripting::script_help),
    ]),
    // functions (cmd/function.rs)
    movable(c("fcall", -3, NOSCRIPT | SKIP_MONITOR | STALE | EXCLUSIVE, NO_KEYS, "scripting", function::fcall), scripting::eval_keys),
    movable(c("fcall_ro", -3, NOSCRIPT | SKIP_MONITOR | STALE | READONLY | EXCLUSIVE, NO_KEYS, "scripting", function::fcall_ro), scripting::eval_keys),
    container("function", -2, "scripting", &[
        c("function|load", -3, NOSCRIPT | WRITE | DENYOOM, NO_KEYS, "scripting", function::function_load),
        c("function|delete", 3, NOSCRIPT | WRITE, NO_KEYS, "scripting", function::function_delete),
        c("function|flush", -2, NOSCRIPT | WRITE, NO_KEYS, "scripting", function::function_flush),
        c("function|list", -2, NOSCRIPT, NO_KEYS, "scripting", function::function_list),
        c("function|dump", 2, NOSCRIPT, NO_KEYS, "scripting", function::function_dump),
        c("function|restore", -3, NOSCRIPT | WRITE | DENYOOM, NO_KEYS, "scripting", function::function_restore),
        c("function|stats", 2, NOSCRIPT | ALLOW_BUSY, NO_KEYS, "scripting", function::function_stats),
        c("function|kill", 2, NOSCRIPT | ALLOW_BUSY, NO_KEYS, "scripting", function::function_kill),
        c("function|help", 2, LOADING | STALE, NO_KEYS, "scripting", function::function_help),
    ]),
    // cluster (cmd/cluster.rs)
    container("cluster", -2, "cluster", &[
        c("cluster|help", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_help),
        c("cluster|info", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_info),
        c("cluster|myid", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_myid),
        c("cluster|nodes", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_nodes),
        c("cluster|slots", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_slots),
        c("cluster|shards", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_shards),
        c("cluster|keyslot", 3, STALE, NO_KEYS, "cluster", cluster::cluster_keyslot),
        c("cluster|countkeysinslot", 3, STALE, NO_KEYS, "cluster", cluster::cluster_countkeysinslot),
        c("cluster|getkeysinslot", 4, STALE, NO_KEYS, "cluster", cluster::cluster_getkeysinslot),
        c("cluster|meet", -4, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_meet),
        c("cluster|forget", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_forget),
        c("cluster|count-failure-reports", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_count_failure_reports),
        c("cluster|links", 2, STALE, NO_KEYS, "cluster", cluster::cluster_links),
        c("cluster|saveconfig", 2, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_saveconfig),
        c("cluster|proxy-origin", -3, LOADING | STALE | SKIP_MONITOR, NO_KEYS, "cluster", cluster::cluster_proxy_origin),
        c("cluster|raft", -4, LOADING | STALE | SKIP_MONITOR, NO_KEYS, "cluster", cluster::cluster_raft),
        c("cluster|lease", 4, LOADING | STALE | SKIP_MONITOR | FAST, NO_KEYS, "cluster", cluster::cluster_lease),
        c("cluster|migrate-batch", 7, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_migrate_batch),
        c("cluster|rebalance-status", 2, LOADING | STALE, NO_KEYS, "cluster", cluster::cluster_rebalance_status),
        c("cluster|mc", 3, STALE | SKIP_MONITOR, NO_KEYS, "cluster", cluster::cluster_mc),
        c("cluster|replicas", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_replicas),
        c("cluster|slaves", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_replicas),
        c("cluster|addslots", -3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|addslotsrange", -4, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|delslots", -3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|delslotsrange", -4, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|setslot", -4, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|flushslots", 2, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|bumpepoch", 2, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|set-config-epoch", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|replicate", 3, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|failover", -2, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
        c("cluster|reset", -2, ADMIN | STALE, NO_KEYS, "cluster", cluster::cluster_ring_managed),
    ]),
    c("readonly", 1, FAST | LOADING | STALE, NO_KEYS, "cluster", cluster::client_mode),
    c("readwrite", 1, FAST | LOADING | STALE, NO_KEYS, "cluster", cluster::client_mode),
    c("asking", 1, FAST, NO_KEYS, "cluster", cluster::client_mode),
    // transactions
    c("multi", 1, NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, "transactions", transaction::multi),
    c("exec", 1, NOT_QUEUED | NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | EXCLUSIVE, NO_KEYS, "transactions", transaction::exec),
    c("discard", 1, NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, "transactions", transaction::discard),
    c("watch", -2, NOT_QUEUED | NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, ALL_KEYS, "transactions", transaction::watch),
    c("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, NO_KEYS, "transactions", transaction::unwatch),
];
