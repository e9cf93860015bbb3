//! Lua scripting, differential against a real redis-server: return value
//! conversions, error formats, the script cache, read-only scripts, and
//! SCRIPT KILL of a long-running script from another client.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn eval_conversions_and_errors_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        SET k v
        EVAL "return 1" 0
        EVAL "return 3.99" 0
        EVAL "return -3.7" 0
        EVAL "return 1e20" 0
        EVAL "return 'x'" 0
        EVAL "return true" 0
        EVAL "return false" 0
        EVAL "return nil" 0
        EVAL "return {1,2,{3,'a'},nil,5}" 0
        EVAL "return {1,2,3.5,'x',true,false}" 0
        EVAL "return {ok='fine'}" 0
        EVAL "return {err='bad thing'}" 0
        EVAL "return {1, {ok='o'}, {err='e'}}" 0
        EVAL "return redis.error_reply('My Error')" 0
        EVAL "return redis.error_reply('-X y')" 0
        EVAL "return redis.status_reply('ST')" 0
        EVAL "return redis.sha1hex('abc')" 0
        EVAL "return redis.LOG_WARNING" 0
        EVAL "return redis.log(redis.LOG_NOTICE, 'hello')" 0
        EVAL "return tostring(2^53)" 0
        EVAL "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}" 2 a b c d
        EVAL "return #KEYS + #ARGV" 1 a b c
        EVAL "return redis.call('GET', KEYS[1])" 1 k
        EVAL "return redis.call('GET', 'nokey')" 0
        EVAL "return redis.call('SET', KEYS[1], ARGV[1])" 1 n 10
        EVAL "return redis.call('INCRBY', KEYS[1], 5.0)" 1 n
        EVAL "return redis.call('PING')" 0
        EVAL "return type(redis.call('PING'))" 0
        EVAL "return redis.call('INCR', 'k')" 0
        EVAL "return redis.pcall('INCR', 'k')" 0
        EVAL "local t = redis.pcall('INCR', 'k') return t['err']" 0
        EVAL "return redis.call('nosuch')" 0
        EVAL "return redis.pcall('nosuch')" 0
        EVAL "return redis.call('GET')" 0
        EVAL "return redis.call()" 0
        EVAL "return redis.call({})" 0
        EVAL "return redis.call('SUBSCRIBE', 'x')" 0
        EVAL "return redis.call('EVAL', 'return 1', '0')" 0
        EVAL "return redis.call('MULTI')" 0
        EVAL "x = 5" 0
        EVAL "return y" 0
        EVAL "error('boom')" 0
        EVAL "error({err='tbl'})" 0
        EVAL "local a = 1\nlocal b = 2\nreturn redis.call('INCR', 'k')" 0
        EVAL "return 1 +" 0
        EVAL "redis.call('SELECT', '1') return redis.call('SET', 'indb1', 'x')" 0
        EXISTS indb1
        EVAL "return 1" -1
        EVAL "return 1" 3 a
        EVAL "return 1" x
        EVAL "return 1"
        EVAL_RO "return redis.call('SET', 'k', '1')" 0
        EVAL_RO "return redis.pcall('SET', 'k', '1')" 0
        EVAL_RO "return redis.call('GET', 'k')" 0
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn script_cache_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        EVALSHA abc 0
        SCRIPT LOAD "return 1"
        SCRIPT LOAD "return +"
        SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db ffff
        EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        EVALSHA E0E1F9FABFC9D4800C877A703B823AC0578FF8DB 0
        EVALSHA_RO e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        EVAL "return ARGV[1]" 0 hello
        EVALSHA 4d8a3e7e2c8a8b8b0f0a1b5c1d3c9e7f5a2b4c6d 0
        SCRIPT FLUSH
        SCRIPT EXISTS e0e1f9fabfc9d4800c877a703b823ac0578ff8db
        EVALSHA e0e1f9fabfc9d4800c877a703b823ac0578ff8db 0
        SCRIPT FLUSH ASYNC
        SCRIPT FLUSH X
        SCRIPT KILL
        SCRIPT FOO
        SCRIPT HELP
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// Starts an endless script on one connection, checks the BUSY reply and kills
/// it from another connection; the node then serves normally again.
fn kill_long_script(port: u16) -> Vec<String> {
    let mut admin = RawConn::connect(port);
    assert_eq!(
        admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]),
        b"+OK\r\n"
    );
    let mut runner = RawConn::connect(port);
    runner.send_raw(&encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(1000));
    let mut out = Vec::new();
    let mut text = |r: Vec<u8>| out.push(String::from_utf8_lossy(&r).into_owned());
    text(admin.cmd(&[b"GET", b"x"]));
    let started = Instant::now();
    text(admin.cmd(&[b"SCRIPT", b"KILL"]));
    text(runner.read_reply());
    assert!(started.elapsed() < Duration::from_secs(5));
    text(admin.cmd(&[b"PING"]));
    text(runner.cmd(&[b"PING"]));
    // A script that wrote cannot be killed.
    runner.send_raw(&encode(&[
        b"EVAL",
        b"redis.call('SET', 'w', '1') local t = redis.call('TIME') while true do local n = redis.call('TIME') if n[1] - t[1] >= 3 then return 'done' end end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(1000));
    text(admin.cmd(&[b"SCRIPT", b"KILL"]));
    text(runner.read_reply());
    text(admin.cmd(&[b"GET", b"w"]));
    out
}

#[test]
fn script_kill_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let expected = kill_long_script(redis.port);
    let got = kill_long_script(rc.port);
    assert_eq!(got, expected);
}
