//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO), differential against a real redis-server: scripted edge
//! cases and error texts in RESP2 and RESP3, random command sequences, WATCH
//! effects, the proto-max-bulk-len limit, and multi-key rules in cluster mode.

mod common;

use common::cluster::start_cluster;
use common::*;
use proptest::prelude::*;

const BITMAP_SCRIPT: &str = r#"
    FLUSHALL
    SETBIT b 7 1
    SETBIT b 7 1
    SETBIT b 7 0
    GET b
    SETBIT b 100 1
    STRLEN b
    GET b
    GETBIT b 100
    GETBIT b 101
    GETBIT b 99999
    GETBIT nosuch 5
    SETBIT b -1 1
    SETBIT b 4294967296 1
    SETBIT b abc 1
    SETBIT b 1 2
    SETBIT b 1 -1
    SETBIT b 1 x
    SETBIT b 01 1
    GETBIT b -1
    GETBIT b x
    GETBIT b 4294967295
    GETBIT b 4294967296
    SET n 12345
    GETBIT n 2
    BITCOUNT n
    BITCOUNT n 0 1
    BITPOS n 1
    OBJECT ENCODING n
    SETBIT n 0 0
    OBJECT ENCODING n
    GET n
    LPUSH l a
    SETBIT l 0 1
    GETBIT l 0
    BITCOUNT l
    BITPOS l 1
    SET s foobar
    BITCOUNT s
    BITCOUNT s 0 0
    BITCOUNT s 1 1
    BITCOUNT s 1 -2
    BITCOUNT s -3 -1
    BITCOUNT s -1 -3
    BITCOUNT s 5 30 BIT
    BITCOUNT s 0 -1 BIT
    BITCOUNT s -9 -1 bit
    BITCOUNT s 0 100 byte
    BITCOUNT s 7 7 BIT
    BITCOUNT s 8 8 BIT
    BITCOUNT s 3 4 BIT
    BITCOUNT s -100 -50
    BITCOUNT s 1
    BITCOUNT s 0 1 foo
    BITCOUNT s -1 -5 foo
    BITCOUNT s a 1
    BITCOUNT s 0 b
    BITCOUNT s 0 1 bit extra
    BITCOUNT nosuch a b
    BITCOUNT nosuch 1
    SET e ""
    BITCOUNT e
    BITCOUNT e 0 -1 BIT
    BITPOS s 1
    BITPOS s 0
    BITPOS s 1 2
    BITPOS s 0 2 -1
    BITPOS s 1 -1
    BITPOS s 1 7 15 BIT
    BITPOS s 0 7 15 BIT
    BITPOS s 1 1 1 BIT
    BITPOS s 0 1 1 BIT
    BITPOS s 1 -100 100 BIT
    BITPOS s 0 -100 100 BIT
    BITPOS s 0 3 2
    BITPOS s 1 0 1 foo
    BITPOS s 1 a
    BITPOS s 1 0 b
    BITPOS s 1 0 b foo
    BITPOS s 1 a b foo
    BITPOS s 1 0 1 bit extra
    BITPOS s 2
    BITPOS s x
    BITPOS nosuch 1
    BITPOS nosuch 0
    BITPOS nosuch 1 a
    BITPOS nosuch 2
    BITPOS e 0
    BITPOS e 1
    BITPOS e 0 0 -1 BIT
    SET ff "\xff\xff\xff"
    BITPOS ff 0
    BITPOS ff 0 0 -1
    BITPOS ff 0 0
    BITPOS ff 0 1
    BITPOS ff 1 1
    BITPOS ff 0 3 20 BIT
    BITPOS ff 0 -1 -1 BIT
    SET zz "\x00\x00\x00"
    BITPOS zz 1
    BITPOS zz 0
    BITPOS zz 1 9 22 bit
    BITPOS zz 0 9 22 bit
    BITPOS zz 1 0 -1
    SET mix "\x00\x80\x01\xfe"
    BITPOS mix 1 9 BIT
    BITPOS mix 1 9 30 BIT
    BITPOS mix 1 10 30 BIT
    BITPOS mix 0 24 31 BIT
    BITPOS mix 0 25 31 BIT
    BITPOS mix 1 2 3
    BITCOUNT mix 9 30 BIT
    SET a "\x0f\xf0"
    SET b2 "\xff"
    BITOP AND dest a b2
    GET dest
    BITOP OR dest a b2
    GET dest
    BITOP XOR dest a b2 nosuch
    GET dest
    BITOP NOT dest a
    GET dest
    OBJECT ENCODING dest
    BITOP AND dest a nosuch
    GET dest
    BITOP and dest b2 a
    GET dest
    BITOP OR dest nosuch nosuch2
    EXISTS dest
    BITOP NOT dest nosuch
    EXISTS dest
    BITOP NOT dest a b2
    BITOP FOO dest a
    BITOP AND dest
    BITOP AND dest l
    BITOP AND dest l a
    BITOP XOR dest n s
    GET dest
    SET dest x EX 100
    BITOP OR dest a
    TTL dest
    BITOP OR a a b2
    GET a
    SET ttl a EX 100
    SETBIT ttl 1 1
    TTL ttl
    SETBIT ttl 100 0
    TTL ttl
    GET ttl
    "#;

