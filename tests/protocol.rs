//! RESP2/RESP3, inline commands, pipelining, protocol errors and Redis'
//! disconnect behaviour, differential against a real redis-server.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

/// Sends each raw input to both servers on fresh connections and requires the
/// same bytes back and the same decision to close the connection.
fn assert_same_raw(redis: u16, rc: u16, cases: &[&[u8]]) {
    for &case in cases {
        let quiet = Duration::from_millis(250);
        let (ra, ca) = exchange(redis, case, quiet);
        let (rb, cb) = exchange(rc, case, quiet);
        assert_eq!(
            String::from_utf8_lossy(&rb),
            String::from_utf8_lossy(&ra),
            "reply differs for input {:?}",
            String::from_utf8_lossy(case)
        );
        assert_eq!(
            cb,
            ca,
            "close behaviour differs for input {:?} (redis closed: {ca})",
            String::from_utf8_lossy(case)
        );
        assert_alive(rc);
    }
}

#[test]
fn protocol_errors_and_disconnects_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let big_inline = vec![b'a'; 70 * 1024];
    let mut big_count = b"*".to_vec();
    big_count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    let mut big_bulk_count = b"*1\r\n$".to_vec();
    big_bulk_count.extend(std::iter::repeat_n(b'1', 70 * 1024));
    let cases: Vec<&[u8]> = vec![
        b"*1\r\n+PING\r\n",
        b"*2\r\n$3\r\nGET\r\n:1\r\n",
        b"*-1\r\nPING\r\n",
        b"*0\r\nPING\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$-5\r\nPING\r\n",
        b"*x\r\n",
        b"*1x\r\n$4\r\nPING\r\n",
        b"*+1\r\n$4\r\nPING\r\n",
        b"*3000000000\r\n",
        b"*1\r\n$600000000\r\n",
        b"*1\r\n$99999999999999999999999\r\n",
        b"*1\r\n$04\r\nPING\r\n",
        b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
        b"*1\r\n$4\r\nPING",
        b"*2\r\n$4\r\nECHO\r\n$5\r\nhel",
        b"*1\r\n$0\r\n\r\n",
        b"*1\r\n$4\r\nECHO\r\n",
        b"\r\nPING\r\n",
        b"\n\n\nPING\n",
        b"   \r\nPING\r\n",
        b"PING\n",
        b"ECHO \"a b\\x41\\n\\t\"\r\n",
        b"ECHO 'it\\'s'\r\n",
        b"ECHO \"\"\r\n",
        b"ECHO \"unbalanced\r\nPING\r\n",
        b"ECHO 'unbalanced\r\n",
        b"ECHO \"a\"b\r\n",
        b"ECHO 'a'b\r\n",
        b"SET \"\\xzz\" v\r\nGET \"\\xzz\"\r\n",
        b"\x00\x01\x02\xff\xfe\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"GET\r\nGET a b\r\nNOSUCH arg1 arg2\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        &big_inline,
        &big_count,
        &big_bulk_count,
    ];
    assert_same_raw(redis.port, rc.port, &cases);
}

#[test]
fn unauthenticated_length_limits_match_redis() {
    let redis = require_redis(&["--requirepass", "pw"]);
    let rc = start_ringcache(&["--requirepass", "pw"]);
    let mut big_arg = b"*2\r\n$4\r\nECHO\r\n$20000\r\n".to_vec();
    big_arg.extend(std::iter::repeat_n(b'x', 20000));
    big_arg.extend_from_slice(b"\r\n");
    let cases: Vec<&[u8]> = vec![
        b"*11\r\n",
        b"*10\r\n",
        &big_arg,
        b"PING\r\n",
        b"AUTH wrong\r\n",
        b"AUTH default pw\r\nPING\r\n",
    ];
    assert_same_raw(redis.port, rc.port, &cases);
}

