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