const BITFIELD_SCRIPT: &str = r#"
    FLUSHALL
    BITFIELD bf SET i8 0 100 GET i8 0 INCRBY i8 0 100 OVERFLOW SAT INCRBY i8 0 100 OVERFLOW FAIL INCRBY i8 0 -300 GET u8 0
    BITFIELD bf SET u8 #1 255 GET u8 8 GET u4 #2 GET i4 #3 INCRBY u2 #10 5
    BITFIELD bf SET i64 64 -9223372036854775808 INCRBY i64 64 -1 OVERFLOW SAT INCRBY i64 64 -1 OVERFLOW FAIL INCRBY i64 64 -1
    BITFIELD bf OVERFLOW SAT SET i64 64 9223372036854775807 INCRBY i64 64 1 OVERFLOW WRAP INCRBY i64 64 1
    BITFIELD bf SET u63 0 -1 GET u63 0 GET i64 0 SET u8 0 -1 OVERFLOW SAT SET u8 0 -1 SET i8 0 200 OVERFLOW FAIL SET u8 0 256 SET i8 0 -129
    BITFIELD bf GET i1 0 GET u1 0 GET i64 3 GET u63 5 GET i13 1000 GET u8 4294967295
    BITFIELD bf OVERFLOW wrap incrby i1 0 1 incrby i1 0 1 overflow sat incrby u1 0 5 incrby u3 0 -100
    BITFIELD bf INCRBY u63 0 9223372036854775807 OVERFLOW FAIL INCRBY u63 0 1 OVERFLOW SAT INCRBY u63 0 -9223372036854775808
    GET bf
    BITFIELD nosuch GET u8 0 GET i64 60
    EXISTS nosuch
    BITFIELD bf
    BITFIELD nosuch2
    BITFIELD_RO bf GET i8 0 GET u8 #2
    BITFIELD_RO bf SET u8 0 1
    BITFIELD_RO bf INCRBY u8 0 1
    BITFIELD_RO bf GET u8 0 OVERFLOW FAIL
    BITFIELD_RO nosuch GET u8 0
    BITFIELD bf GET u64 0
    BITFIELD bf GET i65 0
    BITFIELD bf GET i0 0
    BITFIELD bf GET x8 0
    BITFIELD bf GET I8 0
    BITFIELD bf GET u8 -1
    BITFIELD bf GET u8 #-1
    BITFIELD bf GET u8 4294967296
    BITFIELD bf GET u8 #536870912
    BITFIELD bf GET u8 #536870911
    BITFIELD bf GET i64 #67108863
    BITFIELD bf GET i64 #67108864
    BITFIELD bf SET u8 0 abc
    BITFIELD bf SET u8 0
    BITFIELD bf GET u8
    BITFIELD bf OVERFLOW
    BITFIELD bf OVERFLOW foo GET u8 0
    BITFIELD bf FOO u8 0
    BITFIELD bf GET u8 0 SET u8 x 1
    BITFIELD bf SET u8 0 1 GET x8 0
    LPUSH l a
    BITFIELD l GET u8 0
    BITFIELD l SET u8 0 1
    BITFIELD_RO l GET u8 0
    SET n 12345
    BITFIELD n GET u8 0 GET i16 8
    BITFIELD n SET u8 0 65
    GET n
    BITFIELD grow SET u8 #100 1
    STRLEN grow
    BITFIELD grow2 OVERFLOW FAIL INCRBY u2 0 10
    EXISTS grow2
    GET grow2
    BITFIELD grow3 SET u1 1000 0 GET u1 1000
    STRLEN grow3
    SET ttl a EX 100
    BITFIELD ttl SET u8 8 1
    TTL ttl
    OBJECT ENCODING ttl
    "#;

