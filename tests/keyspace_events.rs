//! Keyspace notifications, differential against a real redis-server: one
//! client PSUBSCRIBEs `__key*__:*` (RESP2) and another (RESP3) on each
//! server, a third runs the same script on both, and the received message
//! streams must be identical, event for event and in order, for several
//! `notify-keyspace-events` settings. A `PUBLISH mark <n>` after every
//! command (both subscribers also SUBSCRIBE `mark`) pins each event to the
//! command that raised it, so a difference names its command.

mod common;

use common::{encode, require_redis, resp3_conn, script, start_ringcache, RawConn};

/// A subscriber to every keyspace event channel and the `mark` channel.
fn subscriber(port: u16, resp3: bool) -> RawConn {
    let mut c = if resp3 {
        resp3_conn(port)
    } else {
        RawConn::connect(port)
    };
    c.send_raw(&encode(&[b"PSUBSCRIBE", b"__key*__:*"]));
    c.read_reply();
    // Channel subscribers get their copy before the pattern's, as in Redis.
    c.send_raw(&encode(&[b"SUBSCRIBE", b"mark", b"__keyevent@0__:del"]));
    c.read_reply();
    c.read_reply();
    c
}

/// Messages up to and including the `mark` message `last`, as text.
fn drain(c: &mut RawConn, last: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let text = String::from_utf8_lossy(&c.read_reply()).into_owned();
        let done = text.contains("$7\r\nmessage\r\n$4\r\nmark\r\n")
            && text.ends_with(&format!("\r\n{last}\r\n"));
        got.push(text);
        if done {
            return got;
        }
    }
}

/// Runs `cmds` on a server with `events` configured; returns the replies
/// and the messages both subscribers received.
fn run(port: u16, events: &str, cmds: &[Vec<Vec<u8>>]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut c = RawConn::connect(port);
    c.cmd(&[b"FLUSHALL"]);
    let r = c.cmd(&[
        b"CONFIG",
        b"SET",
        b"notify-keyspace-events",
        events.as_bytes(),
    ]);
    assert_eq!(r, b"+OK\r\n", "CONFIG SET {events}");
    let mut s2 = subscriber(port, false);
    let mut s3 = subscriber(port, true);
    let mut replies = Vec::new();
    for (i, cmd) in cmds.iter().enumerate() {
        let args: Vec<&[u8]> = cmd.iter().map(|v| v.as_slice()).collect();
        let r = c.cmd(&args);
        replies.push(format!(
            "{} -> {}",
            String::from_utf8_lossy(&cmd.join(&b' ')),
            String::from_utf8_lossy(&r)
        ));
        let mark = i.to_string();
        c.cmd(&[b"PUBLISH", b"mark", mark.as_bytes()]);
    }
    let last = (cmds.len() - 1).to_string();
    let m2 = drain(&mut s2, &last);
    let m3 = drain(&mut s3, &last);
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    (replies, m2, m3)
}

/// Asserts identical replies and message streams from both servers.
fn same_events(redis: u16, ours: u16, events: &str, text: &str) {
    let cmds = script(text);
    let (ra, a2, a3) = run(redis, events, &cmds);
    let (rb, b2, b3) = run(ours, events, &cmds);
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(y, x, "reply differs (events {events:?})");
    }
    first_difference(&a2, &b2, events, "RESP2");
    first_difference(&a3, &b3, events, "RESP3");
}

/// Fails naming the first message where the streams differ, with the
/// messages before it (the marks name the commands).
fn first_difference(want: &[String], got: &[String], events: &str, proto: &str) {
    let show = |v: &[String]| v.join("\n").replace("\r\n", " ");
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    if at == want.len() && at == got.len() {
        return;
    }
    let from = at.saturating_sub(6);
    panic!(
        "{proto} message stream differs (events {events:?}) at message {at}\nredis:\n{}\nringcache:\n{}",
        show(&want[from..(at + 3).min(want.len())]),
        show(&got[from..(at + 3).min(got.len())])
    );
}

