//! List commands (non-blocking forms, plus the blocking ones where they do not
//! block), differential against a real redis-server, RESP2 and RESP3.

mod common;

use common::*;

const LIST_SCRIPT: &str = r#"
    FLUSHALL
    SET str v
    LPUSH l a b c
    RPUSH l d e
    LRANGE l 0 -1
    LPUSH str x
    RPUSH str x
    LPUSHX nokey a
    RPUSHX nokey a
    EXISTS nokey
    LPUSHX l z
    RPUSHX l y
    LPUSHX str a
    LLEN l
    LLEN nokey
    LLEN str
    TYPE l
    OBJECT ENCODING l
    LINDEX l 0
    LINDEX l -1
    LINDEX l -100
    LINDEX l 100
    LINDEX l x
    LINDEX nokey x
    LINDEX str 0
    LRANGE l 1 3
    LRANGE l -3 -1
    LRANGE l -100 100
    LRANGE l 5 2
    LRANGE l 100 200
    LRANGE l -9223372036854775808 9223372036854775807
    LRANGE nokey 0 -1
    LRANGE nokey a b
    LRANGE str 0 -1
    LRANGE l 0 x
    LSET l 0 first
    LSET l -1 last
    LSET l 100 x
    LSET l -100 x
    LSET l x y
    LSET nokey 0 x
    LSET str 0 x
    LRANGE l 0 -1
    LPOP l
    RPOP l
    LPOP l 2
    RPOP l 2
    LPOP l 0
    LPOP l -1
    LPOP l x
    LPOP l 1 2
    LPOP nokey
    LPOP nokey 1
    LPOP nokey 0
    RPOP nokey 5
    LPOP str
    LPOP str 1
    RPOP l 100
    EXISTS l
    RPUSH l a b a c a d a
    LREM l 2 a
    LRANGE l 0 -1
    LREM l -1 a
    LRANGE l 0 -1
    LREM l 0 a
    LREM l 0 zz
    LREM nokey 0 a
    LREM str 0 a
    LREM l x a
    LREM l 0 b
    LREM l 0 c
    LREM l 0 d
    EXISTS l
    RPUSH l 1 2 3 4 5 6
    LTRIM l 1 -2
    LRANGE l 0 -1
    LTRIM l -2 100
    LRANGE l 0 -1
    LTRIM nokey 0 1
    LTRIM str 0 1
    LTRIM l a 1
    LTRIM l 5 1
    EXISTS l
    RPUSH l a b c
    LINSERT l BEFORE b x
    LINSERT l after c y
    LINSERT l AFTER zz y
    LINSERT l middle b x
    LINSERT nokey before a b
    LINSERT str before a b
    LRANGE l 0 -1
    DEL l
    RPUSH l a b c a b c a
    LPOS l a
    LPOS l a RANK 2
    LPOS l a RANK -1
    LPOS l a RANK -2
    LPOS l a COUNT 0
    LPOS l a COUNT 2
    LPOS l a COUNT 2 RANK -1
    LPOS l a RANK 2 COUNT 0
    LPOS l a MAXLEN 3
    LPOS l a MAXLEN 3 COUNT 0
    LPOS l c MAXLEN 2
    LPOS l a RANK -1 MAXLEN 2 COUNT 0
    LPOS l zz
    LPOS l zz COUNT 1
    LPOS l a RANK 0
    LPOS l a RANK x
    LPOS l a COUNT -1
    LPOS l a COUNT x
    LPOS l a MAXLEN -1
    LPOS l a MAXLEN x
    LPOS l a RANK
    LPOS l a FOO 1
    LPOS l a RANK -9223372036854775808
    LPOS l a RANK -9223372036854775808 COUNT 2
    LPOS nokey a
    LPOS nokey a COUNT 1
    LPOS nokey a RANK 0
    LPOS str a
    DEL l
    RPUSH src 1 2 3
    LMOVE src dst LEFT RIGHT
    LMOVE src dst right left
    LRANGE src 0 -1
    LRANGE dst 0 -1
    LMOVE src src LEFT RIGHT
    LRANGE src 0 -1
    LMOVE src dst up left
    LMOVE src dst left up
    LMOVE nokey dst left left
    LMOVE nokey str left left
    LMOVE src str left left
    LMOVE str dst left left
    RPOPLPUSH src dst
    RPOPLPUSH src dst
    EXISTS src
    LRANGE dst 0 -1
    RPOPLPUSH dst dst
    LRANGE dst 0 -1
    RPOPLPUSH str dst
    RPUSH one x
    EXPIRE one 1000
    LMOVE one one LEFT RIGHT
    TTL one
    RPOPLPUSH one one
    TTL one
    RPOPLPUSH dst str
    DEL dst
    RPUSH a 1 2 3
    RPUSH b 4 5
    LMPOP 2 nokey a LEFT
    LMPOP 2 nokey a RIGHT COUNT 10
    EXISTS a
    LMPOP 2 a b left COUNT 1
    LMPOP 1 nokey left
    LMPOP 2 nokey str left
    LMPOP 2 b str left
    LMPOP 0 a left
    LMPOP -1 a left
    LMPOP x a left
    LMPOP 3 a left
    LMPOP 2147483648 a left
    LMPOP 1 a up
    LMPOP 1 a left COUNT 0
    LMPOP 1 a left COUNT -1
    LMPOP 1 a left COUNT x
    LMPOP 1 a left COUNT 1 COUNT 2
    LMPOP 1 a left COUNT
    LMPOP 1 a left foo
    RPUSH q x y z
    BLPOP q 0
    BRPOP nokey q 0
    BLPOP nokey str 0
    BLPOP q -1
    BLPOP q abc
    BLPOP q inf
    BLPOP q 1e30
    BLPOP q nan
    BLMOVE q q2 LEFT RIGHT 0
    BLMOVE q q2 LEFT foo 0
    BLMOVE q q2 LEFT RIGHT -1
    BLMOVE str q2 LEFT RIGHT 0
    BRPOPLPUSH q2 q 0
    BRPOPLPUSH q str 0
    BLMPOP 0 1 q LEFT COUNT 5
    BLMPOP 0 0 q LEFT
    BLMPOP -1 1 q LEFT
    BLMPOP 0 2 nokey str LEFT
    BLMPOP 0 1 q LEFT COUNT 0
    MULTI
    BLPOP nokey 0
    BRPOP nokey 10
    BLMOVE nokey x LEFT LEFT 0
    BRPOPLPUSH nokey x 0
    BLMPOP 0 1 nokey RIGHT
    RPUSH nokey v
    BLPOP nokey 0
    EXEC
    LPOP l 1 2 3
    LINSERT l before
    COMMAND GETKEYS LMPOP 2 a b LEFT
    COMMAND GETKEYS BLMPOP 0 2 a b LEFT COUNT 3
    COMMAND GETKEYS BLPOP a b 0
    COMMAND GETKEYS LMOVE a b LEFT LEFT
