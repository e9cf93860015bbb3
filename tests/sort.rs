//! SORT and SORT_RO, differential against a real redis-server: lists, sets
//! and sorted sets; numeric and ALPHA order; BY patterns (string keys, hash
//! fields, constant `nosort`); LIMIT; GET (`#`, keys, hash fields); STORE;
//! error texts; a script's deterministic order; and cluster mode, where
//! Redis 7.0 refuses BY patterns and GET.

mod common;

use common::*;
use proptest::prelude::*;

const SETUP: &str = r#"
    FLUSHALL
    RPUSH nums 3 1 2 10 -5 2.5 1e2 0x10 " 7"
    RPUSH words banana apple cherry Apple 10 9 "" b
    RPUSH bad 1 two 3
    RPUSH ids 1 2 3 4 5
    MSET w_1 50 w_2 10 w_3 30 w_4 10 w_9 x
    RPUSH ids9 1 9 2
    MSET n_1 one n_2 two n_3 three n_5 five
    HSET h_1 f 5 name alice
    HSET h_2 f 3 name bob
    HSET h_3 f 9
    HSET h_4 name dave
    SADD s 5 3 9 1 7
    SADD sw pear fig kiwi
    ZADD z 1 c 2 a 3 b 4 d
    ZADD zn 10 1 20 3 30 2
    SET str x
"#;

const CASES: &str = r#"
    SORT nums
    SORT nums DESC
    SORT nums ASC LIMIT 0 3
    SORT nums LIMIT 2 3
    SORT nums LIMIT -5 2
    SORT nums LIMIT 7 10
    SORT nums LIMIT 20 2
    SORT nums LIMIT 1 0
    SORT nums LIMIT 1 -1
    SORT nums LIMIT 0 x
    SORT nums LIMIT 0
    SORT words
    SORT words ALPHA
    SORT words ALPHA DESC
    SORT words ALPHA LIMIT 1 3
    SORT bad
    SORT bad ALPHA
    SORT ids BY w_*
    SORT ids BY w_* DESC
    SORT ids9 BY w_*
    SORT ids9 BY w_* ALPHA
    SORT ids BY w_* ALPHA
    SORT ids BY w_* ALPHA DESC
    SORT ids BY h_*->f
    SORT ids BY h_*->f DESC GET # GET h_*->name GET n_*
    SORT ids BY h_*-> GET #
    SORT ids BY h_*->f ALPHA
    SORT ids BY nosort
    SORT ids BY nosort DESC
    SORT ids BY nosort LIMIT 1 2
    SORT ids BY nosort DESC LIMIT 1 2
    SORT ids BY nosort LIMIT 9 2
    SORT ids BY nosort GET n_*
    SORT ids GET # GET n_* GET h_*->name GET nostar GET h_*->nosuch
    SORT ids GET str
    SORT ids LIMIT 1 2 GET n_* DESC
    SORT ids BY w_* STORE dst
    LRANGE dst 0 -1
    SORT ids GET n_* STORE dst
    LRANGE dst 0 -1
    SORT ids BY w_* LIMIT 0 0 STORE dst
    EXISTS dst
    SORT nokey
    SORT nokey STORE dst2
    EXISTS dst2
    SORT nokey BY nosort GET #
    SORT str
    SORT h_1
    SORT s
    SORT s DESC LIMIT 1 2
    SORT s GET n_*
    SORT sw ALPHA
    SORT sw
    SORT s BY nosort STORE dst
    LRANGE dst 0 -1
    SORT sw BY nosort STORE dst DESC
    LRANGE dst 0 -1
    SORT z
    SORT z ALPHA
    SORT z BY nosort
    SORT z BY nosort DESC
    SORT z BY nosort LIMIT 1 2
    SORT z BY nosort DESC LIMIT 1 5
    SORT zn
    SORT zn DESC BY nosort
    SORT zn BY w_*
    SORT nums STORE nums
    LRANGE nums 0 -1
    SORT_RO ids BY w_* GET n_*
    SORT_RO ids STORE dst
    SORT ids BOGUS
    SORT ids STORE
    SORT ids BY
    SORT ids GET
    EVAL "return redis.call('sort', KEYS[1], 'by', 'nosort')" 1 sw
    EVAL "return redis.call('sort', KEYS[1], 'by', 'nosort', 'desc')" 1 s
"#;

#[test]
fn sort_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(&format!("{SETUP}{CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn sort_matches_redis_on_big_encodings() {
    let args = [
        "--zset-max-listpack-entries",
        "1",
        "--set-max-intset-entries",
        "1",
        "--list-max-listpack-size",
        "2",
    ];
    let redis = require_redis(&args);
    let rc = start_ringcache(&args);
    let s = script(&format!("{SETUP}{CASES}"));
    assert_same_replies(redis.port, rc.port, &s);
}

#[test]
fn sort_matches_redis_in_resp3() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let s = script(&format!("{SETUP}{CASES}"));
    assert_same_resp3_replies(redis.port, rc.port, &s);
}