/// Every command family, with the edge cases whose events differ from the
/// plain path (no-op writes, emptied keys, failed conditions, past expiry).
const FAMILIES: &str = r#"
# strings
SET s1 v
SET s1 v2 NX
SET s1 v3 XX
SET s2 v XX
SET s1 v4 GET
SET s3 v GET
SET s1 v EX 100
SET s1 v PX 100000 KEEPTTL
SET s1 v KEEPTTL
SET s4 v PXAT 1
GET s4
SETNX s1 x
SETNX s5 x
SETEX s6 100 v
PSETEX s7 100000 v
GETSET s1 w
GETSET s8 w
GETDEL s8
GETDEL s8
GETEX s1 EX 100
GETEX s1 PERSIST
GETEX s1 PERSIST
GETEX s1 PXAT 1
GETEX missing
MSET m1 a m2 b
MSETNX m1 a m3 c
MSETNX m3 c m4 d
APPEND m1 x
APPEND m9 x
SETRANGE m1 1 yy
SETRANGE m1 1 ""
SETRANGE m10 0 ""
SETRANGE m11 2 z
INCR c1
INCRBY c1 5
DECR c1
DECRBY c1 2
INCRBYFLOAT c2 1.5
INCR m1
GET nope
MGET m1 nope m2
STRLEN nope
GETRANGE nope 0 1
LCS m1 nope
# generic keys
DEL m1 nope m2
UNLINK m3 nope
EXPIRE c1 100
PEXPIRE c1 100000
EXPIREAT c1 99999999999
EXPIRE c1 100 NX
EXPIRE c1 100 XX
PERSIST c1
PERSIST c1
EXPIRE c1 0
EXPIRE nope 10
SET r1 a
RENAME r1 r2
SET r3 b
RENAME r2 r3
RENAMENX r3 r4
SET r5 x
RENAMENX r4 r5
RENAME r4 r4
COPY r4 r6
COPY r4 r6
COPY r4 r6 REPLACE
MOVE r6 1
MOVE r5 1
SELECT 1
SET r5 other
DEL r6
SELECT 0
TYPE nope
EXISTS nope r4
TTL nope
PTTL r4
OBJECT ENCODING nope
TOUCH r4 nope
# lists
LPUSH l1 a b c
RPUSH l1 d e
LPUSHX nolist a
RPUSHX l1 f
LPOP l1
RPOP l1 2
LINSERT l1 BEFORE b x
LINSERT l1 BEFORE zz x
LSET l1 0 y
LREM l1 1 y
LREM l1 0 zz
LTRIM l1 0 1
LTRIM l1 5 10
RPUSH l2 a b c
LMOVE l2 l3 LEFT RIGHT
RPOPLPUSH l2 l3
LMOVE l2 l3 LEFT LEFT
LMOVE l3 l3 LEFT RIGHT
LMPOP 2 nolist l3 LEFT COUNT 10
BLPOP nolist l3 1
RPUSH l4 only
BRPOP l4 1
BLMOVE nolist l5 LEFT RIGHT 0.01
LRANGE nolist 0 -1
LLEN nolist
LINDEX nolist 0
LPOS nolist a
LPOP nolist
# hashes
HSET h1 f1 v1 f2 v2
HSET h1 f1 v1
HSETNX h1 f1 x
HSETNX h1 f3 x
HMSET h1 f4 v
HINCRBY h1 n 3
HINCRBYFLOAT h1 fl 1.5
HDEL h1 nof
HDEL h1 f1 f2
HDEL h1 f3 f4 n fl
HGET nohash f
HGETALL nohash
HLEN nohash
HSTRLEN nohash f
HRANDFIELD nohash
HEXISTS nohash f
# sets
SADD s10 a b c
SADD s10 a
SREM s10 nope
SREM s10 a b
SPOP s10
SADD s10 d
SPOP s10 5
SADD s11 a b c
SADD s12 b c d
SMOVE s11 s12 a
SMOVE s11 s12 zz
SMOVE s11 s11 b
SINTERSTORE s13 s11 s12
SINTERSTORE s13 nope s12
SUNIONSTORE s14 s11 s12
SDIFFSTORE s15 s12 s11
SDIFFSTORE s15 s11 s11
SISMEMBER noset a
SMEMBERS noset
SCARD noset
SRANDMEMBER noset
SINTER noset s11
SMISMEMBER noset a
# sorted sets
ZADD z1 1 a 2 b 3 c
ZADD z1 1 a
ZADD z1 5 a
ZADD z1 NX 7 a
ZADD z1 INCR 1 a
ZINCRBY z1 2 b
ZREM z1 nope
ZREM z1 a
ZREMRANGEBYSCORE z1 100 200
ZREMRANGEBYSCORE z1 0 2
ZADD z2 1 a 2 b 3 c 4 d
ZREMRANGEBYRANK z2 0 0
ZREMRANGEBYLEX z2 [b [b
ZPOPMIN z2
ZPOPMAX z2 5
ZADD z3 1 a 2 b
ZADD z4 2 b 3 c
ZUNIONSTORE z5 2 z3 z4
ZINTERSTORE z6 2 z3 z4
ZINTERSTORE z6 2 z3 nope
ZDIFFSTORE z7 2 z3 z4
ZRANGESTORE z8 z3 0 -1
ZRANGESTORE z8 nope 0 -1
ZMPOP 1 z3 MIN
BZPOPMIN z3 1
BZMPOP 1 2 nope z4 MAX COUNT 5
ZSCORE nozset a
ZRANGE nozset 0 -1
ZCARD nozset
ZRANK nozset a
ZMSCORE nozset a
ZRANDMEMBER nozset
# streams
XADD x1 1-1 f v
XADD x1 2-1 f v
XADD x1 NOMKSTREAM 3-1 f v
XADD nostream NOMKSTREAM * f v
XADD x1 MAXLEN 1 4-1 f v
XTRIM x1 MAXLEN 5
XTRIM x1 MAXLEN 0
XADD x2 1-1 a b 2-2 c d
XADD x2 2-2 c d
XDEL x2 1-1
XDEL x2 9-9
XGROUP CREATE x2 g1 0
XGROUP CREATE x3 g1 $ MKSTREAM
XGROUP SETID x2 g1 0
XGROUP CREATECONSUMER x2 g1 c1
XGROUP CREATECONSUMER x2 g1 c1
XREADGROUP GROUP g1 c2 COUNT 10 STREAMS x2 >
XCLAIM x2 g1 c3 0 2-2
XAUTOCLAIM x2 g1 c4 0 0-0
XACK x2 g1 2-2
XGROUP DELCONSUMER x2 g1 c1
XGROUP DESTROY x2 g1
XGROUP DESTROY x2 g1
XSETID x2 5-5
XLEN nostream
XRANGE nostream - +
XREAD STREAMS nostream 0
# bitmaps, hyperloglog, geo
SETBIT b1 7 1
SETBIT b1 7 1
SETBIT b1 100 0
BITFIELD b2 SET u8 0 255
BITFIELD b2 GET u8 0
BITFIELD_RO b2 GET u8 0
BITOP AND b3 b1 b2
BITOP OR b4 nope nope2
GETBIT nobit 0
BITCOUNT nobit
BITPOS nobit 1
PFADD p1 a b
PFADD p1 a
PFADD p2
PFADD p2
PFMERGE p3 p1 p2
PFMERGE p3
PFCOUNT nopf
GEOADD g1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD g1 13.361389 38.115556 Palermo
GEOSEARCHSTORE g2 g1 FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCHSTORE g3 g1 FROMLONLAT 0 0 BYRADIUS 1 km
GEORADIUS g1 15 37 200 km STORE g4
GEOPOS nogeo a
GEODIST nogeo a b
# sort
RPUSH sl 3 1 2
SORT sl STORE sd
SORT nope STORE sd
SORT sl BY w_* GET o_*
# transactions and scripts
MULTI
SET t1 a
LPUSH t2 b
EXEC
EVAL "redis.call('set', KEYS[1], 'x'); redis.call('del', KEYS[1]); return redis.call('get', KEYS[1])" 1 t3
# more reads of missing keys
HSCAN nohash 0
SSCAN noset 0
ZSCAN nozset 0
SINTERCARD 2 noset s11
ZINTERCARD 2 nozset z4
ZCOUNT nozset 0 1
ZLEXCOUNT nozset - +
ZRANGEBYSCORE nozset 0 1
GEOHASH nogeo a
GEOSEARCH nogeo FROMLONLAT 0 0 BYRADIUS 1 km
XPENDING nostream g
XINFO STREAM nostream
EXPIRETIME nope
SUBSTR nope 0 1
SORT_RO nope
HKEYS nohash
HVALS nohash
HMGET nohash a b
LINDEX nolist 0
# flush
FLUSHDB
"#;

/// Every family's events match Redis' for the main settings (the classes
/// each setting leaves out must be filtered the same way).
#[test]
fn events_match_redis_for_every_family() {
    let redis = require_redis(&["--enable-debug-command", "yes"]);
    let ours = start_ringcache(&[]);
    // The script's already-expired keys (SET ... PXAT 1) must expire at
    // their next lookup, as the script expects, not whenever the active
    // cycle happens to run on a loaded machine.
    for port in [redis.port, ours.port] {
        assert_eq!(
            RawConn::connect(port).cmd(&[b"DEBUG", b"SET-ACTIVE-EXPIRE", b"0"]),
            b"+OK\r\n"
        );
    }
    for events in ["KEA", "AKEnm", "Kx", "Eg", "E$lshzt", ""] {
        same_events(redis.port, ours.port, events, FAMILIES);
    }
}

/// A key expired lazily (GET after PEXPIRE 1) and by the active cycle raises
/// `expired` on both servers.
#[test]
fn expired_events_lazy_and_active() {
    let redis = require_redis(&["--enable-debug-command", "yes"]);
    let ours = start_ringcache(&[]);
    // Active expiry off: only the lookups can expire the key.
    let lazy = "DEBUG SET-ACTIVE-EXPIRE 0\nSET e1 v\nPEXPIRE e1 1\nDEBUG SLEEP 0.05\nGET e1\nEXISTS e1\nDEBUG SET-ACTIVE-EXPIRE 1";
    same_events(redis.port, ours.port, "KEA", lazy);
    for port in [redis.port, ours.port] {
        let mut c = RawConn::connect(port);
        c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"Ex"]);
        let mut s = subscriber(port, false);
        c.cmd(&[b"SET", b"active", b"v", b"PX", b"20"]);
        // Nobody touches the key: only the active cycle can expire it.
        let r = s.read_reply();
        let text = String::from_utf8_lossy(&r).into_owned();
        assert!(
            text.contains("__keyevent@0__:expired") && text.ends_with("active\r\n"),
            "port {port}: {text:?}"
        );
        c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
    }
}

