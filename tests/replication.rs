//! Standalone replication (`REPLICAOF`): full and partial resync, the
//! deterministic stream (absolute expiry, SPOP and INCRBYFLOAT effects,
//! MULTI/EXEC, scripts, FLUSH, memcached writes), expiry decided by the
//! primary, read-only replicas, WAIT, ROLE and INFO replication, checked on
//! real processes and against a redis-server pair where the replies are
//! Redis'.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};

/// Makes `replica` a replica of `primary` and waits until its link is up.
fn attach(replica: u16, primary: u16) {
    let mut r = RawConn::connect(replica);
    assert_eq!(
        r.cmd_str(&format!("REPLICAOF 127.0.0.1 {primary}")),
        "+OK\r\n"
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            info_field(replica, "replication", "master_link_status").as_deref() == Some("up")
        }),
        "replica link did not come up"
    );
}

/// Waits until the replica acknowledged everything `c` wrote.
fn synced(c: &mut RawConn) {
    assert_eq!(c.cmd_str("WAIT 1 10000"), ":1\r\n", "replica did not ack");
}

/// A logical digest of database `db`: every key with its type, content
/// (order-insensitive where Redis' is) and absolute expiry.
fn digest(port: u16, db: usize) -> Vec<(Vec<u8>, Tree, Vec<u8>)> {
    let mut c = RawConn::connect(port);
    c.cmd_str(&format!("SELECT {db}"));
    let keys = c.cmd(&[b"KEYS", b"*"]);
    let Tree::Agg(_, keys) = parse_tree(&keys, &mut 0) else {
        panic!("KEYS reply")
    };
    let mut out = Vec::new();
    for k in keys {
        let Tree::Leaf(raw) = k else { continue };
        let key = bulk_body(&raw);
        let ty = c.cmd(&[b"TYPE", &key]);
        let content = match &ty[..] {
            b"+string\r\n" => c.cmd(&[b"GET", &key]),
            b"+hash\r\n" => c.cmd(&[b"HGETALL", &key]),
            b"+list\r\n" => c.cmd(&[b"LRANGE", &key, b"0", b"-1"]),
            b"+set\r\n" => c.cmd(&[b"SMEMBERS", &key]),
            b"+zset\r\n" => c.cmd(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]),
            b"+stream\r\n" => c.cmd(&[b"XRANGE", &key, b"-", b"+"]),
            // Expired between KEYS and TYPE.
            b"+none\r\n" => continue,
            other => panic!("type {:?}", String::from_utf8_lossy(other)),
        };
        let content = sorted(parse_tree(&content, &mut 0));
        let at = c.cmd(&[b"PEXPIRETIME", &key]);
        out.push((key, content, at));
    }
    out.sort();
    out
}

fn bulk_body(raw: &[u8]) -> Vec<u8> {
    let start = raw.windows(2).position(|w| w == b"\r\n").expect("crlf") + 2;
    raw[start..raw.len() - 2].to_vec()
}

fn assert_same_data(primary: u16, replica: u16, dbs: usize) {
    for db in 0..dbs {
        let (p, r) = (digest(primary, db), digest(replica, db));
        let names = |d: &[(Vec<u8>, Tree, Vec<u8>)]| -> Vec<String> {
            d.iter()
                .map(|e| String::from_utf8_lossy(&e.0).into_owned())
                .collect()
        };
        let (pn, rn) = (names(&p), names(&r));
        let only_p: Vec<&String> = pn.iter().filter(|k| !rn.contains(k)).collect();
        let only_r: Vec<&String> = rn.iter().filter(|k| !pn.contains(k)).collect();
        assert!(
            only_p.is_empty() && only_r.is_empty(),
            "db {db}: keys only on the primary {only_p:?}, only on the replica {only_r:?}"
        );
        assert_eq!(p, r, "db {db} differs");
    }
}

fn int_reply(s: &str) -> i64 {
    s.trim_start_matches(':').trim().parse().expect("int")
}