#[test]
fn bitmap_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    assert_same_replies(redis.port, rc.port, &script(BITMAP_SCRIPT));
    assert_same_resp3_replies(redis.port, rc.port, &script(BITMAP_SCRIPT));
}

#[test]
fn bitfield_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    assert_same_replies(redis.port, rc.port, &script(BITFIELD_SCRIPT));
    // RESP3 turns the nil of OVERFLOW FAIL into `_`.
    assert_same_resp3_replies(redis.port, rc.port, &script(BITFIELD_SCRIPT));
}

/// The offset limit follows `proto-max-bulk-len` (smallest allowed: 1 MB).
#[test]
fn offsets_are_limited_by_proto_max_bulk_len() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        CONFIG SET proto-max-bulk-len 1048576
        SETBIT big 8388608 1
        SETBIT big 8388607 1
        STRLEN big
        BITCOUNT big
        BITPOS big 1
        BITPOS big 0 -1
        GETBIT big 8388608
        BITFIELD big GET u8 #1048576
        BITFIELD big SET u8 #1048575 255 GET u16 8388600
        BITFIELD big SET i64 8388607 -1
        STRLEN big
        BITCOUNT big -2 -1
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// Which writes invalidate a WATCH: Redis skips no-op SETBIT/BITFIELD writes.
#[test]
fn watch_sees_exactly_the_real_bit_changes() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let cases: &[&[&str]] = &[
        &["SETBIT", "w", "3", "1"],
        &["SETBIT", "w", "3", "0"],
        &["SETBIT", "w", "64", "0"],
        &["BITFIELD", "w", "SET", "u8", "0", "16"],
        &["BITFIELD", "w", "SET", "u8", "0", "17"],
        &[
            "BITFIELD", "w", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000",
        ],
        &["BITFIELD", "w", "GET", "u8", "0"],
        &["BITFIELD_RO", "w", "GET", "u8", "0"],
        &["BITOP", "OR", "w", "w"],
        &["BITOP", "AND", "w", "nosuch"],
        &["GETBIT", "w", "3"],
        &["BITCOUNT", "w"],
    ];
    for port in [redis.port, rc.port] {
        RawConn::connect(port).cmd(&[b"SETBIT", b"w", b"3", b"1"]);
    }
    for case in cases {
        let mut outcomes = Vec::new();
        for port in [redis.port, rc.port] {
            let (mut watcher, mut other) = (RawConn::connect(port), RawConn::connect(port));
            watcher.cmd(&[b"SET", b"w", b"\x10"]);
            watcher.cmd(&[b"SETBIT", b"w", b"3", b"1"]);
            watcher.cmd(&[b"WATCH", b"w"]);
            let args: Vec<&[u8]> = case.iter().map(|a| a.as_bytes()).collect();
            let reply = other.cmd(&args);
            watcher.cmd(&[b"MULTI"]);
            watcher.cmd(&[b"PING"]);
            outcomes.push((reply, watcher.cmd(&[b"EXEC"])));
        }
        assert_eq!(outcomes[1], outcomes[0], "{case:?}");
    }
}