/// Eviction under maxmemory with allkeys-lru raises one `evicted` event per
/// evicted key (compared with INFO's evicted_keys; which keys go is random).
#[test]
fn evicted_events_counted() {
    let ours = start_ringcache(&[]);
    let port = ours.port;
    let mut c = RawConn::connect(port);
    c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"Ee"]);
    let mut s = subscriber(port, false);
    let used: u64 = common::info_field(port, "memory", "used_memory")
        .and_then(|v| v.parse().ok())
        .expect("used_memory");
    let limit = (used + 2 * 1024 * 1024).to_string();
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]);
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", limit.as_bytes()]);
    let value = vec![b'x'; 10_000];
    for i in 0..600 {
        let key = format!("big{i}");
        c.cmd(&[b"SET", key.as_bytes(), &value]);
    }
    c.cmd(&[b"CONFIG", b"SET", b"maxmemory", b"0"]);
    let evicted: u64 = common::info_field(port, "stats", "evicted_keys")
        .and_then(|v| v.parse().ok())
        .expect("evicted_keys");
    assert!(evicted > 0, "nothing was evicted");
    c.cmd(&[b"PUBLISH", b"mark", b"end"]);
    let got = drain(&mut s, "end");
    let events = got
        .iter()
        .filter(|m| m.contains("__keyevent@0__:evicted"))
        .count() as u64;
    assert_eq!(events, evicted);
}

