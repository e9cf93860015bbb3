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
    same_transcript(kill_long_script);
}

#[test]
fn function_load_errors_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r##"
        FUNCTION FLUSH
        FUNCTION LOAD "return 1"
        FUNCTION LOAD "#!lua name=a"
        FUNCTION LOAD "#!lua\n"
        FUNCTION LOAD "#!lua b=c\n"
        FUNCTION LOAD "#!lua name=a name=b\n"
        FUNCTION LOAD "#!lua name\n"
        FUNCTION LOAD "#! lua name=x\n"
        FUNCTION LOAD "#!foo name=a\n"
        FUNCTION LOAD "#!lua name=a-b\n"
        FUNCTION LOAD "#!lua name=\n"
        FUNCTION LOAD "#!lua name=e\n"
        FUNCTION LOAD REPLACE
        FUNCTION LOAD FOO x
        FUNCTION LOAD
        FUNCTION LOAD "#!lua name=a\nreturn 1 +"
        FUNCTION LOAD "#!lua name=a\nerror('x')"
        FUNCTION LOAD "#!lua name=a\nlocal x = redis.call"
        FUNCTION LOAD "#!lua name=a\nlocal x = string"
        FUNCTION LOAD "#!lua name=a\nx = 1"
        FUNCTION LOAD "#!lua name=a\nredis.foo = 1"
        FUNCTION LOAD "#!lua name=a\nredis.log(redis.LOG_WARNING, 'x') return 1"
        FUNCTION LOAD "#!lua name=a\nlocal i = 0 while true do i = i + 1 end"
        FUNCTION LOAD "#!lua name=a\nredis.register_function('f-1', function() return 1 end)"
        FUNCTION LOAD "#!lua name=a\nredis.register_function('f', function() return 1 end)"
        FCALL f 0
        FCALL F 0
        FUNCTION STATS
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=a\nredis.register_function('g', 1)"
        FUNCTION LOAD "#!lua name=a\nredis.register_function('g')"
        FUNCTION LOAD "#!lua name=a\nredis.register_function()"
        FUNCTION LOAD "#!lua name=a\nredis.register_function('a','b','c')"
        FUNCTION LOAD "#!lua name=a\nredis.register_function(nil, function() return 1 end)"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g', callback=function() return 1 end, flags={'bad'}}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g', callback=function() return 1 end, flags='no-writes'}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g', callbak=function() return 1 end}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{callback=function() return 1 end}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g'}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g', callback=1}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name={}, callback=function() end}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{function_name='g', callback=function() end, description={}}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function{[1]='g'}"
        FUNCTION LOAD "#!lua name=a\nredis.register_function({'a'})"
        FUNCTION LIST
        FUNCTION LOAD "#!lua name=a\nredis.register_function('f', function() return 1 end)"
        FUNCTION LOAD "#!lua name=a\nredis.register_function('f', function() return 2 end)"
        FUNCTION LOAD "#!lua name=b\nredis.register_function('F', function() return 3 end)"
        FUNCTION LOAD "#!LUA name=A\nredis.register_function{function_name='f2', callback=function() return 4 end, description='d', flags={'no-writes', 'allow-stale'}}"
        FUNCTION LOAD REPLACE "#!lua name=a\nredis.register_function('f', function() return 5 end)"
        FUNCTION LOAD replace "#!lua name=a\nredis.register_function('f2', function() return 6 end)"
        FCALL f 0
        FCALL F 0
        FUNCTION LIST LIBRARYNAME B
        FUNCTION LIST LIBRARYNAME x* WITHCODE
        FUNCTION LIST LIBRARYNAME
        FUNCTION LIST FOO
        FUNCTION LIST WITHCODE WITHCODE
        FUNCTION LIST LIBRARYNAME a LIBRARYNAME b
        FUNCTION STATS
        FUNCTION DELETE nosuch
        FUNCTION DELETE a
        FUNCTION DELETE a
        FUNCTION DELETE
        FUNCTION DELETE a b
        FCALL f 0
        FUNCTION STATS
        FUNCTION STATS x
        FUNCTION FLUSH FOO
        FUNCTION FLUSH SYNC ASYNC
        FUNCTION FLUSH ASYNC
        FUNCTION LIST
        FUNCTION KILL
        FUNCTION DUMP x
        FUNCTION RESTORE
        FUNCTION RESTORE abc
        FUNCTION RESTORE abc FOO
        FUNCTION RESTORE abc FLUSH x
        FUNCTION HELP
        FUNCTION FOO
        FUNCTION
        EVAL "return redis.call('FUNCTION', 'LIST')" 0
        EVAL "return redis.call('FCALL', 'f', 0)" 0
        FUNCTION LOAD "#!lua name=a\nredis.register_function('f', function() return 1 end)"
        FUNCTION LOAD "#!LUA name=A\nredis.register_function{function_name='f2', callback=function() return 4 end, description='d', flags={'no-writes', 'allow-stale'}}"
        "##,
    );
    assert_same_replies(redis.port, rc.port, &s);
    // Libraries come in Redis' hash order: compare those listings sorted.
    let mut a = RawConn::connect(redis.port);
    let mut b = RawConn::connect(rc.port);
    for args in [
        &[&b"FUNCTION"[..], b"LIST"][..],
        &[b"FUNCTION", b"LIST", b"WITHCODE"],
        &[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"a"],
        &[b"FUNCTION", b"LIST", b"WITHCODE", b"LIBRARYNAME", b"A*"],
    ] {
        let (ra, rb) = (a.cmd(args), b.cmd(args));
        let tree = |r: &[u8]| sorted(parse_tree(r, &mut 0));
        assert_eq!(tree(&rb), tree(&ra), "{args:?}");
    }
}