#[test]
fn resp3_and_hello_match_redis() {
    let redis = require_redis(&["--requirepass", "pw"]);
    let rc = start_ringcache(&["--requirepass", "pw"]);
    let s = script(
        r#"
        HELLO 4
        HELLO 1
        HELLO abc
        HELLO 3
        HELLO 3 AUTH default wrong
        HELLO 3 AUTH default
        HELLO 3 SETNAME
        AUTH pw
        HELLO 3 SETNAME "bad name"
        HELLO 2 FOO
        FLUSHALL
        GET missing
        SET k v
        MGET k missing
        SET k v NX
        SET k v NX GET
        CONFIG GET maxmemory-policy
        SCAN 0 COUNT 100000
        INCRBYFLOAT f 1.5
        EXISTS k
        TTL k
        HELLO 2
        GET missing
        MGET k missing
        CONFIG GET maxmemory-policy
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn hello_setname_and_auth_take_effect() {
    let rc = start_ringcache(&["--requirepass", "pw"]);
    let mut c = RawConn::connect(rc.port);
    assert!(c
        .cmd_str("GET k")
        .starts_with("-NOAUTH Authentication required."));
    c.resp3 = true;
    let r = c.cmd(&[
        b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"me",
    ]);
    assert!(r.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&r));
    assert_eq!(c.cmd_str("CLIENT GETNAME"), "$2\r\nme\r\n");
    assert_eq!(c.cmd_str("GET k"), "_\r\n");
}

#[test]
fn pipeline_of_1000_commands_in_one_write() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    let mut batch = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            batch.extend(encode(&[b"ECHO", i.to_string().as_bytes()]));
        } else {
            // Mix in inline commands: both forms share one buffer.
            batch.extend(format!("INCR counter{}\r\n", i % 7).into_bytes());
        }
    }
    c.send_raw(&batch);
    let mut incrs = std::collections::HashMap::new();
    for i in 0..1000 {
        let r = c.read_reply();
        if i % 2 == 0 {
            let want = format!("${}\r\n{i}\r\n", i.to_string().len());
            assert_eq!(String::from_utf8_lossy(&r), want, "reply {i} out of order");
        } else {
            let n = incrs.entry(i % 7).or_insert(0);
            *n += 1;
            assert_eq!(String::from_utf8_lossy(&r), format!(":{n}\r\n"));
        }
    }
}

#[test]
fn disconnect_mid_pipeline_and_mid_bulk_leave_node_serving() {
    let rc = start_ringcache(&[]);
    let mut other = RawConn::connect(rc.port);
    assert_eq!(other.cmd_str("SET keep me"), "+OK\r\n");
    for round in 0..20 {
        // Half a bulk, then gone.
        let mut s = TcpStream::connect(("127.0.0.1", rc.port)).expect("connect");
        s.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$100000\r\nabc")
            .expect("write");
        drop(s);
        // A large pipeline whose replies are never read.
        let mut s = TcpStream::connect(("127.0.0.1", rc.port)).expect("connect");
        let mut batch = Vec::new();
        for i in 0..5000 {
            batch.extend(encode(&[b"SET", format!("p{round}:{i}").as_bytes(), b"v"]));
        }
        let _ = s.write_all(&batch[..batch.len() - 7]);
        drop(s);
        assert_eq!(other.cmd_str("GET keep"), "$2\r\nme\r\n");
    }
    assert_eq!(other.cmd_str("EXISTS x"), ":0\r\n");
    assert_alive(rc.port);
}

#[test]
fn slow_reader_does_not_block_others() {
    let rc = start_ringcache(&[]);
    let mut setup = RawConn::connect(rc.port);
    let value = vec![b'v'; 100 * 1024];
    assert_eq!(setup.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
    // This client asks for ~50 MB of replies and never reads them.
    let mut slow = TcpStream::connect(("127.0.0.1", rc.port)).expect("connect");
    slow.set_write_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let one = encode(&[b"GET", b"big"]);
    let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 500).collect();
    let _ = slow.write_all(&batch);
    let started = Instant::now();
    for i in 0..200 {
        let mut c = RawConn::connect(rc.port);
        assert_eq!(
            c.cmd_str(&format!("ECHO {i}")),
            format!("${}\r\n{i}\r\n", i.to_string().len())
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "other clients were slowed down: {:?}",
        started.elapsed()
    );
    // The slow client still gets correct data when it finally reads.
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut head = [0u8; 9];
    slow.read_exact(&mut head).expect("read");
    assert_eq!(&head, b"$102400\r\n");
}

#[test]
fn proto_max_bulk_len_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    for port in [redis.port, rc.port] {
        assert_eq!(
            redis_cli(port, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
            "OK\n"
        );
    }
    let cases: Vec<&[u8]> = vec![
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n",
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n",
    ];
    assert_same_raw(redis.port, rc.port, &cases);
    // Exactly the limit is accepted.
    let mut c = RawConn::connect(rc.port);
    let v = vec![b'x'; 1024 * 1024];
    assert_eq!(c.cmd(&[b"SET", b"k", &v]), b"+OK\r\n");
    assert_eq!(c.cmd_str("STRLEN k"), ":1048576\r\n");
}

#[test]
fn client_query_buffer_limit_disconnects() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    for port in [redis.port, rc.port] {
        assert_eq!(
            redis_cli(port, &["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
            "OK\n"
        );
        // An unfinished 3 MB argument: the buffered query passes the limit.
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut data = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 2_000_000));
        let _ = s.write_all(&data);
        let mut buf = [0u8; 64];
        let r = s.read(&mut buf);
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "port {port}: expected disconnect, got {r:?}"
        );
        assert_alive(port);
        assert_eq!(redis_cli(port, &["EXISTS", "k"]), "0\n");
    }
    let info = redis_cli(rc.port, &["INFO", "stats"]);
    assert!(
        info.contains("client_query_buffer_limit_disconnections:1"),
        "{info}"
    );
}

