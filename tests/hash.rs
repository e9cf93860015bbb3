//! Hash commands, differential against a real redis-server, plus a
//! property-based run of random hash command sequences against both.

mod common;

use common::*;
use proptest::prelude::*;

#[test]
fn hash_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        HSET h a 1 b 2
        HSET h a 10 c 3
        HGET h a
        HGET h zz
        HGET nokey a
        HMGET h a zz b
        HMGET nokey a b
        HSET h x
        HSET h a 1 b
        HMSET h a 1 b
        HMSET h a 5
        HSETNX h a 7
        HSETNX h d 7
        HLEN h
        HLEN nokey
        HSTRLEN h a
        HSTRLEN h zz
        HSTRLEN nokey zz
        HEXISTS h a
        HEXISTS h zz
        HEXISTS nokey a
        HKEYS h
        HVALS h
        HGETALL h
        HKEYS nokey
        HVALS nokey
        HGETALL nokey
        HINCRBY h a 5
        HINCRBY h a -100
        HINCRBY h new 7
        HINCRBY h a 1.5
        HINCRBY h a abc
        HSET h big 9223372036854775807
        HINCRBY h big 1
        HINCRBY h a -9223372036854775808
        HINCRBY h a 9223372036854775807
        HSET h f 1.5
        HINCRBY h f 1
        HINCRBYFLOAT h f 0.25
        HINCRBYFLOAT h f abc
        HINCRBYFLOAT h f inf
        HINCRBYFLOAT h f -inf
        HINCRBYFLOAT h g 0.1
        HINCRBYFLOAT h g 0.2
        HINCRBYFLOAT h g 1e3
        HINCRBYFLOAT h g -1000.3
        HINCRBYFLOAT h g 5.0e3
        HINCRBYFLOAT h big 1
        HSET h s " 1"
        HINCRBYFLOAT h s 1
        HINCRBY h s 1
        HINCRBYFLOAT nokey2 f 1.5
        HGETALL nokey2
        HSCAN h 0
        HSCAN h 0 MATCH a*
        HSCAN h 0 MATCH * COUNT 1
        HSCAN h 0 COUNT 0
        HSCAN h 0 COUNT abc
        HSCAN h abc
        HSCAN h 0 MATCH
        HSCAN h 0 FOO bar
        HSCAN nokey 0
        HSCAN nokey 0 COUNT 0
        HRANDFIELD h 100
        HRANDFIELD h 100 WITHVALUES
        HRANDFIELD h 0
        HRANDFIELD h 0 WITHVALUES
        HRANDFIELD h abc
        HRANDFIELD h 1 FOO
        HRANDFIELD h 1 WITHVALUES x
        HRANDFIELD h -9223372036854775808
        HRANDFIELD h 4611686018427387904 WITHVALUES
        HRANDFIELD h -4611686018427387904 WITHVALUES
        HRANDFIELD nokey
        HRANDFIELD nokey 5
        HRANDFIELD nokey 5 WITHVALUES
        HDEL h a b zz
        HDEL nokey a
        HDEL h c d new big f g s
        EXISTS h
        HSET h only 1
        HDEL h only
        EXISTS h
        TYPE h
        HSET h a 1
        TYPE h
        OBJECT ENCODING h
        SET str x
        HGET str a
        HMGET str a
        HSET str a 1
        HSETNX str a 1
        HDEL str a
        HLEN str
        HSTRLEN str a
        HEXISTS str a
        HKEYS str
        HGETALL str
        HINCRBY str a 1
        HINCRBY str a x
        HINCRBYFLOAT str a 1
        HINCRBYFLOAT str a x
        HRANDFIELD str
        HRANDFIELD str 1
        HSCAN str 0
        HSCAN str 0 COUNT 0
        GET h
        DEL nokey2
        SCAN 0 TYPE hash COUNT 100000
        HGET
        HLEN h extra
        HINCRBY h a
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn hash_encodings_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        CONFIG SET hash-max-listpack-entries 4
        CONFIG SET hash-max-listpack-value 8
        HSET h a 1 b 2 c 3 d 4
        OBJECT ENCODING h
        HGETALL h
        HSET h d 5
        OBJECT ENCODING h
        HSET h e 5
        OBJECT ENCODING h
        HDEL h a b c d
        OBJECT ENCODING h
        HSET v a 12345678
        OBJECT ENCODING v
        HSET v b 123456789
        OBJECT ENCODING v
        HSET w 123456789 a
        OBJECT ENCODING w
        HSET x a 1
        HSETNX x a 123456789
        OBJECT ENCODING x
        HINCRBY y long_field_name 1
        OBJECT ENCODING y
        HINCRBYFLOAT z f 0.1
        HINCRBYFLOAT z f 1e10
        OBJECT ENCODING z
        HGET z f
        HMSET m a 1 b 2 c 3 d 4 e 5
        OBJECT ENCODING m
        COPY m m2
        OBJECT ENCODING m2
        HLEN m2
        RENAME m2 m3
        HLEN m3
        CONFIG SET hash-max-listpack-entries 128
        CONFIG SET hash-max-listpack-value 64
        HSET n a 1
        OBJECT ENCODING n
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn hash_resp3_replies_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let mut a = resp3_conn(redis.port);
    let mut b = resp3_conn(rc.port);
    let s = script(
        r#"
        FLUSHALL
        HSET h a 1 b 2 c 3
        HGETALL h
        HGETALL nokey
        HRANDFIELD h 10 WITHVALUES
        HRANDFIELD h 3
        HRANDFIELD h 0 WITHVALUES
        HRANDFIELD nokey
        HRANDFIELD nokey 2 WITHVALUES
        HMGET h a zz
        HGET h zz
        HSCAN h 0
        HKEYS h
        HINCRBYFLOAT h f 2.5
        "#,
    );
    assert_same_on(&mut a, &mut b, &s);
    // Random picks: only the shape is deterministic.
    let ra = a.cmd(&[b"HRANDFIELD", b"h", b"-5", b"WITHVALUES"]);
    let rb = b.cmd(&[b"HRANDFIELD", b"h", b"-5", b"WITHVALUES"]);
    assert!(ra.starts_with(b"*5\r\n*2\r\n"), "{ra:?}");
    assert!(rb.starts_with(b"*5\r\n*2\r\n"), "{rb:?}");
}