"#;

#[test]
fn list_commands_match_redis_resp2() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    assert_same_replies(redis.port, rc.port, &script(LIST_SCRIPT));
}

#[test]
fn list_commands_match_redis_resp3() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    // HELLO's reply carries the server name, version and client id: compare the rest.
    let mut a = RawConn::connect(redis.port);
    let mut b = RawConn::connect(rc.port);
    for conn in [&mut a, &mut b] {
        conn.resp3 = true;
        let r = conn.cmd(&[b"HELLO", b"3"]);
        assert!(r.starts_with(b"%"), "HELLO 3 must answer a map");
    }
    for cmd in script(LIST_SCRIPT) {
        let args: Vec<&[u8]> = cmd.iter().map(|v| v.as_slice()).collect();
        let (ra, rb) = (a.cmd(&args), b.cmd(&args));
        assert_eq!(
            String::from_utf8_lossy(&rb),
            String::from_utf8_lossy(&ra),
            "RESP3 reply differs for {:?}",
            args.iter()
                .map(|x| String::from_utf8_lossy(x))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn large_lists_and_binary_elements_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let mut s = script("FLUSHALL");
    let big = "x".repeat(10_000);
    for i in 0..300 {
        s.push(vec![
            b"RPUSH".to_vec(),
            b"big".to_vec(),
            format!("{i}-{}", &big[..i * 30]).into_bytes(),
        ]);
    }
    s.push(vec![
        b"RPUSH".to_vec(),
        b"bin".to_vec(),
        b"a\r\n\0b".to_vec(),
    ]);
    s.extend(script(
        r#"
        LLEN big
        OBJECT ENCODING big
        LRANGE big 100 103
        LINDEX big -1
        LTRIM big 10 -10
        LLEN big
        LPOP big 3
        LRANGE bin 0 -1
        LPOS bin "a\r\n\x00b"
        "#,
    ));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn redis_benchmark_list_tests_run_without_errors() {
    let rc = start_ringcache(&[]);
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-q",
            "-t",
            "lpush,rpush,lpop,rpop,lrange_100,lrange_300",
            "-n",
            "20000",
            "-p",
            &rc.port.to_string(),
        ])
        .output()
        .expect("redis-benchmark is required");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-benchmark failed: {stderr}");
    for test in ["LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE_100", "LRANGE_300"] {
        let done = stdout
            .split(['\r', '\n'])
            .any(|l| l.trim().starts_with(test) && l.contains("requests per second"));
        assert!(done, "missing {test} result in: {stdout}");
    }
    assert!(
        !stdout.to_lowercase().contains("error") && !stderr.to_lowercase().contains("error"),
        "redis-benchmark reported errors: {stdout} {stderr}"
    );
    let mut c = RawConn::connect(rc.port);
    let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"stats"])).into_owned();
    assert!(info.contains("total_error_replies:0"), "{info}");
}
