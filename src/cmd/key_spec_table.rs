//! Redis 7.0's key specifications for each of its commands that has keys,
//! read from a live redis-server 7.0.15 (`COMMAND INFO`, the ninth field),
//! and Redis' `getKeysUsingKeySpecs` over them: COMMAND INFO shows them and
//! COMMAND GETKEYSANDFLAGS answers from them, so both match Redis for the
//! commands ringcache shares with it. (Routing does not use them: it keeps
//! the table's own key positions, `Command::key_positions`.)

use bytes::Bytes;

/// Where a key spec's search starts.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the
    /// end, backwards).
    Keyword(&'static str, i32),
    /// Only the command's own key finder knows.
    Unknown,
}

/// How a key spec's keys are found from where the search starts.
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// A range: up to `last` (negative: from the end), every `step`; with a
    /// `limit`, only 1/limit of what remains.
    Range {
        /// Last key, relative to the first (negative: from the end).
        last: i32,
        /// Distance between keys.
        step: i32,
        /// Divisor of the remaining arguments (0: none).
        limit: i32,
    },
    /// A count argument at `numidx`, the keys from `first`, every `step`.
    Keynum {
        /// Index of the count, relative to the start.
        numidx: i32,
        /// First key, relative to the start.
        first: i32,
        /// Distance between keys.
        step: i32,
    },
    /// Only the command's own key finder knows.
    Unknown,
}

/// One key spec.
#[derive(Debug)]
pub struct KeySpec {
    /// Redis' flags, in its order (`RW`, `access`, ...).
    pub flags: &'static [&'static str],
    /// Redis' note, if any.
    pub notes: Option<&'static str>,
    /// Where the search starts.
    pub begin: Begin,
    /// How the keys are found.
    pub find: Find,
}

