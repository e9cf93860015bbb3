//! Hostile clients against the pattern matcher and the Lua engine: glob
//! patterns built to explode a backtracking matcher, scripts that try to
//! poison the shared Lua state, and scripts that try to survive SCRIPT KILL.

mod common;

use std::io::{Read, Write};
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

/// A script whose endless loop runs inside `pcall`, so a plain kill error
/// would be caught and the loop would go on.
const PCALL_LOOP: &[u8] = b"while 1 do pcall(function() while 1 do redis.call('ping') end end) end";

/// Starts `body` on a fresh connection of `port` and waits until the node
/// answers `-BUSY` (threshold lowered to 100 ms).
fn start_busy(port: u16, cmd: &[&[u8]]) -> RawConn {
    let mut admin = RawConn::connect(port);
    admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]);
    let mut runner = RawConn::connect(port).with_read_timeout(Duration::from_secs(10));
    runner.send_raw(&encode(cmd));
    assert!(
        eventually(Duration::from_secs(5), || admin
            .cmd(&[b"PING"])
            .starts_with(b"-BUSY")),
        "the script never got busy"
    );
    runner
}

#[test]
fn script_kill_is_not_caught_by_pcall() {
    let rc = start_ringcache(&[]);
    let mut runner = start_busy(rc.port, &[b"EVAL", PCALL_LOOP, b"0"]);
    let mut admin = RawConn::connect(rc.port);
    let t = Instant::now();
    assert_eq!(admin.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
    let r = runner.read_reply();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(
        r.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        String::from_utf8_lossy(&r)
    );
    assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
    // The VM is back to normal: a pcall'd error is caught again.
    assert_eq!(
        runner.cmd(&[b"EVAL", b"return tostring(pcall(error, 'x'))", b"0"]),
        b"$5\r\nfalse\r\n"
    );
}

#[test]
fn function_kill_is_not_caught_by_pcall() {
    let rc = start_ringcache(&[]);
    let mut admin = RawConn::connect(rc.port);
    let lib = [
        &b"#!lua name=spin\nredis.register_function{function_name='spin', callback=function() "[..],
        PCALL_LOOP,
        b" end, flags={'no-writes'}}",
    ]
    .concat();
    assert_eq!(admin.cmd(&[b"FUNCTION", b"LOAD", &lib]), b"$4\r\nspin\r\n");
    let mut runner = start_busy(rc.port, &[b"FCALL", b"spin", b"0"]);
    assert_eq!(admin.cmd(&[b"FUNCTION", b"KILL"]), b"+OK\r\n");
    let r = runner.read_reply();
    assert!(
        r.starts_with(b"-ERR Script killed"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// Waits up to `within` for the process to exit.
fn exits_within(proc: &mut Proc, within: Duration) -> bool {
    eventually(within, || proc.child.try_wait().is_ok_and(|s| s.is_some()))
}

#[test]
fn shutdown_nosave_stops_a_busy_script() {
    let mut rc = start_ringcache(&[]);
    let _runner = start_busy(rc.port, &[b"EVAL", PCALL_LOOP, b"0"]);
    let mut admin = RawConn::connect(rc.port);
    admin.send_raw(&encode(&[b"SHUTDOWN", b"NOSAVE"]));
    assert!(
        exits_within(&mut rc, Duration::from_secs(5)),
        "still running"
    );
}

#[test]
fn sigterm_stops_a_busy_script() {
    let mut rc = start_ringcache(&[]);
    let _runner = start_busy(rc.port, &[b"EVAL", PCALL_LOOP, b"0"]);
    let pid = rc.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(
        exits_within(&mut rc, Duration::from_secs(5)),
        "still running"
    );
}

#[test]
fn memcached_clients_get_the_busy_error() {
    let mc_port = free_port();
    let rc = start_ringcache(&["--memcached-port", &mc_port.to_string()]);
    wait_memcached(mc_port);
    let mut runner = start_busy(rc.port, &[b"EVAL", PCALL_LOOP, b"0"]);
    // Every request, the `mn` sentinel of `Mc::step` too, gets the error.
    let mut mc = Mc::connect(mc_port);
    let busy = "SERVER_ERROR BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
    mc.s.write_all(b"get k\r\n").expect("write");
    let mut got = vec![0u8; busy.len()];
    mc.s.read_exact(&mut got).expect("read");
    assert_eq!(String::from_utf8_lossy(&got), busy);
    RawConn::connect(rc.port).cmd(&[b"SCRIPT", b"KILL"]);
    assert!(runner.read_reply().starts_with(b"-ERR Script killed"));
    assert_eq!(mc.step(b"get k\r\n"), b"END\r\n");
}

/// Loops inside coroutines (where mlua's hook does not follow on its own)
/// are killed too, even behind `pcall` or a resume loop.
#[test]
fn script_kill_reaches_into_coroutines() {
    let rc = start_ringcache(&[]);
    let loops: [&[u8]; 3] = [
        b"local co = coroutine.wrap(function() while 1 do end end) co()",
        b"while 1 do pcall(coroutine.wrap(function() while 1 do pcall(function() while 1 do end end) end end)) end",
        b"local co = coroutine.create(function() while 1 do coroutine.yield() end end) while 1 do pcall(coroutine.resume, co) end",
    ];
    for body in loops {
        let mut runner = start_busy(rc.port, &[b"EVAL", body, b"0"]);
        let mut admin = RawConn::connect(rc.port);
        let t = Instant::now();
        assert_eq!(admin.cmd(&[b"SCRIPT", b"KILL"]), b"+OK\r\n");
        let r = runner.read_reply();
        assert!(
            r.starts_with(b"-ERR Script killed"),
            "{}",
            String::from_utf8_lossy(&r)
        );
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(admin.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    // Coroutines still behave as in Redis.
    let mut c = RawConn::connect(rc.port);
    let r = c.cmd(&[
        b"EVAL",
        b"local co = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b * 2 end) local _, x = coroutine.resume(co, 1) local _, y = coroutine.resume(co, 5) return {x, y, coroutine.status(co)}",
        b"0",
    ]);
    assert_eq!(r, b"*3\r\n:2\r\n:10\r\n$4\r\ndead\r\n");
}