/// Data written before REPLICAOF arrives by the snapshot, later writes by
/// the stream: every type, several databases, with their expiry times.
#[test]
fn snapshot_then_stream_carry_every_type() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    let mut c = RawConn::connect(p.port);
    for line in [
        "SET s1 v1",
        "SET ttl v PX 500000",
        "HSET h a 1 b 2",
        "RPUSH l a b c",
        "SADD set 1 2 3",
        "ZADD z 1 a 2 b",
        "XADD x 1-1 f v",
        "SELECT 3",
        "SET in3 yes",
        "SELECT 0",
    ] {
        assert!(!c.cmd_str(line).starts_with('-'), "{line}");
    }
    attach(r.port, p.port);
    for line in [
        "SET s2 v2 EX 1000",
        "SETEX s3 1000 v3",
        "EXPIRE s1 5000",
        "HSET h c 3",
        "HINCRBYFLOAT h a 0.5",
        "LPUSH l z",
        "SADD set 4 5 6 7 8",
        "SPOP set 2",
        "SRANDMEMBER set",
        "INCRBYFLOAT f 1.1",
        "INCRBYFLOAT f 2.25",
        "ZINCRBY z 5 a",
        "XADD x * f2 v2",
        "XADD x MAXLEN 1 * f3 v3",
        "SELECT 3",
        "RPUSH l3 1 2",
        "GETEX in3 PX 900000",
        "SELECT 0",
        "PERSIST ttl",
    ] {
        assert!(!c.cmd_str(line).starts_with('-'), "{line}");
    }
    synced(&mut c);
    assert_same_data(p.port, r.port, 4);
    // Absolute expiry: both sides keep the same deadline.
    let at = int_reply(&c.cmd_str("PEXPIRETIME s2"));
    assert!(at > 0);
}

/// MULTI/EXEC and scripts arrive as one unit with their effects, including
/// a script's random picks and its writes to several keys.
#[test]
fn transactions_and_scripts_replicate_their_effects() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SADD pool a b c d e f g h");
    c.cmd_str("MULTI");
    c.cmd_str("SET t1 1");
    c.cmd_str("INCR t1");
    c.cmd_str("SPOP pool");
    c.cmd_str("EXPIRE t1 100");
    assert!(c.cmd_str("EXEC").starts_with("*4"));
    let script = "local m = redis.call('SPOP', KEYS[1]); redis.call('SET', KEYS[2], m); redis.call('INCRBYFLOAT', KEYS[3], '0.1'); return m";
    for _ in 0..3 {
        let r = c.cmd(&[b"EVAL", script.as_bytes(), b"3", b"pool", b"last", b"fl"]);
        assert!(r.starts_with(b"$"), "{}", String::from_utf8_lossy(&r));
    }
    synced(&mut c);
    assert_same_data(p.port, r.port, 1);
    assert_eq!(
        int_reply(&RawConn::connect(r.port).cmd_str("SCARD pool")),
        4
    );
}

/// FLUSHDB and FLUSHALL reach the replica.
#[test]
fn flushes_replicate() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SET a 1");
    c.cmd_str("SELECT 1");
    c.cmd_str("SET b 1");
    c.cmd_str("FLUSHDB");
    c.cmd_str("SELECT 0");
    synced(&mut c);
    let mut rc = RawConn::connect(r.port);
    assert_eq!(rc.cmd_str("DBSIZE"), ":1\r\n");
    c.cmd_str("FLUSHALL");
    synced(&mut c);
    assert_eq!(rc.cmd_str("DBSIZE"), ":0\r\n");
}

/// A replica does not expire keys on its own: it hides them from reads
/// once their time passed, and they go when the primary's DEL arrives.
#[test]
fn expiry_is_decided_by_the_primary() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 0");
    c.cmd_str("SET k v PX 200");
    synced(&mut c);
    let mut rc = RawConn::connect(r.port);
    assert_eq!(rc.cmd_str("GET k"), "$1\r\nv\r\n");
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rc.cmd_str("GET k"), "$-1\r\n", "reads hide an expired key");
    assert_eq!(rc.cmd_str("DBSIZE"), ":1\r\n", "the replica keeps it");
    // The primary's lazy expiry removes it and sends the DEL.
    assert_eq!(c.cmd_str("GET k"), "$-1\r\n");
    synced(&mut c);
    assert_eq!(rc.cmd_str("DBSIZE"), ":0\r\n");
    // Active expiry on the primary does the same.
    c.cmd_str("DEBUG SET-ACTIVE-EXPIRE 1");
    c.cmd_str("SET k2 v PX 50");
    assert!(eventually(Duration::from_secs(5), || rc.cmd_str("DBSIZE")
        == ":0\r\n"
        && c.cmd_str("DBSIZE") == ":0\r\n"));
}