/// (command name, key specs), sorted by name.
static REDIS_KEY_SPECS: &[(&str, &[KeySpec])] = &[
    ("append", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("bitcount", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("bitfield", &[KeySpec { flags: &["RW", "access", "update", "variable_flags"], notes: Some("This command allows both access and modification of the key"), begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("bitfield_ro", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("bitop", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(3), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("bitpos", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("blmove", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("blmpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("blpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -2, step: 1, limit: 0 } }]),
    ("brpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -2, step: 1, limit: 0 } }]),
    ("brpoplpush", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("bzmpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("bzpopmax", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -2, step: 1, limit: 0 } }]),
    ("bzpopmin", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -2, step: 1, limit: 0 } }]),
    ("copy", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("decr", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("decrby", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("del", &[KeySpec { flags: &["RM", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("dump", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("eval", &[KeySpec { flags: &["RW", "access", "update"], notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("eval_ro", &[KeySpec { flags: &["RO", "access"], notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("evalsha", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("evalsha_ro", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("exists", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("expire", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("expireat", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("expiretime", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("fcall", &[KeySpec { flags: &["RW", "access", "update"], notes: Some("We cannot tell how the keys will be used so we assume the worst, RW and UPDATE"), begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("fcall_ro", &[KeySpec { flags: &["RO", "access"], notes: Some("We cannot tell how the keys will be used so we assume the worst, RO and ACCESS"), begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("geoadd", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("geodist", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("geohash", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("geopos", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("georadius", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Keyword("STORE", 6), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Keyword("STOREDIST", 6), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("georadius_ro", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("georadiusbymember", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Keyword("STORE", 5), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Keyword("STOREDIST", 5), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("georadiusbymember_ro", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("geosearch", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("geosearchstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("get", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("getbit", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("getdel", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("getex", &[KeySpec { flags: &["RW", "access", "update"], notes: Some("RW and UPDATE because it changes the TTL"), begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("getrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("getset", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hdel", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hexists", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hget", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hgetall", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hincrby", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hincrbyfloat", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hkeys", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hlen", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hmget", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hmset", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hrandfield", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hscan", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hset", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hsetnx", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hstrlen", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("hvals", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("incr", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("incrby", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("incrbyfloat", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lcs", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 1, step: 1, limit: 0 } }]),
    ("lindex", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("linsert", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("llen", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lmove", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lmpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("lpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lpos", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lpush", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lpushx", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lrem", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("lset", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("ltrim", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("memory|usage", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("mget", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("migrate", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(3), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "access", "delete", "incomplete"], notes: None, begin: Begin::Keyword("KEYS", -2), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("move", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("mset", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 2, limit: 0 } }]),
    ("msetnx", &[KeySpec { flags: &["OW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 2, limit: 0 } }]),
    ("object|encoding", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("object|freq", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("object|idletime", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("object|refcount", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("persist", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pexpire", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pexpireat", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pexpiretime", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pfadd", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pfcount", &[KeySpec { flags: &["RW", "access"], notes: Some("RW because it may change the internal representation of the key, and propagate to replicas"), begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("pfdebug", &[KeySpec { flags: &["RW", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pfmerge", &[KeySpec { flags: &["RW", "access", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("psetex", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("pttl", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("rename", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("renamenx", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["OW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("restore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("restore-asking", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("rpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("rpoplpush", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("rpush", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("rpushx", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sadd", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("scard", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sdiff", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("sdiffstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("set", &[KeySpec { flags: &["RW", "access", "update", "variable_flags"], notes: Some("RW and ACCESS due to the optional `GET` argument"), begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("setbit", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("setex", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("setnx", &[KeySpec { flags: &["OW", "insert"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("setrange", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sinter", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("sintercard", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("sinterstore", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("sismember", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("smembers", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("smismember", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("smove", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sort", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), begin: Begin::Unknown, find: Find::Unknown }, KeySpec { flags: &["OW", "update"], notes: Some("For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array"), begin: Begin::Unknown, find: Find::Unknown }]),
    ("sort_ro", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: Some("For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort"), begin: Begin::Unknown, find: Find::Unknown }]),
    ("spop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("spublish", &[KeySpec { flags: &["not_key"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("srandmember", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("srem", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sscan", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("ssubscribe", &[KeySpec { flags: &["not_key"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("strlen", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("substr", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("sunion", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("sunionstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("sunsubscribe", &[KeySpec { flags: &["not_key"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("touch", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("ttl", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("type", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("unlink", &[KeySpec { flags: &["RM", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("watch", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: -1, step: 1, limit: 0 } }]),
    ("xack", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xadd", &[KeySpec { flags: &["RW", "update"], notes: Some("UPDATE instead of INSERT because of the optional trimming feature"), begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xautoclaim", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xclaim", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xdel", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xgroup|create", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xgroup|createconsumer", &[KeySpec { flags: &["RW", "insert"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xgroup|delconsumer", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xgroup|destroy", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xgroup|setid", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xinfo|consumers", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xinfo|groups", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xinfo|stream", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xlen", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xpending", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xread", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Keyword("STREAMS", 1), find: Find::Range { last: -1, step: 1, limit: 2 } }]),
    ("xreadgroup", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Keyword("STREAMS", 4), find: Find::Range { last: -1, step: 1, limit: 2 } }]),
    ("xrevrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xsetid", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("xtrim", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zadd", &[KeySpec { flags: &["RW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zcard", &[KeySpec { flags: &["RO"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zcount", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zdiff", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zdiffstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zincrby", &[KeySpec { flags: &["RW", "access", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zinter", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zintercard", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zinterstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zlexcount", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zmpop", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zmscore", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zpopmax", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zpopmin", &[KeySpec { flags: &["RW", "access", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrandmember", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrangebylex", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrangebyscore", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrangestore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrank", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrem", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zremrangebylex", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zremrangebyrank", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zremrangebyscore", &[KeySpec { flags: &["RW", "delete"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrevrange", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrevrangebylex", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrevrangebyscore", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zrevrank", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zscan", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zscore", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }]),
    ("zunion", &[KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(1), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
    ("zunionstore", &[KeySpec { flags: &["OW", "update"], notes: None, begin: Begin::Index(1), find: Find::Range { last: 0, step: 1, limit: 0 } }, KeySpec { flags: &["RO", "access"], notes: None, begin: Begin::Index(2), find: Find::Keynum { numidx: 0, first: 1, step: 1 } }]),
];

/// Redis' key specs of `name` (`config|get` for subcommands); None when
/// Redis does not have the command or it has no keys.
pub fn redis_key_specs(name: &str) -> Option<&'static [KeySpec]> {
    REDIS_KEY_SPECS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| REDIS_KEY_SPECS[i].1)
}

/// The keys of `args` (the command name first) and their flags by Redis'
/// `getKeysUsingKeySpecs`; None when a spec cannot be followed (unknown,
/// incomplete, a bad count): then only the command's own finder knows.
pub fn keys_by_specs(
    specs: &'static [KeySpec],
    args: &[Bytes],
) -> Option<Vec<(usize, &'static [&'static str])>> {
    let argc = args.len() as i64;
    let mut out = Vec::new();
    for spec in specs {
        if spec.flags.contains(&"not_key") {
            continue;
        }
        let first = match spec.begin {
            Begin::Index(i) => i64::from(i),
            Begin::Keyword(word, from) => {
                let from = i64::from(from);
                let (start, end) = if from > 0 {
                    (from, argc - 1)
                } else {
                    (argc + from, 1)
                };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            Begin::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            Find::Range { last, step, limit } => {
                let (last, limit) = (i64::from(last), i64::from(limit));
                let end = if last >= 0 {
                    first + last
                } else if limit == 0 {
                    argc + last
                } else {
                    first + ((argc - first) / limit + last)
                };
                (first, end, i64::from(step))
            }
            Find::Keynum {
                numidx,
                first: f,
                step,
            } => {
                let at = first + i64::from(numidx);
                if at >= argc {
                    return None;
                }
                let n = crate::util::parse_i64(&args[at as usize]).filter(|n| *n >= 0)?;
                let start = first + i64::from(f);
                (start, start + n - 1, i64::from(step))
            }
            Find::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let mut i = first;
        while i <= last {
            out.push((i as usize, spec.flags));
            i += step.max(1);
        }
        if spec.flags.contains(&"incomplete") {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Bytes> {
        line.split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn specs_find_keys_like_redis() {
        assert!(REDIS_KEY_SPECS.windows(2).all(|w| w[0].0 < w[1].0));
        let lmove = redis_key_specs("lmove").expect("lmove");
        let keys = keys_by_specs(lmove, &args("lmove a b left right")).expect("keys");
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(keys[1].1, &["RW", "insert"]);
        let zu = redis_key_specs("zunionstore").expect("zunionstore");
        let keys = keys_by_specs(zu, &args("zunionstore d 2 a b weights 1 2")).expect("keys");
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), vec![1, 3, 4]);
        let xread = redis_key_specs("xread").expect("xread");
        let keys = keys_by_specs(xread, &args("xread count 2 streams a b 0 0")).expect("keys");
        assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), vec![4, 5]);
        assert!(keys_by_specs(zu, &args("zunionstore d x a")).is_none());
        assert!(redis_key_specs("ping").is_none());
    }
}