/// Weights parse like C `strtod` over the whole value: spaces before,
/// hex, an empty string (0) are numbers; overflow, NaN and trailing junk
/// are not. The overflowing weights come last: redis-server 7.0 does not
/// clear `errno` before `strtod`, so after one ERANGE every later numeric
/// SORT of that process fails too (ringcache judges each weight alone).
#[test]
fn sort_weights_match_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let mut text = String::from("FLUSHALL\nRPUSH l a b c\n");
    for (i, w) in [
        "\" 1\"", "0x1p3", "\"\"", "nan", "inf", "-inf", "\"2 \"", "1.5e1", "+3", "-0", "0001",
        "1,5", "infinity", "1e400", "1e-400",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "SET w_a {w}\nSET w_b {i}\nSORT l BY w_*\nSORT l BY w_* DESC\n"
        ));
        text.push_str(&format!("DEL l2\nRPUSH l2 {w} 1\nSORT l2\n"));
    }
    assert_same_replies(redis.port, rc.port, &script(&text));
}

/// A large list sorts like redis-server (numeric with many ties broken by
/// the element, ALPHA, BY with LIMIT).
#[test]
fn large_sort_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let mut text = String::from("FLUSHALL\n");
    for chunk in 0..20 {
        let items: Vec<String> = (0..100)
            .map(|i| {
                let n = (chunk * 100 + i) * 7919 % 1000;
                format!("{}.{}", n % 37, n)
            })
            .collect();
        text.push_str(&format!("RPUSH big {}\n", items.join(" ")));
    }
    for i in 0..50 {
        text.push_str(&format!("SET wt_{i}.{i} {}\n", (i * 31) % 17));
    }
    text.push_str(
        "SORT big LIMIT 0 40\nSORT big DESC LIMIT 100 40\nSORT big ALPHA LIMIT 500 30\nSORT big BY wt_* LIMIT 0 60\nSORT big STORE out\nLRANGE out 0 20\n",
    );
    assert_same_replies(redis.port, rc.port, &script(&text));
}

/// In cluster mode Redis 7.0 refuses BY patterns and every GET; constant
/// BY and plain sorts still run, on a key of either node of a two-node ring
/// (proxied when the other node owns it), and STORE across slots gets
/// `-CROSSSLOT`.
#[test]
fn cluster_mode_refuses_by_and_get_like_redis() {
    let (redis, _dir) = cluster::require_redis_cluster();
    let nodes = cluster::start_cluster(2, &[]);
    // Some keys live on the other node: node 0 proxies them.
    let tags = ["a", "b", "c", "d", "e", "f"];
    assert!(tags
        .iter()
        .any(|k| cluster::serves_key(nodes[1].port(), &format!("{{{k}}}l"))));
    let mut text = String::new();
    for k in tags {
        text.push_str(&format!(
            "RPUSH {{{k}}}l 3 1 2\n\
             SET {{{k}}}w_1 5\n\
             SORT {{{k}}}l\n\
             SORT {{{k}}}l DESC LIMIT 0 2\n\
             SORT {{{k}}}l BY nosort\n\
             SORT {{{k}}}l BY {{{k}}}w_*\n\
             SORT {{{k}}}l BY w_*\n\
             SORT {{{k}}}l GET #\n\
             SORT {{{k}}}l GET {{{k}}}w_*\n\
             SORT {{{k}}}l BY nosort GET #\n\
             SORT_RO {{{k}}}l BY {{{k}}}w_*\n\
             SORT_RO {{{k}}}l GET #\n\
             SORT_RO {{{k}}}l ALPHA DESC\n\
             SORT {{{k}}}l STORE {{{k}}}dst\n\
             LRANGE {{{k}}}dst 0 -1\n"
        ));
    }
    text.push_str("SORT {a}l STORE {b}dst\n");
    assert_same_replies(redis.port, nodes[0].port(), &script(&text));
}

#[test]
fn sort_command_info_matches_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let head = |port: u16, name: &str| {
        let mut c = RawConn::connect(port);
        let reply = c.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]);
        match parse_tree(&reply, &mut 0) {
            Tree::Agg(_, entries) => match entries.into_iter().next() {
                Some(Tree::Agg(_, fields)) => fields.into_iter().take(7).collect::<Vec<_>>(),
                other => panic!("unexpected entry {other:?}"),
            },
            other => panic!("unexpected reply {other:?}"),
        }
    };
    for name in ["sort", "sort_ro"] {
        assert_eq!(head(rc.port, name), head(redis.port, name), "{name}");
    }
    let s = script(
        "COMMAND GETKEYS SORT k BY w_* LIMIT 0 1 GET store STORE d\n\
         COMMAND GETKEYS SORT k STORE a STORE b\n\
         COMMAND GETKEYS SORT_RO k BY w_* GET #",
    );
    assert_same_replies(redis.port, rc.port, &s);
}