/// A read-only replica refuses writes with Redis' exact error, also inside
/// MULTI (EXECABORT), and REPLICAOF NO ONE makes it writable with its data.
#[test]
fn replica_is_read_only_until_promoted() {
    let redis_p = require_redis(&["--repl-diskless-sync-delay", "0"]);
    let redis_r = require_redis(&[]);
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    RawConn::connect(redis_r.port).cmd_str(&format!("REPLICAOF 127.0.0.1 {}", redis_p.port));
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SET kept 1");
    synced(&mut c);
    let mut script = script(
        "SET x 1\nGET kept\nMULTI\nSET x 1\nEXEC\nDEL kept\nREPLICAOF 127.0.0.1 notaport\nWAIT 1 10",
    );
    // Scripts' writes are refused too (the error names the script).
    for body in ["redis.call('SET','x','1')", "redis.pcall('SET','x','1')"] {
        script.push(vec![
            b"EVAL".to_vec(),
            format!("return {body}").into_bytes(),
            b"0".to_vec(),
        ]);
    }
    let mut a = RawConn::connect(redis_r.port);
    let mut b = RawConn::connect(r.port);
    a.cmd_str("SET kept 1"); // refused on Redis too; keeps the GET comparable
    RawConn::connect(redis_p.port).cmd_str("SET kept 1");
    assert!(eventually(Duration::from_secs(15), || a
        .cmd_str("GET kept")
        == "$1\r\n1\r\n"));
    assert_same_on(&mut a, &mut b, &script);
    assert_eq!(
        b.cmd_str("SET x 1"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(b.cmd_str("REPLICAOF NO ONE"), "+OK\r\n");
    assert_eq!(b.cmd_str("SET x 1"), "+OK\r\n");
    assert_eq!(b.cmd_str("GET kept"), "$1\r\n1\r\n");
    assert_eq!(
        info_field(r.port, "replication", "role").as_deref(),
        Some("master")
    );
}

/// REPLICAOF is refused in cluster mode with Redis' error.
#[test]
fn replicaof_refused_in_cluster_mode() {
    let n = start_ringcache(&["--cluster-enabled", "yes"]);
    assert_eq!(
        RawConn::connect(n.port).cmd_str("REPLICAOF 127.0.0.1 6379"),
        "-ERR REPLICAOF not allowed in cluster mode.\r\n"
    );
}

/// WAIT: 0 replicas asked answers at once, no replica times out with 0,
/// an attached replica acknowledges writes.
#[test]
fn wait_counts_acknowledging_replicas() {
    let p = start_ringcache(&[]);
    let mut c = RawConn::connect(p.port);
    assert_eq!(c.cmd_str("WAIT 0 0"), ":0\r\n");
    c.cmd_str("SET a 1");
    let t = Instant::now();
    assert_eq!(c.cmd_str("WAIT 1 200"), ":0\r\n");
    assert!(t.elapsed() >= Duration::from_millis(190));
    assert_eq!(c.cmd_str("WAIT 1 -1"), "-ERR timeout is negative\r\n");
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    c.cmd_str("SET a 2");
    assert_eq!(c.cmd_str("WAIT 1 0"), ":1\r\n");
    assert_eq!(c.cmd_str("WAIT 2 100"), ":1\r\n");
    // Another client is served while one blocks in WAIT.
    let mut blocked = RawConn::connect(p.port);
    blocked.send_raw(&encode(&[b"WAIT", b"2", b"0"]));
    assert_eq!(RawConn::connect(p.port).cmd_str("PING"), "+PONG\r\n");
    assert_eq!(
        RawConn::connect(r.port).cmd_str("WAIT 1 0"),
        "-ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.\r\n"
    );
}

/// ROLE and INFO replication have Redis' shapes and field names on both
/// sides of a link.
#[test]
fn role_and_info_match_redis() {
    let redis_p = require_redis(&["--repl-diskless-sync-delay", "0"]);
    let redis_r = require_redis(&[]);
    RawConn::connect(redis_r.port).cmd_str(&format!("REPLICAOF 127.0.0.1 {}", redis_p.port));
    assert!(eventually(Duration::from_secs(10), || {
        info_field(redis_r.port, "replication", "master_link_status").as_deref() == Some("up")
    }));
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    for (a, b) in [(redis_p.port, p.port), (redis_r.port, r.port)] {
        let fields = |port| {
            parse_info(&redis_cli(port, &["INFO", "replication"]))
                .into_iter()
                .map(|(_, k, _)| k)
                .collect::<Vec<_>>()
        };
        let mine = fields(b);
        let want: Vec<String> = fields(a)
            .into_iter()
            .filter(|k| !k.starts_with("slave_read_repl") || mine.contains(k))
            .collect();
        assert_eq!(mine, want);
        let role = |port| shape(&parse_tree(&RawConn::connect(port).cmd(&[b"ROLE"]), &mut 0));
        assert_eq!(role(a), role(b));
    }
    let role = RawConn::connect(r.port).cmd(&[b"ROLE"]);
    let text = String::from_utf8_lossy(&role);
    assert!(
        text.starts_with("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n"),
        "{text}"
    );
    assert!(text.contains("connected"), "{text}");
    let role = String::from_utf8_lossy(&RawConn::connect(p.port).cmd(&[b"ROLE"])).into_owned();
    assert!(role.starts_with("*3\r\n$6\r\nmaster\r\n"), "{role}");
    assert!(role.contains(&format!("$5\r\n{}\r\n", r.port)), "{role}");
}

/// A replica whose link was cut continues from the backlog (+CONTINUE); one
/// that fell behind the backlog gets a full resync; data matches after both.
#[test]
fn partial_resync_within_backlog_full_beyond_it() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("CONFIG SET repl-backlog-size 16384");
    attach(r.port, p.port);
    c.cmd_str("SET a 1");
    synced(&mut c);
    assert_eq!(
        info_field(p.port, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_eq!(c.cmd_str("CLIENT KILL TYPE replica"), ":1\r\n");
    c.cmd_str("SET b 2");
    synced(&mut c);
    assert_eq!(
        info_field(p.port, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(p.port, "stats", "sync_full").as_deref(),
        Some("1")
    );
    // Stop the replica, write more than the backlog holds, cut the link.
    let pid = r.child.id().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
    };
    signal("-STOP");
    let big = "x".repeat(1000);
    for i in 0..100 {
        c.cmd_str(&format!("SET big{i} {big}"));
    }
    c.cmd_str("CLIENT KILL TYPE replica");
    signal("-CONT");
    synced(&mut c);
    assert_eq!(
        info_field(p.port, "stats", "sync_full").as_deref(),
        Some("2")
    );
    assert_same_data(p.port, r.port, 1);
}

/// Differential check: after a randomized concurrent write load over
/// several databases, the replica holds exactly the primary's data.
#[test]
fn random_concurrent_load_leaves_identical_data() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let port = p.port;
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w);
                let mut c = RawConn::connect(port);
                for _ in 0..1500 {
                    let db = rng.random_range(0..3);
                    let k = format!("k{}", rng.random_range(0..60));
                    let n = rng.random_range(0..1000).to_string();
                    let line = match rng.random_range(0..14) {
                        0 => format!("SET {k} {n}"),
                        1 => format!("SET {k} {n} PX {}", rng.random_range(1..300)),
                        2 => format!("RPUSH l{k} {n}"),
                        3 => format!("SADD s{k} {n} a b"),
                        4 => format!("SPOP s{k}"),
                        5 => format!("INCRBYFLOAT f{k} 0.{n}"),
                        6 => format!("HSET h{k} {n} {n}"),
                        7 => format!("ZADD z{k} {n} m{n}"),
                        8 => format!("EXPIRE l{k} {}", rng.random_range(1..3)),
                        9 => format!("DEL {k}"),
                        10 => format!("LPOP l{k}"),
                        11 => format!("XADD x{k} MAXLEN 5 * f {n}"),
                        12 => format!("EVAL return|redis.call('SPOP',KEYS[1]) 1 s{k}"),
                        _ => format!("GETDEL {k}"),
                    };
                    c.cmd_str(&format!("SELECT {db}"));
                    // `|` stands for a space inside one argument.
                    let parts: Vec<String> = line.split(' ').map(|s| s.replace('|', " ")).collect();
                    let parts: Vec<&[u8]> = parts.iter().map(|s| s.as_bytes()).collect();
                    c.cmd(&parts);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut c = RawConn::connect(p.port);
    // Let every TTL of the load (2 s at most) pass, so that no key expires
    // between the two digests, and the primary's expiry reach the replica.
    std::thread::sleep(Duration::from_millis(2300));
    for db in 0..3 {
        c.cmd_str(&format!("SELECT {db}"));
        c.cmd(&[b"KEYS", b"*"]);
    }
    c.cmd_str("SET fence 1");
    synced(&mut c);
    assert_same_data(p.port, r.port, 3);
}

/// memcached writes reach the replica with their flags and expiry.
#[test]
fn memcached_writes_replicate() {
    let pm = free_port();
    let rm = free_port();
    let pms = pm.to_string();
    let rms = rm.to_string();
    let p = start_ringcache(&["--memcached-port", &pms]);
    let r = start_ringcache(&["--memcached-port", &rms]);
    wait_memcached(pm);
    wait_memcached(rm);
    attach(r.port, p.port);
    let mut m = Mc::connect(pm);
    assert_eq!(m.step(b"set mk 42 1000 3\r\nabc\r\n"), b"STORED\r\n");
    assert_eq!(m.step(b"incr nope 1\r\n"), b"NOT_FOUND\r\n");
    assert_eq!(m.step(b"set n 0 0 1\r\n5\r\n"), b"STORED\r\n");
    assert_eq!(m.step(b"incr n 3\r\n"), b"8\r\n");
    // WAIT covers this client's writes: a RESP write after the memcached
    // ones (same stream, in order) is the fence.
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SET fence 1");
    synced(&mut c);
    let mut rm_conn = Mc::connect(rm);
    assert_eq!(
        rm_conn.step(b"get mk n\r\n"),
        b"VALUE mk 42 3\r\nabc\r\nVALUE n 0 1\r\n8\r\nEND\r\n"
    );
    assert_same_data(p.port, r.port, 1);
    assert_eq!(
        rm_conn.step(b"set mk 0 0 1\r\nx\r\n"),
        b"SERVER_ERROR READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(m.step(b"flush_all\r\n"), b"OK\r\n");
    c.cmd_str("SET fence 2");
    synced(&mut c);
    assert_eq!(rm_conn.step(b"get mk\r\n"), b"END\r\n");
}

/// Relative TTLs, random picks and float results travel as Redis rewrites
/// them (seen in the replica's MONITOR): absolute PXAT/PEXPIREAT, SPOP as
/// SREM of its picks, INCRBYFLOAT as SET KEEPTTL; deterministic commands as
/// executed.
#[test]
fn stream_rewrites_relative_and_float_commands() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut mon = RawConn::connect(r.port);
    assert_eq!(mon.cmd_str("MONITOR"), "+OK\r\n");
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SET k v EX 100");
    let at = c.cmd_str("PEXPIRETIME k");
    let at = at.trim_start_matches(':').trim();
    c.cmd_str("INCRBYFLOAT f 1.5");
    c.cmd_str("EXPIRE f 50");
    c.cmd_str("SADD s m1 m2 m3");
    let picked = c.cmd_str("SPOP s");
    let picked = picked.split("\r\n").nth(1).unwrap_or_default().to_string();
    c.cmd_str("RPUSH l a b");
    synced(&mut c);
    let mut lines = Vec::new();
    while !lines.last().is_some_and(|l: &String| l.contains("RPUSH")) {
        lines.push(String::from_utf8_lossy(&mon.read_reply()).into_owned());
    }
    let find = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        find(&format!("\"SET\" \"k\" \"v\" \"PXAT\" \"{at}\"")),
        "{lines:?}"
    );
    assert!(find("\"SET\" \"f\" \"1.5\" \"KEEPTTL\""), "{lines:?}");
    assert!(find("\"PEXPIREAT\" \"f\""), "{lines:?}");
    assert!(find(&format!("\"SREM\" \"s\" \"{picked}\"")), "{lines:?}");
    assert!(find("\"RPUSH\" \"l\" \"a\" \"b\""), "{lines:?}");
}

/// The replica reconnects with backoff when its primary dies, and a new
/// primary on the same address (with other data) gives it a full sync.
#[test]
fn replica_reconnects_after_primary_restart() {
    let port = free_port();
    let p = start_ringcache_on(port, &[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("SET old 1");
    synced(&mut c);
    drop(c);
    drop(p);
    assert!(eventually(Duration::from_secs(5), || {
        info_field(r.port, "replication", "master_link_status").as_deref() == Some("down")
    }));
    let mut rc = RawConn::connect(r.port);
    assert_eq!(rc.cmd_str("GET old"), "$1\r\n1\r\n", "data kept while down");
    let p2 = start_ringcache_on(port, &[]);
    let mut c = RawConn::connect(p2.port);
    c.cmd_str("SET new 2");
    assert!(eventually(Duration::from_secs(10), || {
        rc.cmd_str("GET new") == "$1\r\n2\r\n"
    }));
    assert_eq!(
        rc.cmd_str("GET old"),
        "$-1\r\n",
        "old data dropped on full sync"
    );
}

/// A primary with `requirepass` takes a replica that has `masterauth`.
#[test]
fn replica_authenticates_with_masterauth() {
    let p = start_ringcache(&["--requirepass", "sekret"]);
    let r = start_ringcache(&[]);
    let mut rc = RawConn::connect(r.port);
    assert_eq!(rc.cmd_str("CONFIG SET masterauth sekret"), "+OK\r\n");
    attach(r.port, p.port);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("AUTH sekret");
    c.cmd_str("SET k v");
    synced(&mut c);
    assert_eq!(rc.cmd_str("GET k"), "$1\r\nv\r\n");
}

/// An idle primary PINGs its replicas every `repl-ping-replica-period`
/// through the stream: their offset moves with no write.
#[test]
fn idle_primary_pings_through_the_stream() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    RawConn::connect(p.port).cmd_str("CONFIG SET repl-ping-replica-period 1");
    attach(r.port, p.port);
    let offset = || {
        info_field(r.port, "replication", "slave_repl_offset")
            .and_then(|o| o.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = offset();
    assert!(eventually(Duration::from_secs(5), || offset() >= before + 14 * 2));
    assert_eq!(RawConn::connect(r.port).cmd_str("DBSIZE"), ":0\r\n");
}

/// A replica that stops reading is dropped once the stream outgrows its
/// `client-output-buffer-limit replica` hard limit (the primary keeps no
/// more than its backlog for it), and comes back with a full resync.
#[test]
fn stalled_replica_dropped_at_output_limit() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    let mut c = RawConn::connect(p.port);
    c.cmd_str("CONFIG SET repl-backlog-size 8mb");
    assert_eq!(
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"replica 1mb 0 0"
        ]),
        b"+OK\r\n"
    );
    attach(r.port, p.port);
    let pid = r.child.id().to_string();
    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill");
    };
    signal("-STOP");
    let big = vec![b'x'; 100_000];
    for i in 0..150 {
        c.cmd(&[b"SET", format!("big{i}").as_bytes(), &big]);
    }
    let dropped = eventually(Duration::from_secs(10), || {
        info_field(p.port, "replication", "connected_slaves").as_deref() == Some("0")
    });
    signal("-CONT");
    assert!(dropped, "the stalled replica was not dropped");
    assert_eq!(
        info_field(p.port, "stats", "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
    synced(&mut c);
    assert_eq!(
        info_field(p.port, "stats", "sync_full").as_deref(),
        Some("2")
    );
    assert_eq!(RawConn::connect(r.port).cmd_str("DBSIZE"), ":150\r\n");
}

/// With a replica attached, a busy script can still be killed (the
/// commands allowed beside it do not wait for the stream's order).
#[test]
fn script_kill_works_with_a_replica() {
    let p = start_ringcache(&[]);
    let r = start_ringcache(&[]);
    attach(r.port, p.port);
    let mut admin = RawConn::connect(p.port);
    admin.cmd_str("CONFIG SET busy-reply-threshold 100");
    let mut runner = RawConn::connect(p.port);
    runner.send_raw(&encode(&[
        b"EVAL",
        b"local i = 0 while true do i = i + 1 end",
        b"0",
    ]));
    std::thread::sleep(Duration::from_millis(500));
    assert!(admin.cmd_str("GET x").starts_with("-BUSY"));
    assert_eq!(admin.cmd_str("SCRIPT KILL"), "+OK\r\n");
    assert!(String::from_utf8_lossy(&runner.read_reply()).starts_with("-ERR Script killed"));
    admin.cmd_str("SET after 1");
    synced(&mut admin);
    assert_eq!(RawConn::connect(r.port).cmd_str("GET after"), "$1\r\n1\r\n");
}
