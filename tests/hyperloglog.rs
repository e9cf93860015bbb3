//! HyperLogLog (PFADD, PFCOUNT, PFMERGE), differential against a real
//! redis-server: replies and error texts, the exact HLL bytes `GET` returns
//! (sparse and dense, with `hll-sparse-max-bytes`), HLL strings carried from
//! one server to the other, corrupted payloads (errors, never a crash),
//! WATCH effects, and the one-slot rule in cluster mode.

mod common;

use common::cluster::start_cluster;
use common::*;

/// Sends the same command to both servers and asserts identical replies.
fn both(a: &mut RawConn, b: &mut RawConn, args: &[&[u8]]) -> Vec<u8> {
    let (ra, rb) = (a.cmd(args), b.cmd(args));
    assert_eq!(
        String::from_utf8_lossy(&rb),
        String::from_utf8_lossy(&ra),
        "reply differs for {:?}",
        args.iter()
            .map(|x| String::from_utf8_lossy(x))
            .collect::<Vec<_>>()
    );
    ra
}

/// The payload of a bulk reply.
fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let nl = reply.iter().position(|&b| b == b'\n').expect("header");
    reply[nl + 1..reply.len() - 2].to_vec()
}

/// Element `i` of a family: varied lengths (every MurmurHash tail) and bytes.
fn element(family: u8, i: u32) -> Vec<u8> {
    let mut e = format!("{family}:{i}:").into_bytes();
    e.extend((0..(i % 13)).map(|j| (i.wrapping_mul(31) ^ j) as u8));
    e
}

#[test]
fn hll_commands_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r##"
        FLUSHALL
        PFADD h
        GET h
        OBJECT ENCODING h
        PFCOUNT h
        PFADD h
        PFADD h a b c d e f g
        PFADD h a
        GET h
        PFCOUNT h
        GET h
        OBJECT ENCODING h
        PFCOUNT nosuch
        EXISTS nosuch
        PFCOUNT h nosuch
        PFADD h2 x y z a
        PFCOUNT h h2
        PFCOUNT h2 h h2
        GET h2
        PFMERGE m h h2
        GET m
        PFCOUNT m
        PFMERGE m
        GET m
        PFMERGE empty
        GET empty
        PFMERGE h3 nosuch
        GET h3
        PFMERGE h h
        GET h
        SET str foo
        PFADD str a
        PFCOUNT str
        PFCOUNT h str
        PFMERGE m str
        PFMERGE str h
        SET int 123
        PFADD int a
        PFCOUNT int
        SET short HYLL
        PFCOUNT short
        SET dense "HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        PFCOUNT dense
        PFADD dense a
        SET enc "HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff"
        PFCOUNT enc
        SET ok "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff"
        PFCOUNT ok
        GET ok
        PFADD ok a
        GET ok
        SET bad "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe"
        PFCOUNT bad
        PFCOUNT bad h
        PFMERGE bad2 bad
        EXISTS bad2
        PFADD bad a b c
        SET bad "HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff\x00"
        PFCOUNT bad
        PFADD bad q
        LPUSH l a
        PFADD l a
        PFCOUNT l
        PFCOUNT h l
        PFMERGE l h
        PFMERGE m l
        PFADD th a
        EXPIRE th 100
        PFADD th b
        PFCOUNT th
        TTL th
        PFMERGE th h
        TTL th
        PFDEBUG DECODE bad
        PFDEBUG GETREG bad
        PFDEBUG ENCODING bad
        PFADD pd a b c
        PFDEBUG DECODE pd
        PFDEBUG ENCODING pd
        PFDEBUG GETREG pd
        PFDEBUG ENCODING pd
        PFDEBUG DECODE pd
        PFDEBUG TODENSE pd
        GET pd
        PFADD pd2 a
        PFDEBUG TODENSE pd2
        PFDEBUG TODENSE pd2
        GET pd2
        PFCOUNT pd2
        PFDEBUG FOO pd
        PFDEBUG FOO nosuch
        PFDEBUG DECODE nosuch
        PFDEBUG ENCODING str
        PFDEBUG ENCODING l
        PFDEBUG GETREG pd extra
        PFDEBUG
        EVAL_RO "return redis.call('pfcount', KEYS[1])" 1 pd
        EVAL "#!lua flags=no-writes\nreturn redis.call('pfcount', KEYS[1])" 1 pd
        EVAL "return redis.call('pfcount', KEYS[1])" 1 pd
        EVAL_RO "return redis.call('publish', 'ch', 'x')" 0
        PFADD
        PFCOUNT
        PFMERGE
        "##,
    );
    assert_same_replies(redis.port, rc.port, &s);
    assert_same_resp3_replies(redis.port, rc.port, &s);
}