/// SORT ... STORE creates a list like a push: a client blocked on the
/// destination gets its first element, as with redis-server.
#[test]
fn sort_store_wakes_a_blocked_pop_like_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let replies = |port: u16| {
        let mut waiter = RawConn::connect(port);
        let mut c = RawConn::connect(port);
        c.cmd_str("RPUSH src 3 1 2");
        waiter.send_raw(&encode(&[b"BLPOP", b"dst", b"5"]));
        assert!(eventually(std::time::Duration::from_secs(5), || {
            c.cmd_str("INFO clients").contains("blocked_clients:1")
        }));
        let stored = c.cmd_str("SORT src STORE dst");
        (stored, waiter.read_reply(), c.cmd_str("LRANGE dst 0 -1"))
    };
    let ours = replies(rc.port);
    assert_eq!(ours.1, b"*2\r\n$3\r\ndst\r\n$1\r\n1\r\n");
    assert_eq!(ours, replies(redis.port));
}

/// One random command: fill a list, set or sorted set and weight keys, or
/// SORT one of them with random options.
fn arb_sort_command() -> impl Strategy<Value = (String, bool)> {
    let elem = prop_oneof![
        4 => (-12i32..12).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["a", "b", "B", "2.5", "1e1", ""]).prop_map(String::from),
    ];
    let weight = prop::sample::select(vec!["1", "2", "10", "-3", "2.5", "a", "b", "", "0", "3"]);
    let elems = prop::collection::vec(elem.clone(), 1..6);
    let pattern = prop::sample::select(vec!["w_*", "h_*->f", "nosort", "w_*->", "*"]);
    let get = prop::sample::select(vec!["#", "w_*", "h_*->f", "x"]);
    let options = (
        prop::option::of(pattern),
        prop::option::of((-2i64..8, -2i64..8)),
        prop::collection::vec(get, 0..3),
        prop::sample::select(vec!["", "ASC", "DESC"]),
        any::<bool>(),
        prop::bool::weighted(0.3),
    );
    prop_oneof![
        2 => elems.clone().prop_map(|e| (format!("RPUSH l {}", quoted(&e)), false)),
        1 => elems.clone().prop_map(|e| (format!("SADD s {}", quoted(&e)), false)),
        1 => (elems, 0u8..4).prop_map(|(e, s)| {
            let pairs: Vec<String> = e.iter().map(|m| format!("{s} \"{m}\"")).collect();
            (format!("ZADD z {}", pairs.join(" ")), false)
        }),
        2 => (elem.clone(), weight.clone()).prop_map(|(e, w)| (format!("SET \"w_{e}\" \"{w}\""), false)),
        1 => (elem, weight).prop_map(|(e, w)| (format!("HSET \"h_{e}\" f \"{w}\""), false)),
        6 => (prop::sample::select(vec!["l", "s", "z", "nokey"]), options).prop_map(
            |(key, (by, limit, gets, order, alpha, store))| {
                let mut cmd = format!("SORT {key}");
                if let Some(p) = by {
                    cmd.push_str(&format!(" BY {p}"));
                }
                if let Some((a, b)) = limit {
                    cmd.push_str(&format!(" LIMIT {a} {b}"));
                }
                for g in gets {
                    cmd.push_str(&format!(" GET {g}"));
                }
                cmd.push_str(&format!(" {order}"));
                if alpha {
                    cmd.push_str(" ALPHA");
                }
                // Redis leaves these orders to its hash tables: sets and
                // sorted sets (loaded in dict order) by ALPHA weights that
                // may tie, and a set it does not sort.
                let by_pattern = by.is_some_and(|p| p.contains('*'));
                let hash_order = (key == "s" || key == "z") && alpha && by_pattern
                    || key == "s" && by == Some("nosort");
                if store && !hash_order {
                    cmd.push_str(" STORE dst");
                }
                (cmd, hash_order)
            },
        ),
    ]
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn random_sorts_match_redis() {
    random_sequences_match(
        &[],
        40,
        arb_sort_command(),
        |(cmd, hash_order)| {
            let args = ringcache::resp::parse::split_args(cmd.as_bytes())
                .expect("balanced quotes")
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            // Which elements tie, and so which a LIMIT keeps, depends on
            // Redis' hash table there: only the reply's shape is fixed.
            let compare = if *hash_order {
                Compare::Shape
            } else {
                Compare::Exact
            };
            Some((args, compare))
        },
        &["LRANGE dst 0 -1", "LRANGE l 0 -1"],
    );
}