/// One random bitmap command over a few keys and small offsets.
fn bitmap_command() -> impl Strategy<Value = Vec<String>> {
    let key = prop::sample::select(vec!["k1", "k2", "k3"]);
    let idx = -20i64..40;
    let field = (prop::bool::ANY, 1u32..=64).prop_map(|(s, b)| {
        if s || b == 64 {
            format!("i{b}")
        } else {
            format!("u{b}")
        }
    });
    let overflow = prop::sample::select(vec!["WRAP", "SAT", "FAIL"]);
    let value = prop_oneof![-300i64..300, any::<i64>()];
    let unit = prop::sample::select(vec!["", "BIT", "BYTE"]);
    prop_oneof![
        (key.clone(), 0u64..200, 0u8..2).prop_map(|(k, o, v)| vec![
            "SETBIT".into(),
            k.into(),
            o.to_string(),
            v.to_string()
        ]),
        (key.clone(), 0u64..200).prop_map(|(k, o)| vec!["GETBIT".into(), k.into(), o.to_string()]),
        (key.clone(), idx.clone(), idx.clone(), unit.clone()).prop_map(|(k, s, e, u)| {
            let mut v = vec!["BITCOUNT".into(), k.into(), s.to_string(), e.to_string()];
            if !u.is_empty() {
                v.push(u.into());
            }
            v
        }),
        (
            key.clone(),
            0u8..2,
            idx.clone(),
            proptest::option::of(idx),
            unit
        )
            .prop_map(|(k, b, s, e, u)| {
                let mut v = vec!["BITPOS".into(), k.into(), b.to_string(), s.to_string()];
                if let Some(e) = e {
                    v.push(e.to_string());
                    if !u.is_empty() {
                        v.push(u.into());
                    }
                }
                v
            }),
        (
            prop::sample::select(vec!["AND", "OR", "XOR", "NOT"]),
            key.clone(),
            prop::collection::vec(key.clone(), 1..4)
        )
            .prop_map(|(op, d, srcs)| {
                let srcs = if op == "NOT" {
                    srcs[..1].to_vec()
                } else {
                    srcs
                };
                let mut v = vec!["BITOP".into(), op.into(), d.into()];
                v.extend(srcs.into_iter().map(String::from));
                v
            }),
        (
            key.clone(),
            prop::collection::vec((0u8..3, field, 0u64..120, value, overflow), 1..4)
        )
            .prop_map(|(k, ops)| {
                let mut v = vec!["BITFIELD".into(), k.into()];
                for (kind, f, off, val, ow) in ops {
                    v.extend(["OVERFLOW".into(), ow.into()]);
                    match kind {
                        0 => v.extend(["GET".into(), f, off.to_string()]),
                        1 => v.extend(["SET".into(), f, off.to_string(), val.to_string()]),
                        _ => v.extend(["INCRBY".into(), f, off.to_string(), val.to_string()]),
                    }
                }
                v
            }),
        key.prop_map(|k| vec!["GET".into(), k.into()]),
    ]
}

#[test]
fn random_bitmap_sequences_match_redis() {
    random_sequences_match(
        &[],
        64,
        bitmap_command(),
        |c| Some((c.clone(), Compare::Exact)),
        &["GET k1", "GET k2", "GET k3"],
    );
}

/// In cluster mode the keys of BITOP must share a slot; single-key bitmap
/// commands work through any node.
#[test]
fn bitmaps_in_cluster_mode() {
    let nodes = start_cluster(2, &[]);
    let mut c = RawConn::connect(nodes[0].port());
    for i in 0..40 {
        let k = format!("bm:{i}");
        assert_eq!(c.cmd(&[b"SETBIT", k.as_bytes(), b"9", b"1"]), b":0\r\n");
    }
    let mut d = RawConn::connect(nodes[1].port());
    for i in 0..40 {
        let k = format!("bm:{i}");
        assert_eq!(d.cmd(&[b"GETBIT", k.as_bytes(), b"9"]), b":1\r\n");
        assert_eq!(d.cmd(&[b"BITCOUNT", k.as_bytes()]), b":1\r\n");
        assert_eq!(
            d.cmd(&[b"BITFIELD", k.as_bytes(), b"INCRBY", b"u8", b"8", b"1"]),
            b"*1\r\n:65\r\n"
        );
    }
    assert_eq!(
        d.cmd(&[b"BITOP", b"OR", b"bm:0", b"bm:1", b"bm:2"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(d.cmd(&[b"SETBIT", b"{t}a", b"0", b"1"]), b":0\r\n");
    assert_eq!(d.cmd(&[b"SETBIT", b"{t}b", b"15", b"1"]), b":0\r\n");
    assert_eq!(
        c.cmd(&[b"BITOP", b"OR", b"{t}c", b"{t}a", b"{t}b"]),
        b":2\r\n"
    );
    assert_eq!(c.cmd(&[b"GET", b"{t}c"]), b"$2\r\n\x80\x01\r\n");
}

/// COMMAND INFO of the bitmap and HyperLogLog commands: name, arity,
/// flags, legacy key positions and ACL categories as in redis-server.
#[test]
fn command_info_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(rc.port));
    let names = [
        "setbit",
        "getbit",
        "bitcount",
        "bitpos",
        "bitop",
        "bitfield",
        "bitfield_ro",
        "pfadd",
        "pfcount",
        "pfmerge",
        // may_replicate is hidden from COMMAND INFO, as in Redis.
        "publish",
    ];
    for name in names {
        let head = |c: &mut RawConn| match parse_tree(
            &c.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]),
            &mut 0,
        ) {
            Tree::Agg(_, mut entries) => match entries.remove(0) {
                Tree::Agg(_, fields) => fields[..7].to_vec(),
                leaf => panic!("{name}: {leaf:?}"),
            },
            leaf => panic!("{name}: {leaf:?}"),
        };
        assert_eq!(head(&mut b), head(&mut a), "COMMAND INFO {name}");
    }
}
