//! Key expiry: lazy on access, active in the background (and switchable with
//! DEBUG SET-ACTIVE-EXPIRE), millisecond precision, and Redis' TTL semantics.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn dbsize(c: &mut RawConn) -> i64 {
    c.cmd_str("DBSIZE")
        .trim_start_matches(':')
        .trim()
        .parse()
        .expect("int")
}

/// Writes `n` keys with a short PX in one pipeline.
fn load_short_lived(c: &mut RawConn, prefix: &str, n: usize, px: u64) {
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend(encode(&[
            b"SET",
            format!("{prefix}{i}").as_bytes(),
            b"v",
            b"PX",
            px.to_string().as_bytes(),
        ]));
    }
    c.send_raw(&batch);
    for _ in 0..n {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
}

#[test]
fn active_expiry_removes_keys_without_access() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    load_short_lived(&mut c, "short:", 5000, 100);
    assert_eq!(c.cmd_str("SET persistent v"), "+OK\r\n");
    assert!(dbsize(&mut c) > 1000);
    assert!(
        eventually(Duration::from_millis(2500), || dbsize(&mut c) == 1),
        "active expiry left {} keys",
        dbsize(&mut c)
    );
    let keyspace = redis_cli(rc.port, &["INFO", "keyspace"]);
    assert!(keyspace.contains("db0:keys=1,expires=0,"), "{keyspace}");
    let expired: u64 = info_field(rc.port, "stats", "expired_keys")
        .expect("field")
        .parse()
        .expect("int");
    assert_eq!(expired, 5000);
}

#[test]
fn debug_set_active_expire_0_stops_active_expiry() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    assert_eq!(c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0"), "+OK\r\n");
    load_short_lived(&mut c, "k", 1000, 50);
    std::thread::sleep(Duration::from_millis(500));
    // Nothing touched the keys, so they are all still counted.
    assert_eq!(dbsize(&mut c), 1000);
    // Lazy expiry still applies on access.
    assert_eq!(c.cmd_str("GET k1"), "$-1\r\n");
    assert_eq!(c.cmd_str("EXISTS k2 k3"), ":0\r\n");
    assert_eq!(dbsize(&mut c), 997);
    assert_eq!(c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 1"), "+OK\r\n");
    assert!(eventually(Duration::from_millis(1500), || dbsize(&mut c) == 0));
}

#[test]
fn millisecond_precision() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    assert_eq!(c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0"), "+OK\r\n");
    // Timing is judged from the client's clock around each request so a
    // loaded machine can skip a check but never fail a correct server.
    let mut alive_checked = 0;
    for _ in 0..10 {
        let t0 = Instant::now();
        assert_eq!(c.cmd_str("SET p v PX 150"), "+OK\r\n");
        let set_done = Instant::now();
        let pttl: i64 = c
            .cmd_str("PTTL p")
            .trim_start_matches(':')
            .trim()
            .parse()
            .expect("int");
        let floor = 150 - t0.elapsed().as_millis() as i64;
        assert!(pttl <= 150 && pttl >= floor.min(149), "{pttl}");
        std::thread::sleep(Duration::from_millis(80));
        let got = c.cmd_str("GET p");
        if t0.elapsed() < Duration::from_millis(148) {
            assert_eq!(got, "$1\r\nv\r\n", "expired too early");
            alive_checked += 1;
        }
        let deadline = set_done + Duration::from_millis(152);
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
        assert_eq!(c.cmd_str("GET p"), "$-1\r\n", "expired too late");
    }
    assert!(alive_checked >= 3, "machine too loaded to check precision");
    // PEXPIREAT with an absolute millisecond time round-trips exactly.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let at = now_ms + 100_123;
    c.cmd_str("SET q v");
    assert_eq!(c.cmd_str(&format!("PEXPIREAT q {at}")), ":1\r\n");
    assert_eq!(c.cmd_str("PEXPIRETIME q"), format!(":{at}\r\n"));
    assert_eq!(
        c.cmd_str("EXPIRETIME q"),
        format!(":{}\r\n", (at + 500) / 1000)
    );
}

#[test]
fn ttl_semantics_match_redis() {
    let redis = require_redis(&["--enable-debug-command", "yes"]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        FLUSHALL
        TTL nosuch
        PTTL nosuch
        EXPIRETIME nosuch
        SET k v
        TTL k
        PTTL k
        EXPIRETIME k
        PEXPIRETIME k
        EXPIRE k 100
        TTL k
        EXPIRE k 100 NX
        EXPIRE k 200 XX
        TTL k
        EXPIRE k 50 GT
        EXPIRE k 500 GT
        TTL k
        EXPIRE k 1000 LT
        EXPIRE k 10 LT
        TTL k
        EXPIRE k 10 NX XX
        EXPIRE k 10 GT LT
        EXPIRE k 10 FOO
        EXPIRE k abc
        EXPIRE k 9223372036854775807
        PEXPIRE k 9223372036854775807
        EXPIRE k -9223372036854775808
        PEXPIREAT k 9223372036854775807
        EXPIREAT k 9223372036854775
        PERSIST k
        PERSIST k
        TTL k
        EXPIRE k 100 XX
        EXPIRE k 100 LT
        EXPIRE k 99 GT
        EXPIRE k 101 GT
        EXPIRE nosuch 100
        SET k v EX 100
        SET k v2 KEEPTTL
        TTL k
        SET k v3
        TTL k
        SET k v EX 100
        APPEND k x
        TTL k
        INCR n
        EXPIRE n 100
        INCR n
        TTL n
        GETSET n 5
        TTL n
        SET k v EX 100
        RENAME k k2
        TTL k2
        EXPIRE k2 0
        EXISTS k2
        SET k v
        EXPIRE k -1
        EXISTS k
        SET k v
        PEXPIREAT k 1
        EXISTS k
        SET k v
        EXPIREAT k 100
        GET k
        SETEX k 100 v
        TTL k
        PSETEX k 100000 v
        TTL k
        SET k v EXAT 1
        GET k
        SET k v PXAT 1
        GET k
        GETEX k PX 100000
        SET k v
        GETEX k PXAT 99999999999999
        PEXPIRETIME k
        GETEX k EXAT 99999999999
        EXPIRETIME k
        COPY k k3
        PEXPIRETIME k3
        DEBUG SET-ACTIVE-EXPIRE x
        DEBUG SET-ACTIVE-EXPIRE 1
        DEBUG SLEEP x
        DEBUG SLEEP 0.01abc
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// INFO keyspace's avg_ttl estimates the remaining TTL of volatile keys (ms).
#[test]
fn info_keyspace_avg_ttl() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    assert_eq!(c.cmd_str("SET plain v"), "+OK\r\n");
    let keyspace = redis_cli(rc.port, &["INFO", "keyspace"]);
    assert!(
        keyspace.contains("db0:keys=1,expires=0,avg_ttl=0"),
        "{keyspace}"
    );
    for i in 0..200 {
        c.cmd_str(&format!("SET k{i} v EX 1000"));
    }
    c.cmd_str("SET short v EX 100");
    let field = info_field(rc.port, "keyspace", "db0").expect("db0");
    let avg: u64 = field
        .rsplit("avg_ttl=")
        .next()
        .and_then(|v| v.trim().parse().ok())
        .expect("avg_ttl");
    assert!(field.starts_with("keys=202,expires=201,"), "{field}");
    assert!((900_000..=1_000_000).contains(&avg), "{field}");
}
