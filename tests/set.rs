//! Set commands, differential against a real redis-server, a property-based
//! run of random set command sequences against both, and redis-benchmark.

mod common;

use std::process::Command;

use common::*;
use proptest::prelude::*;

#[test]
fn set_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        SADD s 3 1 2
        SADD s 2 4
        SMEMBERS s
        SCARD s
        SCARD nokey
        SISMEMBER s 1
        SISMEMBER s 01
        SISMEMBER s 9
        SISMEMBER nokey 1
        SMISMEMBER s 1 9 2
        SMISMEMBER nokey 1 2
        SMEMBERS nokey
        SRANDMEMBER s 10
        SRANDMEMBER s 0
        SRANDMEMBER nokey
        SRANDMEMBER nokey 3
        SRANDMEMBER nokey -3
        SRANDMEMBER s -9223372036854775808
        SRANDMEMBER s abc
        SRANDMEMBER s 1 2
        SPOP s 0
        SPOP nokey
        SPOP nokey 2
        SPOP s -1
        SPOP s abc
        SPOP s 1 2
        SPOP s 100
        EXISTS s
        SADD one x
        SPOP one
        EXISTS one
        SADD n 1 2 3 4 5
        SADD m 4 5 6 7
        SINTER n m
        SUNION n m
        SDIFF n m
        SDIFF m n
        SDIFF n n
        SINTER n m nokey
        SUNION n nokey
        SDIFF nokey n
        SINTERSTORE d n m
        SMEMBERS d
        OBJECT ENCODING d
        SUNIONSTORE d n m
        SMEMBERS d
        SDIFFSTORE d n m
        SMEMBERS d
        SINTERSTORE d n nokey
        EXISTS d
        SET d x
        SDIFFSTORE d n m
        TYPE d
        SDIFFSTORE d nokey n
        EXISTS d
        SUNIONSTORE d nokey
        SINTERCARD 2 n m
        SINTERCARD 2 n m LIMIT 1
        SINTERCARD 2 n m LIMIT 0
        SINTERCARD 2 n nokey
        SINTERCARD 1 n
        SINTERCARD 0 n
        SINTERCARD -1 n
        SINTERCARD abc n
        SINTERCARD 3 n m
        SINTERCARD 1 n LIMIT -1
        SINTERCARD 1 n LIMIT abc
        SINTERCARD 1 n LIMIT
        SINTERCARD 1 n FOO 1
        SMOVE n m 1
        SMOVE n m 1
        SMEMBERS n
        SMEMBERS m
        SMOVE n n 2
        SMOVE n n 9
        SMOVE n newdst 2
        OBJECT ENCODING newdst
        SMOVE nokey n 2
        SREM n 3 4 5 9
        EXISTS n
        SREM nokey a
        SREM m 1 4 5 6 7
        EXISTS m
        SADD t a b
        SREM t a
        TYPE t
        OBJECT ENCODING t
        SET str x
        SADD str a
        SREM str a
        SCARD str
        SISMEMBER str a
        SMISMEMBER str a
        SMEMBERS str
        SRANDMEMBER str
        SRANDMEMBER str 2
        SPOP str
        SPOP str 2
        SINTER t str
        SINTER nokey str
        SINTERSTORE d nokey str
        SUNION t str
        SDIFF t str
        SDIFF nokey str
        SINTERCARD 1 str
        SMOVE t str b
        SMOVE str t a
        SMOVE t nokey zz
        SSCAN str 0
        SSCAN str 0 COUNT 0
        SINTERSTORE str t
        TYPE str
        SADD i 5 1 3
        SSCAN i 0
        SSCAN i 0 MATCH 1*
        SSCAN i 0 COUNT 0
        SSCAN i 0 COUNT abc
        SSCAN i abc
        SSCAN i 0 MATCH
        SSCAN nokey 0
        SSCAN nokey 0 COUNT 0
        SADD
        SCARD i extra
        SMOVE a b
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
    // SCAN ... TYPE set finds the same keys (in another order).
    let scan: &[&[u8]] = &[b"SCAN", b"0", b"TYPE", b"set", b"COUNT", b"100000"];
    let ra = RawConn::connect(redis.port).cmd(scan);
    let rb = RawConn::connect(rc.port).cmd(scan);
    assert_eq!(
        sorted(parse_tree(&rb, &mut 0)),
        sorted(parse_tree(&ra, &mut 0))
    );
    assert!(String::from_utf8_lossy(&ra).contains("newdst"));
}

