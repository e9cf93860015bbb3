//! Hostile clients against the pattern matcher and the Lua engine: glob
//! patterns built to explode a backtracking matcher, scripts that try to
//! poison the shared Lua state, and scripts that try to survive SCRIPT KILL.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Patterns that take a naive backtracking glob matcher seconds to minutes.
const EXPLOSIVE: &[&str] = &[
    "*a*a*a*a*a*a*a*ab",
    "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
];

#[test]
fn explosive_patterns_answer_fast_everywhere() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port).with_read_timeout(Duration::from_secs(30));
    let key = "a".repeat(60);
    c.cmd(&[b"SET", key.as_bytes(), b"v"]);
    c.cmd(&[b"HSET", b"h", key.as_bytes(), b"v"]);
    c.cmd(&[b"SADD", b"s", key.as_bytes()]);
    c.cmd(&[b"ZADD", b"z", b"1", key.as_bytes()]);
    let mut sub = RawConn::connect(rc.port).with_read_timeout(Duration::from_secs(30));
    sub.cmd(&[b"SUBSCRIBE", key.as_bytes()]);
    for pat in EXPLOSIVE {
        let p = pat.as_bytes();
        let t = Instant::now();
        assert_eq!(c.cmd(&[b"KEYS", p]), b"*0\r\n");
        let scan = c.cmd(&[b"SCAN", b"0", b"MATCH", p, b"COUNT", b"1000"]);
        assert!(scan.ends_with(b"*0\r\n"), "{scan:?}");
        for (cmd, k) in [
            (&b"HSCAN"[..], &b"h"[..]),
            (b"SSCAN", b"s"),
            (b"ZSCAN", b"z"),
        ] {
            let r = c.cmd(&[cmd, k, b"0", b"MATCH", p]);
            assert!(r.ends_with(b"*0\r\n"), "{r:?}");
        }
        assert_eq!(c.cmd(&[b"PUBSUB", b"CHANNELS", p]), b"*0\r\n");
        let mut psub = RawConn::connect(rc.port).with_read_timeout(Duration::from_secs(30));
        psub.cmd(&[b"PSUBSCRIBE", p]);
        assert_eq!(c.cmd(&[b"PUBLISH", key.as_bytes(), b"m"]), b":1\r\n");
        let took = t.elapsed();
        assert!(took < Duration::from_secs(1), "{pat} took {took:?}");
    }
    // The matcher still matches what it should.
    assert_eq!(
        c.cmd(&[b"KEYS", b"*a*a*a*a*a*a*a*a"]),
        format!("*1\r\n$60\r\n{key}\r\n").into_bytes()
    );
}

/// Each trick a script could use to poison the shared Lua state gets Redis
/// 7.0's `Attempt to modify a readonly table` (same text, same position
/// prefix), and the next script still sees the untouched library.
#[test]
fn eval_cannot_modify_globals_or_libraries() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        EVAL "rawset(_G, 'x', 1)" 0
        EVAL "return rawget(_G, 'x')" 0
        EVAL "setmetatable(_G, nil)" 0
        EVAL "return type(getmetatable(_G))" 0
        EVAL "string.len = nil" 0
        EVAL "return string.len('abc')" 0
        EVAL "rawset(string, 'len', nil)" 0
        EVAL "return ('abc'):len()" 0
        EVAL "redis.sha1hex = nil" 0
        EVAL "rawset(redis, 'sha1hex', nil)" 0
        EVAL "return redis.sha1hex('')" 0
        EVAL "getmetatable('').__index = {upper = function() return 'pwned' end}" 0
        EVAL "rawset(getmetatable(''), '__index', {})" 0
        EVAL "setmetatable(getmetatable(''), {})" 0
        EVAL "return ('abc'):upper()" 0
        EVAL "tonumber = function() return 42 end" 0
        EVAL "return tonumber('7')" 0
        EVAL "math.floor = nil" 0
        EVAL "table.insert(_G, 1)" 0
        EVAL "table.insert(string, 1)" 0
        EVAL "setmetatable(string, {})" 0
        EVAL "x = 1" 0
        EVAL "KEYS = 1" 0
        EVAL "getmetatable(_G).__index = nil" 0
        EVAL "return y" 0
        EVAL "return type(getfenv)" 0
        EVAL "return type(setfenv)" 0
        EVAL "return type(newproxy)" 0
        EVAL "loadstring('tonumber = 1')()" 0
        EVAL "local n = 0 for k in pairs(string) do n = n + 1 end return n" 0
        EVAL "local t = {} table.insert(t, 'a') table.insert(t, 1, 'b') rawset(t, 'c', 1) return {t[1], t[2], rawget(t, 'c'), next(t) ~= nil}" 0
        EVAL "return getmetatable(setmetatable({}, {__metatable = 'x'}))" 0
        EVAL "for k in pairs(nil) do end" 0
        EVAL "rawset({})" 0
        EVAL "local x = getmetatable()" 0
        EVAL "setmetatable({}, 1)" 0
        EVAL "table.insert(nil, 1)" 0
        EVAL "table.insert({}, 'x', 1)" 0
        EVAL "rawset({}, nil, 1)" 0
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// In the FUNCTION VM one library cannot poison another's view of the
/// shared libraries.
#[test]
fn functions_cannot_poison_each_other() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r##"
        FUNCTION LOAD "#!lua name=evil\nredis.register_function('p1', function() string.upper = function() return 'pwned' end end)\nredis.register_function('p2', function() rawset(string, 'upper', function() return 'pwned' end) end)\nredis.register_function('p3', function() setmetatable(_G, nil) end)\nredis.register_function('p4', function() getmetatable('').__index = {} end)\nredis.register_function('p5', function() tonumber = nil end)"
        FUNCTION LOAD "#!lua name=good\nredis.register_function('up', function() return {string.upper('a'), ('b'):upper(), tonumber('3')} end)"
        FCALL p1 0
        FCALL p2 0
        FCALL p3 0
        FCALL p4 0
        FCALL p5 0
        FCALL up 0
        "##,
    );
    assert_same_replies(redis.port, rc.port, &s);
}