#[test]
fn fcall_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r##"
        FLUSHALL
        FUNCTION FLUSH
        FUNCTION LOAD "#!lua name=lib1\nredis.register_function{function_name='rw', callback=function(k,a) return redis.call('set', k[1], a[1]) end, description='writes'}\nredis.register_function{function_name='ro', callback=function(k,a) return redis.call('get', k[1]) end, flags={'no-writes'}}\nredis.register_function('bad', function(k,a) return redis.call('set', 'x', 'y') end)\nredis.register_function{function_name='badro', callback=function(k,a) return redis.call('set', 'x', 'y') end, flags={'no-writes'}}\nredis.register_function('err', function(k,a)\nlocal x = 1\nerror('oops')\nend)\nredis.register_function('err2', function(k,a) return redis.call('incr', 'str') end)\nredis.register_function('glob', function(k,a) zz = 1 end)\nredis.register_function('glob2', function(k,a) return zz end)\nredis.register_function('args', function(k,a) return {#k, #a, k[1], a[1]} end)\nredis.register_function('kv', function(k,a) return KEYS end)\nredis.register_function('conv', function(k,a) return {1, 2.7, 'x', true, false, {ok='fine'}, redis.pcall('incr', 'str'), string.len('abc'), math.floor(2.5), table.concat({'a','b'})} end)\nredis.register_function('err3', function(k,a) return redis.error_reply('MY custom') end)\nredis.register_function('reg', function(k,a) return redis.register_function('x', function() end) end)\nredis.register_function('nest', function(k,a) return redis.call('fcall', 'ro', 0) end)\nredis.register_function('ev', function(k,a) return redis.call('eval', 'return 1', 0) end)\nredis.register_function('sha', function(k,a) return redis.sha1hex(a[1]) end)\nlocal counter = 0\nredis.register_function('count', function(k,a) counter = counter + 1 return counter end)"
        FCALL rw 1 k v
        FCALL ro 1 k
        FCALL_RO ro 1 k
        FCALL_RO rw 1 k v
        FCALL_RO bad 0
        FCALL badro 0
        FCALL err 0
        SET str abc
        FCALL err2 0
        FCALL glob 0
        FCALL glob2 0
        FCALL args 2 a b c
        FCALL args 0
        FCALL ARGS 1 a
        FCALL kv 0
        FCALL conv 0
        FCALL err3 0
        FCALL reg 0
        FCALL nest 0
        FCALL ev 0
        FCALL sha 0 abc
        FCALL count 0
        FCALL count 0
        FUNCTION LOAD "#!lua name=ver\nlocal v = redis.REDIS_VERSION .. ' ' .. redis.REDIS_VERSION_NUM\nredis.register_function('ver', function() return {v, redis.REDIS_VERSION, redis.REDIS_VERSION_NUM} end)"
        FCALL ver 0
        EVAL "return {redis.REDIS_VERSION, redis.REDIS_VERSION_NUM}" 0
        FCALL nosuch 0
        FCALL nosuch x
        FCALL args -1
        FCALL args 3 a
        FCALL args x
        FCALL args
        FCALL_RO nosuch 0
        MULTI
        FCALL rw 1 m 1
        FCALL_RO ro 1 m
        EXEC
        GET x
        "##,
    );
    assert_same_replies(redis.port, rc.port, &s);
    // Function order inside a library is a hash order in Redis: compare sorted.
    let mut a = RawConn::connect(redis.port);
    let mut b = RawConn::connect(rc.port);
    for args in [
        &[&b"FUNCTION"[..], b"LIST"][..],
        &[b"FUNCTION", b"LIST", b"WITHCODE"],
        &[b"FUNCTION", b"STATS"],
    ] {
        let (ra, rb) = (a.cmd(args), b.cmd(args));
        let tree = |r: &[u8]| sorted(parse_tree(r, &mut 0));
        assert_eq!(tree(&rb), tree(&ra), "{args:?}");
    }
    // RESP3 forms (maps, sets of flags, nulls).
    let mut a = resp3_conn(redis.port);
    let mut b = resp3_conn(rc.port);
    for args in [
        &[&b"FUNCTION"[..], b"LIST", b"LIBRARYNAME", b"nothing"][..],
        &[b"FUNCTION", b"STATS"],
        &[b"FCALL", b"conv", b"0"],
    ] {
        let (ra, rb) = (a.cmd(args), b.cmd(args));
        let tree = |r: &[u8]| sorted(parse_tree(r, &mut 0));
        assert_eq!(tree(&rb), tree(&ra), "{args:?}");
    }
    let one = script(
        r##"
        FUNCTION LOAD "#!lua name=solo\nredis.register_function{function_name='s', callback=function(k,a) return 1 end, description='desc', flags={'allow-cross-slot-keys', 'no-writes', 'no-cluster', 'allow-oom', 'allow-stale'}}"
        FUNCTION LIST LIBRARYNAME solo WITHCODE
        "##,
    );
    assert_same_on(&mut a, &mut b, &one);
}