/// Total connections a server accepted so far (INFO stats).
fn accepted(c: &mut RawConn) -> u64 {
    String::from_utf8_lossy(&c.cmd(&[b"INFO", b"stats"]))
        .lines()
        .find_map(|l| l.strip_prefix("total_connections_received:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A client that never reads is dropped once it passes a hard
/// `client-output-buffer-limit`, in both servers; others are unaffected.
#[test]
fn output_buffer_limit_disconnects_slow_reader() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    for port in [redis.port, rc.port] {
        let mut c = RawConn::connect(port);
        assert_eq!(
            c.cmd(&[
                b"CONFIG",
                b"SET",
                b"client-output-buffer-limit",
                b"normal 1mb 0 0"
            ]),
            b"+OK\r\n"
        );
        let value = vec![b'v'; 100 * 1024];
        assert_eq!(c.cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
        let before = accepted(&mut c);
        let slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let mut writer = slow.try_clone().expect("clone");
        std::thread::spawn(move || {
            let one = encode(&[b"GET", b"big"]);
            for _ in 0..2000 {
                if writer.write_all(&one).is_err() {
                    break;
                }
            }
        });
        assert!(eventually(Duration::from_secs(5), || accepted(&mut c) > before));
        let only_us = |c: &mut RawConn| {
            String::from_utf8_lossy(&c.cmd(&[b"INFO", b"clients"]))
                .contains("connected_clients:1\r\n")
        };
        assert!(
            eventually(Duration::from_secs(10), || only_us(&mut c)),
            "port {port}: slow reader was not disconnected"
        );
        assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
        drop(slow);
    }
    let n = info_field(
        rc.port,
        "stats",
        "client_output_buffer_limit_disconnections",
    );
    assert_eq!(n.as_deref(), Some("1"));
}

/// RESP3 replies of the string/key/server commands, byte for byte.
#[test]
fn resp3_replies_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(
        r#"
        HELLO 3
        FLUSHALL
        SET a ohmytext
        SET b mynewtext
        LCS a b
        LCS a b LEN
        LCS a b IDX
        LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN
        SET n 10
        INCRBYFLOAT n 0.5
        GETEX a PERSIST
        SET a v GET
        SET a v NX GET
        SET x v NX
        MGET a nosuch
        MSETNX a 1 z 2
        EXISTS a nosuch
        TYPE a
        TYPE nosuch
        TTL a
        EXPIRETIME nosuch
        OBJECT ENCODING n
        OBJECT ENCODING nosuch
        OBJECT FREQ a
        KEYS a*
        SCAN 0 COUNT 100000 MATCH a*
        DBSIZE
        FLUSHALL
        RANDOMKEY
        SET a 1
        RANDOMKEY
        COPY a c
        CONFIG GET maxmemory
        CONFIG GET nosuch
        COMMAND INFO nosuch
        COMMAND GETKEYS get k
        CLIENT GETNAME
        ECHO hi
        PING
        GETDEL nosuch
        GETRANGE nosuch 0 1
        SLOWLOG GET 0
        EXEC
        MULTI
        GET nosuch
        INCR n
        EXEC
        WAIT 0 0
        "#,
    );
    assert_same_replies(redis.port, rc.port, &s);
}
