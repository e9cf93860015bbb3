//! Sorted set commands, differential against a real redis-server: scripted
//! cases (errors, infinities, exclusive ranges, LIMIT, RESP3), a random
//! command sequence property test, properties of the random commands, and
//! redis-benchmark's zadd/zpopmin.

mod common;

use common::*;
use proptest::prelude::*;

#[test]
fn zadd_and_point_reads_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        ZADD z 1 a 2 b 3 c
        ZADD z 1 a
        ZADD z CH 5 a 2 b
        ZADD z NX 10 a 4 d
        ZADD z XX 11 a 4 e
        ZADD z GT CH 1 a 20 b
        ZADD z LT CH 1 a 30 c
        ZADD z GT LT 1 a
        ZADD z NX XX 1 a
        ZADD z NX GT 1 a
        ZADD z INCR 1 a 2 b
        ZADD z NX XX INCR 1 a 2
        ZADD z 1
        ZADD z abc a
        ZADD z 1 a nan b
        ZADD z 1e400 a
        ZADD z 1e-400 a
        ZADD z INCR 2.5 a
        ZADD z XX INCR 1 nosuch
        ZADD z NX INCR 1 a
        ZADD z GT INCR -1 a
        ZADD z LT INCR -1 a
        ZADD z inf inf -inf ninf
        ZADD z INCR -inf inf
        ZINCRBY z +inf ninf
        ZINCRBY z 1 newmember
        ZINCRBY z abc a
        ZINCRBY z 0.1 newmember
        ZADD nokey XX 1 a
        ZADD nokey XX INCR 1 a
        EXISTS nokey
        ZADD z -0 negzero
        ZSCORE z negzero
        ZINCRBY z -0 negzero2
        ZSCORE z a
        ZSCORE z nosuch
        ZSCORE nokey a
        ZMSCORE z a nosuch inf ninf
        ZMSCORE nokey a b
        ZCARD z
        ZCARD nokey
        ZRANK z a
        ZREVRANK z a
        ZRANK z nosuch
        ZRANK nokey a
        ZRANGE z 0 -1 WITHSCORES
        ZREM z a nosuch b
        ZREM z a
        ZREM nokey a
        ZADD single 1 x
        ZREM single x
        EXISTS single
        SET str x
        ZADD str 1 a
        ZINCRBY str 1 a
        ZSCORE str a
        ZMSCORE str a
        ZCARD str
        ZRANK str a
        ZREM str a
        ZRANGE str 0 -1
        ZCOUNT str 0 1
        ZPOPMIN str
        ZRANDMEMBER str
        ZSCAN str 0
        TYPE z
        OBJECT ENCODING z
        zadd Z 1 A
        ZADD z 1 m1 1 m2 1 m0 0.5 m3
        ZRANGE z 0 -1 WITHSCORES
        ZADD
        ZCARD
        ZSCORE z
        ZRANK z
        ZINCRBY z 1
        ZADD hexz 0x10 a 0x1p-2 b -0X1P+1 c 1e-310 d
        ZINCRBY hexz 0x10 a
        ZADD hexz 0x a
        ZRANGE hexz 0 -1 WITHSCORES
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

const RANGE_SETUP: &str = r#"
        FLUSHALL
        ZADD z -inf ninf 1 a 2 b 2 bb 3 c 3.5 d 10 e +inf pinf
        ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f 0 g 0 alpha 0 ""
"#;