const FIELDS: &[&str] = &["a", "b", "c", "d", "e"];
const VALUES: &[&str] = &["1", "-7", "x", "2.5", "9223372036854775807", "10"];

/// One random hash command over keys k0..k2 (k2 is sometimes a string).
fn hash_command(op: usize, key: usize, picks: &[usize], count: i64) -> Vec<String> {
    let k = format!("k{key}");
    let f = |i: usize| FIELDS[picks[i % picks.len()] % FIELDS.len()].to_string();
    let v = |i: usize| VALUES[picks[i % picks.len()] % VALUES.len()].to_string();
    match op {
        0 => vec!["HSET".into(), k, f(0), v(1)],
        1 => vec!["HSET".into(), k, f(0), v(1), f(2), v(0)],
        2 => vec!["HSETNX".into(), k, f(0), v(1)],
        3 => vec!["HGET".into(), k, f(0)],
        4 => vec!["HMGET".into(), k, f(0), f(1), f(2)],
        5 => vec!["HDEL".into(), k, f(0), f(1)],
        6 => vec!["HLEN".into(), k],
        7 => vec!["HSTRLEN".into(), k, f(0)],
        8 => vec!["HEXISTS".into(), k, f(0)],
        9 => vec!["HKEYS".into(), k],
        10 => vec!["HVALS".into(), k],
        11 => vec!["HGETALL".into(), k],
        12 => vec!["HINCRBY".into(), k, f(0), count.to_string()],
        13 => vec!["HINCRBYFLOAT".into(), k, f(0), format!("{count}.5")],
        14 => vec![
            "HRANDFIELD".into(),
            k,
            count.to_string(),
            "WITHVALUES".into(),
        ],
        15 => vec!["HSCAN".into(), k, "0".into()],
        16 => vec!["OBJECT".into(), "ENCODING".into(), k],
        17 => vec!["SET".into(), k, v(0)],
        18 => vec!["DEL".into(), k],
        _ => vec!["EXISTS".into(), k],
    }
}

#[test]
fn random_hash_sequences_match_redis() {
    let cmd = (
        0..20usize,
        0..3usize,
        prop::collection::vec(0..30usize, 3),
        -4i64..6,
    );
    // Small limits so sequences cross the listpack -> hashtable threshold.
    random_sequences_match(
        &["--hash-max-listpack-entries", "4"],
        30,
        cmd,
        |(op, key, picks, count)| {
            // Hashtable order differs from Redis and random picks are random.
            let compare = if *op == 14 {
                Compare::Shape
            } else {
                Compare::Unordered
            };
            Some((hash_command(*op, *key, picks, *count), compare))
        },
        &[],
    );
}

/// COUNT is honoured as a hint: a large hash is scanned in several calls
/// that together return every field exactly as it is.
#[test]
fn hscan_count_paginates_a_large_hash() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    let mut args: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"h".to_vec()];
    for i in 0..1000 {
        args.push(format!("f{i}").into_bytes());
        args.push(b"v".to_vec());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    assert_eq!(c.cmd(&refs), b":1000\r\n");
    let (mut cursor, mut calls, mut fields) =
        ("0".to_string(), 0, std::collections::HashSet::new());
    loop {
        let reply = c.cmd_str(&format!("HSCAN h {cursor} COUNT 10"));
        calls += 1;
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        for pair in lines[4..lines.len() - 1].chunks(4) {
            fields.insert(pair[1].to_string());
        }
        if cursor == "0" || calls > 2000 {
            break;
        }
    }
    assert_eq!(fields.len(), 1000);
    assert!(
        calls > 10,
        "COUNT 10 over 1000 fields took only {calls} call(s)"
    );
}