/// A blocked client served by a later write raises the pop's (and the
/// emptied key's) events after the write's own, as Redis does when it
/// serves blocked clients after the command.
#[test]
fn blocked_commands_served_later() {
    let redis = require_redis(&["--enable-debug-command", "yes"]);
    let ours = start_ringcache(&[]);
    let cases: &[(&str, &str)] = &[
        ("BLPOP bl 5", "RPUSH bl a"),
        ("BLMOVE bm bd LEFT RIGHT 5", "RPUSH bm a b"),
        ("BZPOPMIN bz 5", "ZADD bz 1 a"),
        ("BLMPOP 5 2 nolist bl2 RIGHT COUNT 3", "LPUSH bl2 a b"),
        (
            "XREADGROUP GROUP g c BLOCK 5000 STREAMS bx >",
            "XADD bx 1-1 f v",
        ),
    ];
    for (block, write) in cases {
        let mut streams = Vec::new();
        for port in [redis.port, ours.port] {
            let mut c = RawConn::connect(port);
            c.cmd(&[b"FLUSHALL"]);
            c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"]);
            if block.starts_with("XREADGROUP") {
                c.cmd_str("XGROUP CREATE bx g $ MKSTREAM");
            }
            let mut s = subscriber(port, false);
            let mut blocked = RawConn::connect(port);
            let args = script(block).remove(0);
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            blocked.send_raw(&encode(&args));
            assert!(
                common::eventually(std::time::Duration::from_secs(5), || {
                    common::info_field(port, "clients", "blocked_clients").as_deref() == Some("1")
                }),
                "{block} did not block"
            );
            c.cmd_str(write);
            blocked.read_reply();
            c.cmd(&[b"PUBLISH", b"mark", b"end"]);
            streams.push(drain(&mut s, "end"));
            c.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b""]);
        }
        first_difference(&streams[0], &streams[1], block, "RESP2");
    }
}