/// The same PFADDs give the same bytes, sparse while small and dense after,
/// and PFCOUNT gives the same numbers all the way.
#[test]
fn hll_bytes_and_counts_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(rc.port));
    both(&mut a, &mut b, &[b"FLUSHALL"]);
    // One element at a time: every sparse edit compared.
    for i in 0..600u32 {
        let e = element(1, i);
        both(&mut a, &mut b, &[b"PFADD", b"one", &e]);
        if i % 7 == 0 {
            both(&mut a, &mut b, &[b"GET", b"one"]);
            both(&mut a, &mut b, &[b"PFCOUNT", b"one"]);
        }
    }
    // Batches up to well past the dense promotion.
    let mut n = 0u32;
    let mut batch = 1u32;
    while n < 60_000 {
        let elems: Vec<Vec<u8>> = (n..n + batch).map(|i| element(2, i)).collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", b"many"];
        args.extend(elems.iter().map(|e| e.as_slice()));
        both(&mut a, &mut b, &args);
        both(&mut a, &mut b, &[b"PFCOUNT", b"many"]);
        both(&mut a, &mut b, &[b"GET", b"many"]);
        both(&mut a, &mut b, &[b"PFCOUNT", b"many", b"one"]);
        n += batch;
        batch = (batch * 3 / 2).max(batch + 1);
    }
    let dense = bulk_payload(&both(&mut a, &mut b, &[b"GET", b"many"]));
    assert_eq!((dense.len(), dense[4]), (12304, 0), "dense by now");
    both(&mut a, &mut b, &[b"PFMERGE", b"merged", b"one", b"many"]);
    both(&mut a, &mut b, &[b"GET", b"merged"]);
    both(&mut a, &mut b, &[b"PFMERGE", b"sparse", b"one", b"nosuch"]);
    both(&mut a, &mut b, &[b"GET", b"sparse"]);
    both(&mut a, &mut b, &[b"PFCOUNT", b"merged"]);
    both(&mut a, &mut b, &[b"PFCOUNT", b"sparse"]);
    // A lower promotion threshold.
    both(
        &mut a,
        &mut b,
        &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", b"60"],
    );
    both(
        &mut a,
        &mut b,
        &[b"CONFIG", b"GET", b"hll-sparse-max-bytes"],
    );
    for i in 0..40u32 {
        let e = element(3, i);
        both(&mut a, &mut b, &[b"PFADD", b"small", &e]);
        both(&mut a, &mut b, &[b"GET", b"small"]);
    }
    both(&mut a, &mut b, &[b"PFMERGE", b"sparse2", b"one"]);
    both(&mut a, &mut b, &[b"GET", b"sparse2"]);
}

/// HLL strings written by one server are read and extended by the other.
#[test]
fn hll_strings_cross_between_servers() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(rc.port));
    for (from_redis, size) in [(true, 50u32), (true, 5000), (false, 50), (false, 5000)] {
        let (src, dst) = if from_redis {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let key = format!("x{size}");
        src.cmd(&[b"DEL", key.as_bytes()]);
        for chunk in (0..size).collect::<Vec<_>>().chunks(500) {
            let elems: Vec<Vec<u8>> = chunk.iter().map(|&i| element(4, i)).collect();
            let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
            args.extend(elems.iter().map(|e| e.as_slice()));
            src.cmd(&args);
        }
        let bytes = bulk_payload(&src.cmd(&[b"GET", key.as_bytes()]));
        let want = src.cmd(&[b"PFCOUNT", key.as_bytes()]);
        assert_eq!(dst.cmd(&[b"SET", key.as_bytes(), &bytes]), b"+OK\r\n");
        assert_eq!(dst.cmd(&[b"PFCOUNT", key.as_bytes()]), want, "{key}");
        // Now both hold the same bytes: everything after must agree.
        a.cmd(&[b"SET", key.as_bytes(), &bytes]);
        b.cmd(&[b"SET", key.as_bytes(), &bytes]);
        for i in 0..30u32 {
            let e = element(5, i * 97);
            both(&mut a, &mut b, &[b"PFADD", key.as_bytes(), &e]);
        }
        both(&mut a, &mut b, &[b"GET", key.as_bytes()]);
        both(&mut a, &mut b, &[b"PFCOUNT", key.as_bytes()]);
        both(&mut a, &mut b, &[b"GET", key.as_bytes()]);
    }
}