/// Loads libraries on `from`, dumps them and restores the payload on `to`
/// under every policy; returns what `to` answered.
fn dump_and_restore(from: u16, to: u16) -> Vec<String> {
    let mut src = RawConn::connect(from);
    let mut dst = RawConn::connect(to);
    let mut out = Vec::new();
    let mut text = |r: Vec<u8>| out.push(String::from_utf8_lossy(&r).into_owned());
    src.cmd(&[b"FUNCTION", b"FLUSH"]);
    dst.cmd(&[b"FUNCTION", b"FLUSH"]);
    // A long, repetitive library: redis-server writes it LZF-compressed.
    let long = format!(
        "#!lua name=long\n{}redis.register_function('longf', function() return 'long' end)",
        "-- padding padding padding padding padding padding\n".repeat(40)
    );
    for code in [
        long.as_str(),
        "#!lua name=short\nredis.register_function('shortf', function(k, a) return a[1] end)",
    ] {
        src.cmd(&[b"FUNCTION", b"LOAD", code.as_bytes()]);
    }
    let payload = src.cmd(&[b"FUNCTION", b"DUMP"]);
    // The bulk reply's payload.
    let start = payload
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let payload = &payload[start..payload.len() - 2];
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload]));
    text(dst.cmd(&[b"FCALL", b"shortf", b"0", b"hi"]));
    text(dst.cmd(&[b"FCALL", b"longf", b"0"]));
    text(dst.cmd(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"short", b"WITHCODE"]));
    text(dst.cmd(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"long", b"WITHCODE"]));
    // Only `long` collides (which of several Redis names depends on its dict order).
    text(dst.cmd(&[b"FUNCTION", b"DELETE", b"short"]));
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload]));
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload, b"APPEND"]));
    text(dst.cmd(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"short"]));
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]));
    text(dst.cmd(&[b"FUNCTION", b"DELETE", b"long"]));
    text(dst.cmd(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=other\nredis.register_function('longf', function() return 0 end)",
    ]));
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload, b"REPLACE"]));
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", payload, b"FLUSH"]));
    text(dst.cmd(&[b"FUNCTION", b"LIST", b"LIBRARYNAME", b"other"]));
    text(dst.cmd(&[b"FUNCTION", b"STATS"]));
    // A corrupted payload changes nothing.
    let mut bad = payload.to_vec();
    bad[3] ^= 0x20;
    text(dst.cmd(&[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"]));
    text(dst.cmd(&[b"FCALL", b"shortf", b"0", b"still"]));
    out
}

#[test]
fn function_dump_payloads_move_between_redis_and_ringcache() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let redis2 = require_redis(&[]);
    // Reference: redis -> redis. Subjects: redis -> ringcache and ringcache -> redis.
    let expected = dump_and_restore(redis.port, redis2.port);
    assert_eq!(dump_and_restore(redis.port, rc.port), expected);
    assert_eq!(dump_and_restore(rc.port, redis2.port), expected);
    // Hand-made payloads: each RESTORE error of Redis.
    let crc = |p: &[u8]| -> Vec<u8> {
        let mut v = p.to_vec();
        v.extend_from_slice(&[10, 0]);
        let c = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&v);
        v.extend_from_slice(&c.to_le_bytes());
        v
    };
    let code = b"#!lua name=z1\nredis.register_function('z1', function() return 1 end)";
    let mut dup = Vec::new();
    for _ in 0..2 {
        dup.push(0xf5);
        dup.push(0x40);
        dup.push(code.len() as u8);
        dup.extend_from_slice(code);
    }
    // The 7.0 release-candidate layout: name, engine, no description, body.
    let body = b"redis.register_function('z2', function() return 2 end)";
    let mut pre_ga = b"\xf6\x02z2\x03lua\x00".to_vec();
    pre_ga.push(body.len() as u8);
    pre_ga.extend_from_slice(body);
    let pre_ga = crc(&pre_ga);
    let mut newer = crc(b"");
    newer[0] = 11;
    for payload in [
        crc(b"\xf6"),
        crc(b"\x00"),
        crc(b"\xf5"),
        crc(b"\xf5\x05abcde"),
        crc(b"\xf5\x05abc"),
        crc(&dup),
        crc(b""),
        newer,
        pre_ga,
    ] {
        let script = vec![
            vec![b"FUNCTION".to_vec(), b"RESTORE".to_vec(), payload],
            vec![b"FCALL".to_vec(), b"z2".to_vec(), b"0".to_vec()],
        ];
        assert_same_replies(redis.port, rc.port, &script);
    }
}

