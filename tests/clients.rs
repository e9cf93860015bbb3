//! Real clients against a ringcache node: redis-cli (incl. --pipe),
//! redis-benchmark, the `redis` crate (async, tokio; RESP2 and RESP3) and redis-py.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn redis_cli_basics_and_pipe() {
    let rc = start_ringcache(&[]);
    assert_eq!(redis_cli(rc.port, &["PING"]), "PONG\n");
    assert_eq!(redis_cli(rc.port, &["SET", "k", "hello world"]), "OK\n");
    assert_eq!(redis_cli(rc.port, &["GET", "k"]), "hello world\n");
    assert_eq!(redis_cli(rc.port, &["--raw", "INCR", "n"]), "1\n");
    assert_eq!(redis_cli(rc.port, &["-n", "2", "SET", "in2", "x"]), "OK\n");
    assert_eq!(redis_cli(rc.port, &["-n", "2", "DBSIZE"]), "1\n");
    // Non-tty output: nil prints as an empty line (RESP3 `_` included).
    assert_eq!(redis_cli(rc.port, &["-3", "GET", "nosuch"]), "\n");
    assert_eq!(redis_cli(rc.port, &["-3", "GET", "k"]), "hello world\n");
    assert_eq!(
        redis_cli(rc.port, &["NOSUCH"]),
        "ERR unknown command 'NOSUCH', with args beginning with: \n\n"
    );
    // Commands read from stdin, one per line.
    let mut child = Command::new("redis-cli")
        .args(["-p", &rc.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"SET a 1\nINCR a\nGET a\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n2\n2\n");

    // --pipe with 100k SETs in RESP.
    let mut data = Vec::new();
    for i in 0..100_000 {
        data.extend(encode(&[
            b"SET",
            format!("pipe:{i}").as_bytes(),
            format!("value-{i}").as_bytes(),
        ]));
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &rc.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("wait");
    writer.join().expect("join").expect("write");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("errors: 0, replies: 100000"), "{text}");
    assert_eq!(redis_cli(rc.port, &["DBSIZE"]), "100003\n");
    assert_eq!(redis_cli(rc.port, &["GET", "pipe:99999"]), "value-99999\n");
}

#[test]
fn redis_benchmark_runs_clean() {
    let rc = start_ringcache(&[]);
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &rc.port.to_string(),
            "-t",
            "ping,set,get,incr,mset",
            "-q",
            "-n",
            "20000",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // With -q every finished test prints "NAME: N requests per second, ...".
    let done: Vec<&str> = stdout
        .split(['\n', '\r'])
        .filter(|l| l.contains("requests per second"))
        .collect();
    assert_eq!(done.len(), 6, "{stdout}"); // PING_INLINE, PING_MBULK, SET, GET, INCR, MSET
    for line in stdout.split(['\n', '\r']).chain(stderr.split('\n')) {
        let l = line.to_ascii_lowercase();
        assert!(
            !l.contains("error") && !l.contains("err "),
            "redis-benchmark reported: {line}"
        );
    }
    assert_eq!(
        redis_cli(rc.port, &["GET", "counter:__rand_int__"]),
        "20000\n"
    );
}

#[tokio::test]
async fn redis_crate_async_usage() {
    use redis::AsyncCommands;
    let rc = start_ringcache(&[]);
    for proto in ["", "?protocol=resp3"] {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{}/{proto}", rc.port)).expect("client");
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut con)
            .await
            .expect("flush");
        let _: () = con.set("k", "v").await.expect("set");
        let v: Option<String> = con.get("k").await.expect("get");
        assert_eq!(v.as_deref(), Some("v"));
        let missing: Option<String> = con.get("nosuch").await.expect("get");
        assert_eq!(missing, None);
        let n: i64 = con.incr("n", 5).await.expect("incr");
        assert_eq!(n, 5);
        let _: () = con.set_ex("e", "v", 100).await.expect("setex");
        let ttl: i64 = con.ttl("e").await.expect("ttl");
        assert!((99..=100).contains(&ttl));
        let err = con.incr::<_, _, i64>("k", 1).await.expect_err("wrongtype");
        assert!(err.to_string().contains("not an integer"), "{err}");
        let cfg: std::collections::HashMap<String, String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut con)
            .await
            .expect("config get");
        assert_eq!(cfg["maxmemory-policy"], "noeviction");

        let mut pipe = redis::pipe();
        for i in 0..500 {
            pipe.set(format!("p{i}"), i).ignore();
        }
        pipe.get("p499").mget(&["p0", "p1", "nosuch"]);
        let (last, many): (i64, Vec<Option<i64>>) = pipe.query_async(&mut con).await.expect("pipe");
        assert_eq!(last, 499);
        assert_eq!(many, vec![Some(0), Some(1), None]);

        let (a, b): (i64, i64) = redis::pipe()
            .atomic()
            .incr("tx", 1)
            .incr("tx", 1)
            .query_async(&mut con)
            .await
            .expect("transaction");
        assert_eq!((a, b), (1, 2));

        // Concurrent use of one multiplexed connection keeps replies matched.
        let mut tasks = Vec::new();
        for t in 0..8 {
            let mut c = con.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let key = format!("c{t}:{i}");
                    let _: () = c.set(&key, i).await.expect("set");
                    let got: i64 = c.get(&key).await.expect("get");
                    assert_eq!(got, i);
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let size: i64 = redis::cmd("DBSIZE")
            .query_async(&mut con)
            .await
            .expect("dbsize");
        assert_eq!(size, 3 + 500 + 1 + 1600);
    }
}

#[test]
fn redis_py_basic_usage() {
    let rc = start_ringcache(&[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/basic.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(rc.port.to_string())
        .output()
        .expect("python3 (scripts/test installs it)");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