/// A small deterministic generator for the corruption test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Corrupted HLL payloads get Redis' errors (WRONGTYPE / INVALIDOBJ) or the
/// same results, and never hurt the node.
#[test]
fn corrupted_hlls_behave_like_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(rc.port));
    let mut originals = Vec::new();
    for size in [3u32, 40, 300, 3000] {
        let key = format!("orig{size}");
        for i in 0..size {
            let e = element(6, i);
            both(&mut a, &mut b, &[b"PFADD", key.as_bytes(), &e]);
        }
        originals.push(bulk_payload(&both(
            &mut a,
            &mut b,
            &[b"GET", key.as_bytes()],
        )));
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut corrupt_seen = 0;
    for round in 0..400 {
        let mut p = originals[round % originals.len()].clone();
        match rng.below(5) {
            0 => {
                let at = 16 + rng.below(p.len() - 16);
                p[at] ^= 1 << rng.below(8);
            }
            1 => {
                let at = 16 + rng.below(p.len() - 16);
                p[at] = rng.next() as u8;
            }
            2 => {
                // A cut that leaves the first byte of an XZERO last is left
                // out: Redis then reads past the string's end, see README.
                let cut = 16 + rng.below(p.len() - 16);
                if (0x40..0x80).contains(&p[cut - 1]) {
                    continue;
                }
                p.truncate(cut);
            }
            3 => {
                let extra = 1 + rng.below(4);
                p.extend((0..extra).map(|_| (rng.next() as u8) & 0x3f));
            }
            _ => {
                let at = 4 + rng.below(12);
                p[at] = rng.next() as u8;
            }
        }
        both(&mut a, &mut b, &[b"SET", b"c", &p]);
        let r = both(&mut a, &mut b, &[b"PFCOUNT", b"c"]);
        corrupt_seen += usize::from(r.starts_with(b"-INVALIDOBJ"));
        both(&mut a, &mut b, &[b"PFCOUNT", b"c", b"orig40"]);
        both(&mut a, &mut b, &[b"PFMERGE", b"dst", b"c"]);
        both(&mut a, &mut b, &[b"PFADD", b"c", b"x", b"y", b"z"]);
        both(&mut a, &mut b, &[b"PFCOUNT", b"c"]);
        both(&mut a, &mut b, &[b"GET", b"c"]);
        both(&mut a, &mut b, &[b"GET", b"dst"]);
    }
    assert!(
        corrupt_seen > 20,
        "the corruptions must reach INVALIDOBJ ({corrupt_seen})"
    );
    assert_alive(rc.port);
}

/// Which HLL commands invalidate a WATCH (PFCOUNT does when it caches).
#[test]
fn watch_sees_hll_writes_like_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let cases: &[&[&str]] = &[
        &["PFADD", "w", "a"],
        &["PFADD", "w", "new-element"],
        &["PFADD", "w"],
        &["PFCOUNT", "w"],
        &["PFCOUNT", "w", "nosuch"],
        &["PFMERGE", "w"],
        &["PFMERGE", "other", "w"],
    ];
    for case in cases {
        let mut outcomes = Vec::new();
        for port in [redis.port, rc.port] {
            let (mut watcher, mut other) = (RawConn::connect(port), RawConn::connect(port));
            watcher.cmd(&[b"DEL", b"w"]);
            watcher.cmd(&[b"PFADD", b"w", b"a", b"b"]);
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

/// In cluster mode several keys must share a slot; one key works anywhere.
#[test]
fn hll_in_cluster_mode() {
    let nodes = start_cluster(2, &[]);
    let mut c = RawConn::connect(nodes[0].port());
    let mut d = RawConn::connect(nodes[1].port());
    for i in 0..30 {
        let k = format!("hll:{i}");
        assert_eq!(
            c.cmd(&[b"PFADD", k.as_bytes(), b"a", b"b", b"c"]),
            b":1\r\n"
        );
        assert_eq!(d.cmd(&[b"PFCOUNT", k.as_bytes()]), b":3\r\n");
    }
    assert_eq!(
        d.cmd(&[b"PFCOUNT", b"hll:0", b"hll:1", b"hll:2"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(
        d.cmd(&[b"PFMERGE", b"hll:0", b"hll:1", b"hll:2"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    assert_eq!(c.cmd(&[b"PFADD", b"{u}a", b"1", b"2"]), b":1\r\n");
    assert_eq!(c.cmd(&[b"PFADD", b"{u}b", b"2", b"3", b"4"]), b":1\r\n");
    assert_eq!(d.cmd(&[b"PFCOUNT", b"{u}a", b"{u}b"]), b":4\r\n");
    assert_eq!(d.cmd(&[b"PFMERGE", b"{u}c", b"{u}a", b"{u}b"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"PFCOUNT", b"{u}c"]), b":4\r\n");
}