/// A restored library whose loading never ends is stopped by the load
/// timeout, like FUNCTION LOAD. (redis-server 7.0.15 hangs on this payload
/// forever, so this is not a differential test.)
#[test]
fn function_restore_of_an_endless_library_times_out() {
    let rc = start_ringcache(&[]);
    let endless = b"#!lua name=lp\nwhile true do end";
    let mut payload = vec![0xf5, endless.len() as u8];
    payload.extend_from_slice(endless);
    payload.extend_from_slice(&[10, 0]);
    let crc = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let mut c = RawConn::connect(rc.port);
    let started = Instant::now();
    assert_eq!(
        c.cmd(&[b"FUNCTION", b"RESTORE", &payload]),
        b"-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(c.cmd(&[b"FUNCTION", b"LIST"]), b"*0\r\n");
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// Runs an endless function, checks BUSY, FUNCTION STATS and the kill
/// variants from another connection.
fn kill_long_function(port: u16) -> Vec<String> {
    let mut admin = RawConn::connect(port);
    admin.cmd(&[b"FUNCTION", b"FLUSH"]);
    assert_eq!(
        admin.cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]),
        b"+OK\r\n"
    );
    admin.cmd(&[
        b"FUNCTION",
        b"LOAD",
        b"#!lua name=spin\nredis.register_function('spin', function(k, a) local i = 0 while true do i = i + 1 end end)\nredis.register_function('spinw', function(k, a) redis.call('SET', k[1], '1') local t = redis.call('TIME') while true do local n = redis.call('TIME') if n[1] - t[1] >= 3 then return 'done' end end end)",
    ]);
    let mut runner = RawConn::connect(port);
    runner.send_raw(&encode(&[b"FCALL", b"spin", b"1", b"key", b"arg"]));
    std::thread::sleep(Duration::from_millis(1000));
    let mut out = Vec::new();
    let mut text = |r: Vec<u8>| out.push(String::from_utf8_lossy(&r).into_owned());
    text(admin.cmd(&[b"GET", b"x"]));
    text(admin.cmd(&[b"EVAL", b"return 1", b"0"]));
    // The running function's name and command (the duration varies).
    let stats = String::from_utf8_lossy(&admin.cmd(&[b"FUNCTION", b"STATS"])).into_owned();
    let cut = stats.find("duration_ms").unwrap_or(stats.len());
    text(stats.as_bytes()[..cut].to_vec());
    text(admin.cmd(&[b"SCRIPT", b"KILL"]));
    let started = Instant::now();
    text(admin.cmd(&[b"FUNCTION", b"KILL"]));
    text(runner.read_reply());
    assert!(started.elapsed() < Duration::from_secs(5));
    text(admin.cmd(&[b"FUNCTION", b"KILL"]));
    text(admin.cmd(&[b"PING"]));
    // An EVAL script cannot be killed with FUNCTION KILL.
    runner.send_raw(&encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(1000));
    text(admin.cmd(&[b"GET", b"x"]));
    text(admin.cmd(&[b"FUNCTION", b"KILL"]));
    text(admin.cmd(&[b"SCRIPT", b"KILL"]));
    text(runner.read_reply());
    // A function that wrote cannot be killed.
    runner.send_raw(&encode(&[b"FCALL", b"spinw", b"1", b"w"]));
    std::thread::sleep(Duration::from_millis(1000));
    text(admin.cmd(&[b"FUNCTION", b"KILL"]));
    text(runner.read_reply());
    text(admin.cmd(&[b"GET", b"w"]));
    out
}