#[test]
fn set_encodings_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        CONFIG SET set-max-intset-entries 4
        SADD s 4 3 2 1
        OBJECT ENCODING s
        SMEMBERS s
        SADD s 1
        OBJECT ENCODING s
        SADD s 5
        OBJECT ENCODING s
        SREM s 1 2 3 4
        OBJECT ENCODING s
        SADD a x 1
        OBJECT ENCODING a
        SADD b 1 x
        OBJECT ENCODING b
        SADD c -1 9223372036854775807 -9223372036854775808
        OBJECT ENCODING c
        SMEMBERS c
        SADD d 01
        OBJECT ENCODING d
        SADD e +1
        OBJECT ENCODING e
        SADD f -0
        OBJECT ENCODING f
        SADD g 9223372036854775808
        OBJECT ENCODING g
        SADD p 1 2
        SADD q 2 3
        SUNIONSTORE u p q
        OBJECT ENCODING u
        SMEMBERS u
        SADD r 7 8 9
        SUNIONSTORE u p q r
        OBJECT ENCODING u
        SINTERSTORE u2 p q
        OBJECT ENCODING u2
        SDIFFSTORE u3 r p
        OBJECT ENCODING u3
        SMEMBERS u3
        SMOVE p newset 1
        OBJECT ENCODING newset
        SMOVE b newset2 x
        OBJECT ENCODING newset2
        COPY c c2
        OBJECT ENCODING c2
        SMEMBERS c2
        SPOP c 100
        EXISTS c
        SMEMBERS c2
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn set_resp3_replies_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        SADD s 3 1 2
        SMEMBERS s
        SMEMBERS nokey
        SINTER s s
        SUNION s nokey
        SDIFF s nokey
        SDIFF nokey s
        SRANDMEMBER s 10
        SRANDMEMBER s 0
        SRANDMEMBER nokey
        SRANDMEMBER nokey 2
        SPOP nokey
        SPOP nokey 3
        SPOP s 0
        SSCAN s 0
        SMISMEMBER s 1 7
        SPOP s 10
        "#,
    );
    assert_same_resp3_replies(redis.port, rc.port, &s);
}

const MEMBERS: &[&str] = &["1", "2", "3", "-5", "x", "y", "007", "10"];

/// One random set command over keys k0..k2; op 0..=22. `random` ops return
/// randomly chosen members, so only their shape is comparable.
fn set_command(op: usize, key: usize, key2: usize, picks: &[usize], count: i64) -> Vec<String> {
    let (k, k2) = (format!("k{key}"), format!("k{key2}"));
    let m = |i: usize| MEMBERS[picks[i % picks.len()] % MEMBERS.len()].to_string();
    match op {
        0 => vec!["SADD".into(), k, m(0)],
        1 => vec!["SADD".into(), k, m(0), m(1), m(2)],
        2 => vec!["SREM".into(), k, m(0), m(1)],
        3 => vec!["SCARD".into(), k],
        4 => vec!["SISMEMBER".into(), k, m(0)],
        5 => vec!["SMISMEMBER".into(), k, m(0), m(1)],
        6 => vec!["SMEMBERS".into(), k],
        7 => vec!["SINTER".into(), k, k2],
        8 => vec!["SUNION".into(), k, k2],
        9 => vec!["SDIFF".into(), k, k2],
        10 => vec!["SINTERSTORE".into(), "d".into(), k, k2],
        11 => vec!["SUNIONSTORE".into(), k, k2, "d".into()],
        12 => vec!["SDIFFSTORE".into(), k2, k, "d".into()],
        13 => vec![
            "SINTERCARD".into(),
            "2".into(),
            k,
            k2,
            "LIMIT".into(),
            count.abs().to_string(),
        ],
        14 => vec!["SMOVE".into(), k, k2, m(0)],
        15 => vec!["SPOP".into(), k, "100".into()],
        16 => vec!["SSCAN".into(), k, "0".into()],
        17 => vec!["OBJECT".into(), "ENCODING".into(), k],
        18 => vec!["SET".into(), k, m(0)],
        19 => vec!["DEL".into(), k],
        20 => vec!["SRANDMEMBER".into(), k, count.to_string()],
        21 => vec!["SPOP".into(), "d".into(), "0".into()],
        _ => vec!["EXISTS".into(), k, "d".into()],
    }
}

#[test]
fn random_set_sequences_match_redis() {
    let cmd = (
        0..23usize,
        0..3usize,
        0..3usize,
        prop::collection::vec(0..40usize, 3),
        -4i64..6,
    );
    // A small intset limit so sequences cross the intset -> hashtable threshold.
    random_sequences_match(
        &["--set-max-intset-entries", "3"],
        30,
        cmd,
        |(op, key, key2, picks, count)| {
            let compare = if *op == 20 {
                Compare::Shape
            } else {
                Compare::Unordered
            };
            Some((set_command(*op, *key, *key2, picks, *count), compare))
        },
        &[],
    );
}

#[test]
fn redis_benchmark_sets_and_hashes() {
    let rc = start_ringcache(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &rc.port.to_string(),
            "-q",
            "-t",
            "sadd,hset,spop",
            "-n",
            "20000",
        ])
        .output()
        .expect("redis-benchmark is required");
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERR"), "{text}");
    for t in ["SADD", "HSET", "SPOP"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(t) && l.contains("requests per second")),
            "{t} missing in {text}"
        );
    }
    let r = redis_cli(rc.port, &["SCARD", "myset"]);
    assert_eq!(r.trim(), "0", "SPOP should have drained the set");
}