const RANGE_CASES: &str = r#"
        ZRANGE z 0 -1
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z -3 -1 WITHSCORES
        ZRANGE z 2 1
        ZRANGE z 100 200
        ZRANGE z -100 2
        ZRANGE z 0 -1 REV WITHSCORES
        ZRANGE z 1 3 REV
        ZRANGE z 0 -1 LIMIT 0 1
        ZRANGE z 0 -1 LIMIT 1 -1
        ZRANGE z 0 -1 REV REV
        ZRANGE z 0 1 BYSCORE BYLEX
        ZRANGE z 0 1 LIMIT 1
        ZRANGE z 0 1 foo
        ZRANGE z a 1
        ZRANGE z (1 3 BYSCORE
        ZRANGE z (1 (3 BYSCORE WITHSCORES
        ZRANGE z -inf +inf BYSCORE
        ZRANGE z -inf -inf BYSCORE WITHSCORES
        ZRANGE z +inf +inf BYSCORE WITHSCORES
        ZRANGE z (-inf (+inf BYSCORE
        ZRANGE z 3 1 BYSCORE
        ZRANGE z (2 2 BYSCORE
        ZRANGE z +inf -inf BYSCORE REV WITHSCORES
        ZRANGE z (3 (1 BYSCORE REV
        ZRANGE z -inf +inf BYSCORE LIMIT 1 3
        ZRANGE z -inf +inf BYSCORE LIMIT 1 -1 WITHSCORES
        ZRANGE z -inf +inf BYSCORE LIMIT -1 3
        ZRANGE z -inf +inf BYSCORE LIMIT 0 0
        ZRANGE z -inf +inf BYSCORE LIMIT 100 1
        ZRANGE z +inf -inf BYSCORE REV LIMIT 2 2
        ZRANGE z a b BYSCORE
        ZRANGE z ( 1 BYSCORE
        ZRANGE z "" 1 BYSCORE
        ZRANGE z "( 1" 2 BYSCORE
        ZRANGE z 1e400 +inf BYSCORE
        ZRANGE z nan 1 BYSCORE
        ZRANGE z 1x 2 BYSCORE
        ZRANGE lex - + BYLEX
        ZRANGE lex [b (e BYLEX
        ZRANGE lex (a [c BYLEX
        ZRANGE lex [a [a BYLEX
        ZRANGE lex (a (a BYLEX
        ZRANGE lex [ [b BYLEX
        ZRANGE lex + - BYLEX
        ZRANGE lex + - BYLEX REV
        ZRANGE lex (e - BYLEX REV LIMIT 1 2
        ZRANGE lex - + BYLEX LIMIT 2 3
        ZRANGE lex - + BYLEX WITHSCORES
        ZRANGE lex a c BYLEX
        ZRANGE lex [a +x BYLEX
        ZRANGE lex -a [c BYLEX
        ZRANGE lex [c [a BYLEX
        ZRANGEBYSCORE z -inf +inf
        ZRANGEBYSCORE z 1 3 WITHSCORES
        ZRANGEBYSCORE z (1 3 LIMIT 1 1
        ZRANGEBYSCORE z 1 3 LIMIT 1 1 WITHSCORES
        ZRANGEBYSCORE z 1 3 REV
        ZRANGEBYSCORE z 1 3 BYLEX
        ZRANGEBYSCORE z x 3
        ZRANGEBYSCORE z 1 3 LIMIT 1
        ZRANGEBYSCORE z 1 3 LIMIT a b
        ZREVRANGEBYSCORE z +inf -inf WITHSCORES
        ZREVRANGEBYSCORE z 3 (1
        ZREVRANGEBYSCORE z 3 1 LIMIT 0 2
        ZREVRANGEBYSCORE z 1 3
        ZRANGEBYLEX lex - +
        ZRANGEBYLEX lex [b [d LIMIT 1 5
        ZRANGEBYLEX lex - + WITHSCORES
        ZRANGEBYLEX lex b d
        ZREVRANGEBYLEX lex + -
        ZREVRANGEBYLEX lex [d (a
        ZREVRANGEBYLEX lex [d [b LIMIT 1 1
        ZREVRANGE z 0 2
        ZREVRANGE z 0 -1 WITHSCORES
        ZREVRANGE z 0 1 BYSCORE
        ZREVRANGE z x 1
        ZCOUNT z -inf +inf
        ZCOUNT z (1 3
        ZCOUNT z 3 1
        ZCOUNT z a 1
        ZCOUNT nokey 0 1
        ZLEXCOUNT lex - +
        ZLEXCOUNT lex (a [e
        ZLEXCOUNT lex a e
        ZLEXCOUNT nokey - +
        ZRANGE nokey 0 -1
        ZRANGE nokey 0 -1 BYSCORE
        ZRANGESTORE dst z 0 2
        ZRANGE dst 0 -1 WITHSCORES
        OBJECT ENCODING dst
        ZRANGESTORE dst z (1 +inf BYSCORE LIMIT 1 2
        ZRANGE dst 0 -1 WITHSCORES
        ZRANGESTORE dst lex [b [e BYLEX REV
        ZRANGE dst 0 -1
        ZRANGESTORE dst z 0 2 WITHSCORES
        ZRANGESTORE dst nokey 0 -1
        EXISTS dst
        ZRANGESTORE dst z 5 1
        HELLO 3
        ZRANGE z 0 -1 WITHSCORES
        ZRANGE z -inf +inf BYSCORE REV WITHSCORES
        ZRANGE z 0 1
        ZRANGEBYSCORE z 1 2 WITHSCORES
        ZREVRANGE z 0 1 WITHSCORES
        ZSCORE z pinf
        ZSCORE z ninf
        ZSCORE z nosuch
        ZMSCORE z a nosuch
        ZRANK z nosuch
        ZINCRBY z 0.1 a
        ZRANGE nokey 0 -1
        HELLO 2
"#;

#[test]
fn ranges_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(&format!("{RANGE_SETUP}{RANGE_CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn ranges_on_skiplist_encoding_match_redis() {
    // The same cases with the compact encoding disabled exercise the skiplist.
    let redis = require_redis(&["--zset-max-listpack-entries", "0"]);
    let rc = start_ringcache(&["--zset-max-listpack-entries", "0"]);
    let s = script(&format!("{RANGE_SETUP}OBJECT ENCODING z\n{RANGE_CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn removal_and_pops_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        ZADD z 1 a 2 b 3 c 4 d 5 e 6 f 7 g
        ZREMRANGEBYRANK z 0 1
        ZREMRANGEBYRANK z -1 -1
        ZREMRANGEBYRANK z 5 10
        ZREMRANGEBYRANK z a 1
        ZRANGE z 0 -1
        ZREMRANGEBYSCORE z (3 4
        ZREMRANGEBYSCORE z x 4
        ZREMRANGEBYSCORE z 10 1
        ZRANGE z 0 -1
        ZREMRANGEBYRANK z 0 -1
        EXISTS z
        ZREMRANGEBYRANK nokey 0 -1
        ZADD lex 0 a 0 b 0 c 0 d 0 e
        ZREMRANGEBYLEX lex [b (d
        ZREMRANGEBYLEX lex a b
        ZRANGE lex 0 -1
        ZREMRANGEBYLEX lex - +
        EXISTS lex
        ZADD p 1 a 2 b 3 c 4 d 5 e
        ZPOPMIN p
        ZPOPMAX p
        ZPOPMIN p 2
        ZPOPMIN p 0
        ZPOPMIN p -1
        ZPOPMIN p abc
        ZPOPMIN p 1 2
        ZPOPMAX p 10
        EXISTS p
        ZPOPMIN p
        ZPOPMIN p 5
        ZADD p 1 a 2 b 3 c 4 d 5 e
        ZMPOP 1 p MIN
        ZMPOP 2 nokey p MAX COUNT 2
        ZMPOP 1 nokey MIN
        ZMPOP abc p MIN
        ZMPOP 0 p MIN
        ZMPOP 5 p MIN
        ZMPOP 1 p FOO
        ZMPOP 1 p MIN COUNT 0
        ZMPOP 1 p MIN COUNT abc
        ZMPOP 1 p MIN COUNT 1 COUNT 1
        SET str x
        ZMPOP 2 str p MIN
        ZMPOP 2 p str MIN
        ZPOPMIN str 0
        ZREMRANGEBYSCORE str 0 1
        HELLO 3
        ZADD p 1 a 2 b 3 c 4 d 5 e
        ZPOPMIN p
        ZPOPMAX p 2
        ZPOPMIN nokey
        ZPOPMIN nokey 2
        ZMPOP 1 p MAX COUNT 10
        ZMPOP 1 p MAX
        HELLO 2
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn set_algebra_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        ZADD a 1 x 2 y 3 z
        ZADD b 10 y 20 z 30 w
        ZADD c 100 z
        ZADD inf +inf x -inf y 0 z
        ZUNION 2 a b
        ZUNION 2 a b WITHSCORES
        ZUNION 2 a b WEIGHTS 2 0.5 WITHSCORES
        ZUNION 3 a b c AGGREGATE MIN WITHSCORES
        ZUNION 3 a b c AGGREGATE max WITHSCORES
        ZUNION 2 a inf WITHSCORES
        ZUNION 2 inf inf WEIGHTS 1 -1 WITHSCORES
        ZUNION 1 inf WEIGHTS 0 WITHSCORES
        ZUNION 2 a nokey WITHSCORES
        ZUNION 1 nokey
        ZINTER 2 a b WITHSCORES
        ZINTER 3 a b c WITHSCORES
        ZINTER 2 a b AGGREGATE MAX WITHSCORES
        ZINTER 2 a b WEIGHTS 1 -1 AGGREGATE MIN WITHSCORES
        ZINTER 2 a a WITHSCORES
        ZINTER 2 a nokey
        ZINTER 2 a inf WITHSCORES
        ZDIFF 2 a b WITHSCORES
        ZDIFF 3 b a c
        ZDIFF 2 nokey a
        ZDIFF 1 a WITHSCORES
        ZUNIONSTORE out 2 a b WEIGHTS 1 2
        ZRANGE out 0 -1 WITHSCORES
        OBJECT ENCODING out
        ZINTERSTORE out 2 a b AGGREGATE MIN
        ZRANGE out 0 -1 WITHSCORES
        ZDIFFSTORE out 2 a b
        ZRANGE out 0 -1 WITHSCORES
        ZINTERSTORE out 2 a nokey
        EXISTS out
        ZUNIONSTORE a 2 a b
        ZRANGE a 0 -1 WITHSCORES
        ZINTERCARD 2 a b
        ZINTERCARD 2 a b LIMIT 1
        ZINTERCARD 2 a b LIMIT 0
        ZINTERCARD 2 a nokey
        ZINTERCARD 0 a
        ZINTERCARD abc a
        ZINTERCARD 2 a
        ZINTERCARD 1 a LIMIT -1
        ZINTERCARD 1 a LIMIT abc
        ZINTERCARD 1 a WITHSCORES
        ZUNION 0 a
        ZUNION -1 a
        ZUNION abc a
        ZUNION 3 a b
        ZUNION 1 a WEIGHTS abc
        ZUNION 1 a WEIGHTS 1 2
        ZUNION 2 a b WEIGHTS 1
        ZUNION 1 a AGGREGATE foo
        ZUNION 1 a AGGREGATE
        ZUNION 1 a FOO
        ZDIFF 1 a WEIGHTS 1
        ZDIFF 1 a AGGREGATE SUM
        ZUNIONSTORE out 1 a WITHSCORES
        ZUNIONSTORE out 0 a
        ZINTERSTORE out 0 a
        ZDIFFSTORE out 0 a
        SET str x
        ZUNION 2 a str
        ZUNION 2 str a WEIGHTS x y
        ZINTER 2 nokey str
        ZDIFF 2 a str
        ZUNIONSTORE out 2 a str
        ZINTERCARD 2 a str
        ZUNIONSTORE str 1 a
        TYPE str
        HELLO 3
        ZUNION 2 a b WITHSCORES
        ZINTER 2 a b
        ZDIFF 2 a c WITHSCORES
        HELLO 2
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn encodings_and_scan_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let long = "x".repeat(65);
    let mut text = String::from(
        r#"
        FLUSHALL
        ZADD small 1 a 1.5 b 0.1 c 1e17 d -inf e 5e18 f -0 g 3 h
        OBJECT ENCODING small
        ZSCAN small 0
        ZSCAN small 0 MATCH [a-c]
        ZSCAN small 0 COUNT 1
        ZSCAN small 0 COUNT 0
        ZSCAN small abc
        ZSCAN small 0 MATCH
        ZSCAN small 0 FOO bar
        ZSCAN nokey 0
        HELLO 3
        ZSCAN small 0
        HELLO 2
        CONFIG SET zset-max-listpack-entries 4
        ZADD c4 1 a 2 b 3 c 4 d
        OBJECT ENCODING c4
        ZADD c4 5 e
        OBJECT ENCODING c4
        ZREMRANGEBYRANK c4 0 2
        OBJECT ENCODING c4
        ZRANGESTORE c4s c4 0 -1
        OBJECT ENCODING c4s
        ZUNIONSTORE c4u 1 c4
        OBJECT ENCODING c4u
        CONFIG SET zset-max-listpack-entries 128
"#,
    );
    text.push_str(&format!(
        "ZADD lv 1 {long}\nOBJECT ENCODING lv\nZADD lv2 1 a\nZADD lv2 2 {long}\nOBJECT ENCODING lv2\n"
    ));
    let members: Vec<String> = (0..129).map(|i| format!("{} m{i}", i % 7)).collect();
    text.push_str(&format!("ZADD big {}\n", members.join(" ")));
    text.push_str("OBJECT ENCODING big\nZCARD big\nZRANGE big 0 9 WITHSCORES\nZRANK big m50\nZREVRANK big m50\nZRANGE big 3 (5 BYSCORE LIMIT 3 4 WITHSCORES\nZPOPMIN big 3\nZCOUNT big 1 2\nZADD big -0 negz\nZSCORE big negz\nZMSCORE big m1 m2 nosuch\n");
    let s = script(&text);
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn zscan_covers_a_large_set() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"big".to_vec()];
    for i in 0..1000 {
        args.push(format!("{}", i % 37).into_bytes());
        args.push(format!("m{i}").into_bytes());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    assert_eq!(c.cmd(&refs), b":1000\r\n");
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let reply = c.cmd_str(&format!("ZSCAN big {cursor} COUNT 50"));
        calls += 1;
        let lines: Vec<&str> = reply.split("\r\n").collect();
        cursor = lines[2].to_string();
        // lines: *2, $n, cursor, *m, then ($len, member, $len, score)*
        let items = &lines[4..lines.len() - 1];
        for pair in items.chunks(4) {
            let (m, score) = (pair[1], pair[3]);
            let i: usize = m[1..].parse().expect("member index");
            assert_eq!(score, (i % 37).to_string());
            seen.insert(i);
        }
        if cursor == "0" {
            break;
        }
        // Removing already returned elements must not make the scan skip others.
        if !items.is_empty() {
            c.cmd_str("ZPOPMIN big 5");
        }
        assert!(calls < 1000, "scan does not terminate");
    }
    assert!(calls > 5, "a large set is scanned in several calls");
    let left = c.cmd_str("ZCARD big");
    let left: usize = left[1..left.len() - 2].parse().expect("card");
    assert!(seen.len() >= left, "every remaining element was returned");
    for i in 0..1000 {
        let r = c.cmd_str(&format!("ZSCORE big m{i}"));
        if !r.starts_with("$-1") {
            assert!(seen.contains(&i), "m{i} never returned by ZSCAN");
        }
    }
}

#[test]
fn zrandmember_properties() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    // Deterministic forms and errors are differential.
    let s = script(
        r#"
        FLUSHALL
        ZADD one 5 only
        ZRANDMEMBER one
        ZRANDMEMBER one 1 WITHSCORES
        ZRANDMEMBER one -3 WITHSCORES
        ZRANDMEMBER one 0
        ZRANDMEMBER nokey
        ZRANDMEMBER nokey 5
        ZRANDMEMBER one abc
        ZRANDMEMBER one 1 WITHSCORES x
        ZRANDMEMBER one 1 FOO
        ZRANDMEMBER one -9223372036854775808
        ZRANDMEMBER one -9223372036854775807 WITHSCORES
        ZRANDMEMBER one 9223372036854775807 WITHSCORES
        HELLO 3
        ZRANDMEMBER one -2 WITHSCORES
        ZRANDMEMBER one 1 WITHSCORES
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
    for limits in [None, Some("0")] {
        let extra: Vec<&str> = limits
            .map(|l| vec!["--zset-max-listpack-entries", l])
            .unwrap_or_default();
        let rc = start_ringcache(&extra);
        let mut c = RawConn::connect(rc.port);
        c.cmd_str("ZADD z 1 a 2 b 3 c 4 d 5 e");
        let members = |r: &str| -> Vec<String> {
            r.split("\r\n")
                .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
                .map(str::to_string)
                .collect()
        };
        for _ in 0..20 {
            let m = members(&c.cmd_str("ZRANDMEMBER z 3"));
            assert_eq!(m.len(), 3);
            let set: std::collections::HashSet<_> = m.iter().collect();
            assert_eq!(set.len(), 3, "positive count gives distinct members");
            assert!(m
                .iter()
                .all(|x| ["a", "b", "c", "d", "e"].contains(&x.as_str())));
            let m = members(&c.cmd_str("ZRANDMEMBER z -8 WITHSCORES"));
            assert_eq!(m.len(), 16);
            for p in m.chunks(2) {
                let expect = (p[0].as_bytes()[0] - b'a' + 1).to_string();
                assert_eq!(p[1], expect, "score belongs to member");
            }
            let one = members(&c.cmd_str("ZRANDMEMBER z"));
            assert_eq!(one.len(), 1);
        }
        let mut all = members(&c.cmd_str("ZRANDMEMBER z 10"));
        all.sort();
        assert_eq!(all, ["a", "b", "c", "d", "e"]);
    }
}

/// One random command over keys k0..k2 with small members and scores.
fn arb_command() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec!["k0", "k1", "k2"]);
    let member = prop::sample::select(vec!["a", "b", "c", "d", "e", "f", "aa", "ab"]);
    let score = prop::sample::select(vec![
        "0", "1", "2", "-1", "1.5", "inf", "-inf", "3", "-0", "0.1",
    ]);
    let bound = prop::sample::select(vec![
        "-inf", "+inf", "0", "(0", "1", "(1", "2", "(2", "1.5", "-1",
    ]);
    let lex = prop::sample::select(vec!["-", "+", "[a", "(a", "[b", "(c", "[d", "[ab", "(f"]);
    let idx = -4i64..6;
    let flag = prop::sample::select(vec!["", "NX", "XX", "GT", "LT", "CH", "GT CH", "XX CH"]);
    prop_oneof![
        4 => (key.clone(), flag, score.clone(), member.clone(), score.clone(), member.clone())
            .prop_map(|(k, f, s1, m1, s2, m2)| format!("ZADD {k} {f} {s1} {m1} {s2} {m2}")),
        1 => (key.clone(), score.clone(), member.clone())
            .prop_map(|(k, s, m)| format!("ZINCRBY {k} {s} {m}")),
        1 => (key.clone(), member.clone(), member.clone())
            .prop_map(|(k, a, b)| format!("ZREM {k} {a} {b}")),
        1 => (key.clone(), idx.clone(), idx.clone(), any::<bool>())
            .prop_map(|(k, a, b, r)| format!("ZRANGE {k} {a} {b} {} WITHSCORES", if r { "REV" } else { "" })),
        1 => (key.clone(), bound.clone(), bound.clone(), 0i64..3, -1i64..3)
            .prop_map(|(k, a, b, o, l)| format!("ZRANGEBYSCORE {k} {a} {b} WITHSCORES LIMIT {o} {l}")),
        1 => (key.clone(), bound.clone(), bound.clone())
            .prop_map(|(k, a, b)| format!("ZREVRANGEBYSCORE {k} {a} {b} WITHSCORES")),
        1 => (key.clone(), lex.clone(), lex.clone(), any::<bool>())
            .prop_map(|(k, a, b, r)| if r { format!("ZREVRANGEBYLEX {k} {a} {b}") } else { format!("ZRANGEBYLEX {k} {a} {b}") }),
        1 => (key.clone(), lex.clone(), lex.clone())
            .prop_map(|(k, a, b)| format!("ZLEXCOUNT {k} {a} {b}")),
        1 => (key.clone(), bound.clone(), bound.clone())
            .prop_map(|(k, a, b)| format!("ZCOUNT {k} {a} {b}")),
        1 => (key.clone(), member.clone(), any::<bool>())
            .prop_map(|(k, m, r)| format!("{} {k} {m}", if r { "ZREVRANK" } else { "ZRANK" })),
        1 => (key.clone(), member.clone(), member.clone())
            .prop_map(|(k, a, b)| format!("ZMSCORE {k} {a} {b}")),
        1 => key.clone().prop_map(|k| format!("ZCARD {k}")),
        1 => (key.clone(), 0usize..3, any::<bool>())
            .prop_map(|(k, n, max)| format!("{} {k} {n}", if max { "ZPOPMAX" } else { "ZPOPMIN" })),
        1 => (key.clone(), key.clone(), any::<bool>())
            .prop_map(|(a, b, max)| format!("ZMPOP 2 {a} {b} {} COUNT 2", if max { "MAX" } else { "MIN" })),
        1 => (key.clone(), idx.clone(), idx)
            .prop_map(|(k, a, b)| format!("ZREMRANGEBYRANK {k} {a} {b}")),
        1 => (key.clone(), bound.clone(), bound)
            .prop_map(|(k, a, b)| format!("ZREMRANGEBYSCORE {k} {a} {b}")),
        1 => (key.clone(), lex.clone(), lex)
            .prop_map(|(k, a, b)| format!("ZREMRANGEBYLEX {k} {a} {b}")),
        1 => (prop::sample::select(vec!["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), key.clone(), key.clone(), key.clone())
            .prop_map(|(c, d, a, b)| format!("{c} {d} 2 {a} {b}")),
        1 => (prop::sample::select(vec!["ZUNION", "ZINTER", "ZDIFF"]), key.clone(), key.clone())
            .prop_map(|(c, a, b)| format!("{c} 2 {a} {b} WITHSCORES")),
        1 => (key.clone(), key.clone(), prop::sample::select(vec!["SUM", "MIN", "MAX"]))
            .prop_map(|(a, b, g)| format!("ZUNION 2 {a} {b} WEIGHTS 2 -1 AGGREGATE {g} WITHSCORES")),
        1 => (key.clone(), key.clone()).prop_map(|(a, b)| format!("ZINTERCARD 2 {a} {b}")),
        1 => (key.clone(), key.clone(), 0i64..4, any::<bool>())
            .prop_map(|(d, s, n, r)| format!("ZRANGESTORE {d} {s} 0 {n} {}", if r { "REV" } else { "" })),
        1 => (key.clone(), 1i64..4).prop_map(|(k, n)| format!("ZRANDMEMBER {k} {n}0")),
        1 => key.prop_map(|k| format!("ZSCAN {k} 0")),
    ]
}

#[test]
fn random_command_sequences_match_redis() {
    for entries in ["128", "3"] {
        random_sequences_match(
            &["--zset-max-listpack-entries", entries],
            15,
            arb_command(),
            |cmd| {
                // Lex ranges over mixed scores are unspecified on a skiplist
                // (the result depends on its random levels): only listpacks,
                // where Redis scans linearly, get them.
                if entries == "3" && cmd.contains("LEX") {
                    return None;
                }
                // ZRANDMEMBER with a count above the set size returns the whole
                // set, and ZSCAN of a skiplist walks Redis' hash table: both in
                // an unspecified order.
                let random = cmd.starts_with("ZRANDMEMBER") || cmd.starts_with("ZSCAN");
                let compare = if random {
                    Compare::Unordered
                } else {
                    Compare::Exact
                };
                Some((cmd.split_whitespace().map(String::from).collect(), compare))
            },
            &[
                "ZRANGE k0 0 -1 WITHSCORES",
                "ZRANGE k1 0 -1 WITHSCORES",
                "ZRANGE k2 0 -1 WITHSCORES",
            ],
        );
    }
}

#[test]
fn redis_benchmark_zadd_zpopmin() {
    let rc = start_ringcache(&[]);
    let out = std::process::Command::new("redis-benchmark")
        .args(["-q", "-t", "zadd,zpopmin", "-n", "20000", "-p"])
        .arg(rc.port.to_string())
        .output()
        .expect("redis-benchmark is installed");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ZADD:"), "{text}");
    assert!(text.contains("ZPOPMIN:"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    let mut c = RawConn::connect(rc.port);
    assert!(c.cmd_str("ZCARD myzset").starts_with(':'));
}

/// Plain sets take part in ZUNION/ZINTER/ZDIFF (and STORE forms) with score 1.
#[test]
fn set_operations_accept_plain_sets() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        SADD s a b c 7
        ZADD z 2 a 5 d 1.5 7
        ZUNION 2 s z WITHSCORES
        ZINTER 2 s z WITHSCORES AGGREGATE MAX
        ZDIFF 2 s z WITHSCORES
        ZDIFF 2 z s
        ZINTERSTORE d 2 s z
        ZUNIONSTORE d 2 s z WEIGHTS 2 3
        ZRANGE d 0 -1 WITHSCORES
        ZINTERCARD 2 s z
        SET str x
        ZUNION 2 s str
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}