#[test]
fn function_kill_and_stats_match_redis() {
    same_transcript(kill_long_function);
}

#[test]
fn no_cluster_functions_are_refused_in_cluster_mode() {
    let nodes = common::cluster::start_cluster(1, &[]);
    let mut c = RawConn::connect(nodes[0].proc.port);
    let lib = b"#!lua name=nc\nredis.register_function{function_name='nc', callback=function() return 1 end, flags={'no-cluster'}}\nredis.register_function('ok', function() return 2 end)";
    assert_eq!(c.cmd(&[b"FUNCTION", b"LOAD", lib]), b"$2\r\nnc\r\n");
    assert_eq!(
        c.cmd(&[b"FCALL", b"nc", b"0"]),
        b"-ERR Can not run script on cluster, 'no-cluster' flag is set.\r\n"
    );
    assert_eq!(c.cmd(&[b"FCALL", b"ok", b"0"]), b":2\r\n");
}

#[test]
fn eval_shebang_flags_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r##"
        FLUSHALL
        EVAL "#!lua flags=no-writes\nreturn 1" 0
        EVAL "#!lua\nreturn redis.call('set','a','b')" 0
        EVAL_RO "#!lua\nreturn 1" 0
        EVAL_RO "#!lua flags=no-writes\nreturn redis.call('get','a')" 0
        EVAL "#!lua flags=bad\nreturn 1" 0
        EVAL "#!lua flags=no-writes,bad\nreturn 1" 0
        EVAL "#!lua name=x\nreturn 1" 0
        EVAL "#!lua flags=no-writes\nreturn redis.call('set','a','b')" 0
        EVAL "#!lua flags=no-writes,allow-oom\nreturn KEYS[1]" 1 k
        EVAL "#!lua flags=\nreturn 1" 0
        EVAL "#!foo\nreturn 1" 0
        EVAL "#!lua" 0
        EVAL "#!lua\nreturn 1 +" 0
        EVAL "#!lua\nerror('x')" 0
        SCRIPT LOAD "#!lua flags=no-writes\nreturn 7"
        SCRIPT LOAD "#!lua flags=nope\nreturn 7"
        EVALSHA_RO 8a5d7ef5b0c2b8b2c3c8d8b2b4ae1d8f1c0a2b3c 0
        "##,
    );
    assert_same_replies(redis.port, rc.port, &s);
    // EVALSHA keeps the flags of the loaded script.
    let mut a = RawConn::connect(redis.port);
    let mut b = RawConn::connect(rc.port);
    for body in [&b"#!lua flags=no-writes\nreturn 7"[..], b"#!lua\nreturn 8"] {
        let sha = a.cmd(&[b"SCRIPT", b"LOAD", body]);
        assert_eq!(b.cmd(&[b"SCRIPT", b"LOAD", body]), sha);
        let sha = &sha[5..45];
        for cmd in [&b"EVALSHA"[..], b"EVALSHA_RO"] {
            assert_eq!(b.cmd(&[cmd, sha, b"0"]), a.cmd(&[cmd, sha, b"0"]));
        }
    }
}
