//! Stream commands differential against a real redis-server (RESP2 and
//! RESP3, errors included), blocking XREAD/XREADGROUP, and a consumer-group
//! work queue with concurrent workers and a dead consumer's entries claimed.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Entries, ranges, deletion, trimming and the ID rules (explicit IDs only:
/// generated ones depend on each server's clock).
const ENTRY_SCRIPT: &str = r#"
    FLUSHALL
    SET str v
    XADD s 1-1 f v
    XADD s 1-1 f v
    XADD s 1-0 f v
    XADD s 0-0 f v
    XADD s 1-* a b c d
    XADD s 5-* f v2
    XADD s 5 f v3
    XADD s 5-18446744073709551615 f v
    XADD s 5-* f v
    XADD s 6-x f v
    XADD s 18446744073709551616-1 f v
    XADD s -1 f v
    XADD s + f v
    XADD s 7 f
    XADD s 7
    XADD str 7 f v
    XADD nokey NOMKSTREAM 1 f v
    EXISTS nokey
    XADD s NOMKSTREAM 7-0 f v
    XADD s MAXLEN 5 MINID 1 8 f v
    XADD s MAXLEN -1 8 f v
    XADD s MAXLEN x 8 f v
    XADD s LIMIT 10 8 f v
    XADD s MAXLEN 5 LIMIT 10 8 f v
    XADD s MAXLEN ~ 5 LIMIT -1 8 f v
    XADD s MINID 1-x 8 f v
    XADD s BOGUS 8 f v
    TYPE s
    OBJECT ENCODING s
    XLEN s
    XLEN nokey
    XLEN str
    XRANGE s - +
    XRANGE s - + COUNT 2
    XRANGE s - + COUNT 0
    XRANGE s - + COUNT -5
    XRANGE s - + COUNT
    XRANGE s - + LIMIT 2
    XRANGE s (1-1 +
    XRANGE s 1 5
    XRANGE s 1-2 (5-18446744073709551615
    XRANGE s (18446744073709551615-18446744073709551615 +
    XRANGE s - (0-0
    XRANGE s ( +
    XRANGE s (- +
    XRANGE s x +
    XRANGE s 5 1
    XRANGE nokey - +
    XRANGE str - +
    XREVRANGE s + -
    XREVRANGE s + - COUNT 1
    XREVRANGE s (5-18446744073709551615 (1-1
    XREVRANGE s 1 5
    XDEL s 1-2 9-9 1-2
    XDEL s x
    XDEL nokey x
    XDEL str 1
    XDEL s +
    XLEN s
    XRANGE s - +
    XDEL s 1-1
    XRANGE s - +
    XTRIM s
    XTRIM s MAXLEN
    XTRIM s MAXLEN x
    XTRIM s MAXLEN 1 junk
    XTRIM s NOMKSTREAM MAXLEN 1
    XTRIM s MAXLEN = 10 LIMIT 5
    XTRIM nokey MAXLEN 0
    XTRIM str MAXLEN 0
    XTRIM s MINID 5-1
    XRANGE s - +
    XTRIM s MAXLEN 1
    XRANGE s - +
    XTRIM s MAXLEN 0
    XLEN s
    EXISTS s
    XADD s 4 f v
    XADD s 7 f v
    XSETID s 8-0
    XADD s 8-0 f v
    XADD s 8-* f v
    XSETID s 1
    XSETID s 100 ENTRIESADDED 1
    XSETID s 100 ENTRIESADDED -1
    XSETID s 100 MAXDELETEDID 200
    XSETID s 100 MAXDELETEDID 50 ENTRIESADDED 40
    XSETID s 99
    XSETID s 100 BOGUS
    XSETID nokey 1
    XSETID str 1
    XADD s 100-* f v
    XRANGE s - +
    DEL s
    XADD big 1 f v
    XADD big 2 g w
    XADD big 3 f v h x
"#;

/// Trimming across chunk boundaries: approximate trims remove whole nodes
/// of 100 entries, exactly as Redis' listpack nodes.
fn trim_script() -> String {
    let mut s = String::from("FLUSHALL\n");
    for i in 1..=350 {
        s.push_str(&format!("XADD t {i} f v{i}\n"));
    }
    s.push_str(
        "XTRIM t MAXLEN ~ 300\nXLEN t\nXTRIM t MAXLEN ~ 150\nXLEN t\nXRANGE t - + COUNT 2\n\
         XTRIM t MAXLEN ~ 10 LIMIT 50\nXLEN t\nXTRIM t MAXLEN ~ 10 LIMIT 100\nXLEN t\n\
         XTRIM t MINID ~ 320\nXLEN t\nXTRIM t MINID = 320\nXLEN t\nXRANGE t - + COUNT 1\n\
         XADD t MAXLEN ~ 20 1000 f v\nXLEN t\nXADD t MAXLEN 20 1001 f v\nXLEN t\nXRANGE t - + COUNT 1\n\
         XDEL t 331 332\nXADD t MINID 340 1002 f v\nXRANGE t - + COUNT 1\nXLEN t\n",
    );
    for i in 2000..2150 {
        s.push_str(&format!("XADD t {i} f v\n"));
    }
    s.push_str("XDEL t 2000 2001 2100\nXRANGE t 2098 2102\nXREVRANGE t 2002 1900 COUNT 3\n");
    s
}

/// Consumer groups without timing-dependent fields.
const GROUP_SCRIPT: &str = r#"
    FLUSHALL
    SET str v
    XGROUP CREATE s g $
    XGROUP CREATE s g $ MKSTREAM
    XGROUP CREATE s g $ MKSTREAM
    XGROUP CREATE str g $
    XGROUP CREATE s g2 0 ENTRIESREAD -2
    XGROUP CREATE s g2 0 ENTRIESREAD x
    XGROUP CREATE s g2 0 BOGUS
    XGROUP CREATE s g2 x
    XGROUP CREATE s g2 + 
    XGROUP SETID s nog 0
    XGROUP SETID s g 0 ENTRIESREAD
    XGROUP CREATECONSUMER s nog c
    XGROUP DELCONSUMER nokey g c
    XGROUP DESTROY s nog
    XGROUP BOGUS s g
    XGROUP CREATE s
    XADD s 1 a 1
    XADD s 2 b 2
    XADD s 3 c 3
    XADD s 4 d 4
    XGROUP CREATE s g2 0
    XGROUP CREATE s g3 2 ENTRIESREAD 2
    XINFO GROUPS s
    XREADGROUP GROUP g2 alice COUNT 2 STREAMS s >
    XREADGROUP GROUP g2 alice STREAMS s 0
    XREADGROUP GROUP g2 bob COUNT 1 STREAMS s >
    XREADGROUP GROUP g2 bob NOACK STREAMS s >
    XREADGROUP GROUP g2 bob STREAMS s >
    XREADGROUP GROUP g2 bob STREAMS s 0
    XINFO GROUPS s
    XPENDING s g2
    XPENDING s g2 - + 10 nobody
    XPENDING s g2 IDLE 100000000 - + 10
    XPENDING s g2 - + x
    XPENDING s g2 - +
    XPENDING s g2 IDLE 5 - +
    XPENDING s nog
    XPENDING nokey g
    XPENDING str g
    XACK s g2 1 2 9 1
    XACK s g2 x
    XACK s nog x
    XACK nokey g 1
    XACK str g 1
    XPENDING s g2
    XREADGROUP GROUP g3 carol STREAMS s >
    XDEL s 3
    XREADGROUP GROUP g3 carol STREAMS s 0
    XINFO GROUPS s
    XCLAIM s g3 dave 0 3 4 JUSTID
    XCLAIM s g3 dave 0 4 RETRYCOUNT 7 JUSTID
    XPENDING s g3
    XCLAIM s g3 dave 0 1 FORCE JUSTID
    XCLAIM s g3 dave 0 4 BOGUS
    XCLAIM s g3 dave x 4
    XCLAIM s g3 dave 0 4 IDLE x
    XCLAIM s g3 dave 0 4 LASTID x
    XCLAIM s g3 dave 0 4 IDLE -9223372036854775808 TIME 5 JUSTID
    XCLAIM s g3 dave 0 4 IDLE -9223372036854775808 JUSTID
    XCLAIM s nog dave 0 4
    XCLAIM str g dave 0 4
    XCLAIM s g3 erin 100000000 4
    XCLAIM s g3 erin 0 4 LASTID 9
    XINFO GROUPS s
    XAUTOCLAIM s g3 frank 0 0 COUNT 1
    XAUTOCLAIM s g3 frank 0 0 COUNT 1 JUSTID
    XAUTOCLAIM s g3 frank 0 0 COUNT 0
    XAUTOCLAIM s g3 frank x 0
    XAUTOCLAIM s g3 frank 0 x
    XAUTOCLAIM s g3 frank 0 0 BOGUS
    XAUTOCLAIM s nog frank 0 0
    XGROUP CREATECONSUMER s g3 zed
    XGROUP CREATECONSUMER s g3 zed
    XGROUP DELCONSUMER s g3 frank
    XGROUP DELCONSUMER s g3 nobody
    XPENDING s g3
    XGROUP SETID s g3 $
    XGROUP SETID s g3 0 ENTRIESREAD 0
    XINFO GROUPS s
    XGROUP DESTROY s g3
    XINFO GROUPS s
    XREAD STREAMS s
    XREAD STREAMS s 0 1
    XREAD COUNT 1 STREAMS s nokey 0 0
    XREAD STREAMS s $
    XREAD STREAMS s >
    XREAD GROUP g c STREAMS s 0
    XREAD NOACK STREAMS s 0
    XREAD BLOCK x STREAMS s 0
    XREAD BLOCK -1 STREAMS s 0
    XREAD STREAMS str 0
    XREADGROUP GROUP g2 c STREAMS s $
    XREADGROUP STREAMS s >
    XREADGROUP GROUP g2 c STREAMS s
    XREADGROUP GROUP nog c STREAMS s >
    XREADGROUP GROUP g2 c STREAMS nokey >
    XREADGROUP GROUP g2 c STREAMS s x
    XINFO STREAM nokey
    XINFO STREAM str
    XINFO STREAM s FULL COUNT
    XINFO STREAM s FULL x
    XINFO STREAM s FULL COUNT x
    XINFO GROUPS nokey
    XINFO CONSUMERS s nog
    XINFO BOGUS s
    XINFO HELP
    XGROUP HELP
    FLUSHALL
    XADD s 1 f v
    XGROUP CREATE s g $
    XREADGROUP GROUP g newc STREAMS s >
    XINFO CONSUMERS s g
    XADD s 2 f v
    XREADGROUP GROUP g c3 STREAMS s >
    XDEL s 2
    XREADGROUP GROUP g c3 STREAMS s 0
    XCLAIM s g c4 0 2
    XPENDING s g
    XGROUP CREATE s g2 0
    XREADGROUP GROUP g2 c COUNT 1 STREAMS s >
    XINFO GROUPS s
    XADD s 3 f v
    XADD s 4 f v
    XREADGROUP GROUP g2 c COUNT 1 STREAMS s >
    XCLAIM s g2 d 0 1 3
    XINFO GROUPS s
    XGROUP SETID s g2 0
    XINFO GROUPS s
    XREADGROUP GROUP g2 c STREAMS s >
    XINFO GROUPS s
    XTRIM s MAXLEN 1
    XINFO GROUPS s
    XGROUP CREATE s g5 1 ENTRIESREAD 100
    XGROUP CREATE s g6 $ ENTRIESREAD 3
    XINFO GROUPS s
    XREADGROUP GROUP g2 c STREAMS s 0
    XSETID s 10 ENTRIESADDED 20 MAXDELETEDID 9
    XINFO GROUPS s
"#;

#[test]
fn entries_match_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    assert_same_replies(redis.port, ours.port, &script(ENTRY_SCRIPT));
    assert_same_resp3_replies(redis.port, ours.port, &script(ENTRY_SCRIPT));
    assert_same_replies(redis.port, ours.port, &script(&trim_script()));
}

#[test]
fn groups_match_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    assert_same_replies(redis.port, ours.port, &script(GROUP_SCRIPT));
    assert_same_resp3_replies(redis.port, ours.port, &script(GROUP_SCRIPT));
}

/// XINFO STREAM (and FULL) with the radix tree's node count masked (a
/// detail of Redis' rax) and delivery/seen times masked.
#[test]
fn xinfo_stream_matches_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let setup = script(
        "FLUSHALL\nXADD s 1 a 1\nXADD s 2 b 2 c 3\nXADD s 3 a 4\nXDEL s 2\n\
         XGROUP CREATE s g 0\nXGROUP CREATE s h $\nXREADGROUP GROUP g c1 COUNT 1 STREAMS s >",
    );
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(ours.port));
    assert_same_on(&mut a, &mut b, &setup);
    for proto in ["2", "3"] {
        let cmds: [&[&[u8]]; 5] = [
            &[b"HELLO", proto.as_bytes()],
            &[b"XINFO", b"STREAM", b"s"],
            &[b"XINFO", b"STREAM", b"s", b"FULL"],
            &[b"XINFO", b"STREAM", b"s", b"FULL", b"COUNT", b"1"],
            &[b"XINFO", b"STREAM", b"empty"],
        ];
        for (i, c) in cmds.iter().enumerate() {
            if i == 0 {
                a.resp3 = proto == "3";
                b.resp3 = proto == "3";
            }
            let (ra, rb) = (a.cmd(c), b.cmd(c));
            if i == 0 {
                continue;
            }
            assert_eq!(mask_xinfo(&rb), mask_xinfo(&ra), "{c:?}");
        }
    }
}

/// Masks the values that legitimately differ: the radix tree's node count
/// and unix-ms times (13 digits) of deliveries and consumers.
fn mask_xinfo(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut out = Vec::new();
    let mut mask_next = false;
    for line in text.split("\r\n") {
        if mask_next && line.starts_with(':') {
            out.push(":N".to_string());
            mask_next = false;
            continue;
        }
        mask_next = line == "radix-tree-nodes" || line == "seen-time";
        let is_time = line.len() == 14 && line.starts_with(':');
        out.push(if is_time {
            ":T".into()
        } else {
            line.to_string()
        });
    }
    out.join("\r\n")
}

/// A blocked XREAD is woken by an XADD (every waiter of the key gets the
/// entry, like Redis), `$` means "after the current top", and a timeout
/// answers nil; a blocked XREADGROUP takes the new entry for its consumer.
#[test]
fn blocking_reads_are_served_by_xadd() {
    let ours = start_ringcache(&[]);
    let mut setup = RawConn::connect(ours.port);
    setup.cmd_str("XADD s 1 f old");
    let mut w1 = RawConn::connect(ours.port);
    let mut w2 = RawConn::connect(ours.port);
    let mut far = RawConn::connect(ours.port);
    w1.send_raw(&encode(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"other", b"s", b"0", b"$",
    ]));
    w2.send_raw(&encode(&[
        b"XREAD", b"COUNT", b"5", b"BLOCK", b"5000", b"STREAMS", b"s", b"$",
    ]));
    far.send_raw(&encode(&[
        b"XREAD", b"BLOCK", b"5000", b"STREAMS", b"s", b"100",
    ]));
    assert!(eventually(Duration::from_secs(5), || {
        info_field(ours.port, "clients", "blocked_clients").as_deref() == Some("3")
    }));
    assert_eq!(setup.cmd_str("XADD s 2 f new"), "$3\r\n2-0\r\n");
    let want = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$3\r\nnew\r\n";
    assert_eq!(String::from_utf8_lossy(&w1.read_reply()), want);
    assert_eq!(String::from_utf8_lossy(&w2.read_reply()), want);
    // The waiter after ID 100 is not served by entry 2, but by 101.
    assert_eq!(setup.cmd_str("XADD s 101 f later"), "$5\r\n101-0\r\n");
    assert!(String::from_utf8_lossy(&far.read_reply()).contains("later"));
    // Timeout.
    let start = Instant::now();
    assert_eq!(
        w1.cmd(&[b"XREAD", b"BLOCK", b"200", b"STREAMS", b"s", b"$"]),
        b"*-1\r\n"
    );
    assert!(start.elapsed() >= Duration::from_millis(190));
    // XREADGROUP: two consumers blocked on `>`; one XADD serves exactly one.
    setup.cmd_str("XGROUP CREATE s g $");
    let mut c1 = RawConn::connect(ours.port);
    let mut c2 = RawConn::connect(ours.port);
    for (n, (c, name)) in [(&mut c1, &b"c1"[..]), (&mut c2, b"c2")]
        .into_iter()
        .enumerate()
    {
        c.send_raw(&encode(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            name,
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ]));
        // Queue them in a known order: c1 is served first.
        let want = (n + 1).to_string();
        assert!(eventually(Duration::from_secs(5), || {
            info_field(ours.port, "clients", "blocked_clients").as_deref() == Some(&want[..])
        }));
    }
    setup.cmd_str("XADD s 200 job 1");
    assert!(String::from_utf8_lossy(&c1.read_reply()).contains("200-0"));
    assert_eq!(
        setup
            .cmd_str("XPENDING s g - + 10 c1")
            .matches("200-0")
            .count(),
        1
    );
    setup.cmd_str("XADD s 201 job 2");
    assert!(String::from_utf8_lossy(&c2.read_reply()).contains("201-0"));
    // A group destroyed under a blocked reader ends its wait with NOGROUP.
    c1.send_raw(&encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c1",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]));
    assert!(eventually(Duration::from_secs(5), || {
        info_field(ours.port, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    setup.cmd_str("XGROUP DESTROY s g");
    assert_eq!(
        String::from_utf8_lossy(&c1.read_reply()),
        "-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    );
    // CLIENT UNBLOCK ends an XREAD like a timeout.
    let id = w1.cmd_str("CLIENT ID");
    let id = id.trim_start_matches(':').trim();
    w1.send_raw(&encode(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]));
    assert!(eventually(Duration::from_secs(5), || {
        info_field(ours.port, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    assert_eq!(setup.cmd_str(&format!("CLIENT UNBLOCK {id}")), ":1\r\n");
    assert_eq!(w1.read_reply(), b"*-1\r\n");
    // Inside MULTI a BLOCK read does not wait.
    assert_eq!(w1.cmd_str("MULTI"), "+OK\r\n");
    w1.cmd_str("XREAD BLOCK 0 STREAMS s $");
    assert_eq!(w1.cmd_str("EXEC"), "*1\r\n*-1\r\n");
}

/// Waits until `port` reports `n` blocked clients.
fn wait_blocked(port: u16, n: usize) {
    let want = n.to_string();
    assert!(
        eventually(Duration::from_secs(5), || {
            info_field(port, "clients", "blocked_clients").as_deref() == Some(&want[..])
        }),
        "never saw {n} blocked clients on {port}"
    );
}

/// One blocking scenario on a server, returning every reply in order.
fn blocking_scenario(port: u16) -> Vec<String> {
    let mut replies = Vec::new();
    let mut note = |r: Vec<u8>| replies.push(String::from_utf8_lossy(&r).into_owned());
    let mut admin = RawConn::connect(port);
    let mut w1 = RawConn::connect(port);
    let mut w2 = resp3_conn(port);
    note(admin.cmd_str("FLUSHALL").into_bytes());
    note(admin.cmd_str("XADD s 1 f old").into_bytes());
    w1.send_raw(&encode(&[
        b"XREAD", b"BLOCK", b"0", b"STREAMS", b"other", b"s", b"0", b"$",
    ]));
    wait_blocked(port, 1);
    w2.send_raw(&encode(&[
        b"XREAD", b"COUNT", b"1", b"BLOCK", b"5000", b"STREAMS", b"s", b"$",
    ]));
    wait_blocked(port, 2);
    note(admin.cmd_str("XADD s 2 f new g h").into_bytes());
    note(w1.read_reply());
    note(w2.read_reply());
    // A group reader loses its stream: deleted, replaced, flushed; or its group.
    let ends: [&str; 4] = ["DEL s", "SET s x", "FLUSHALL", "XGROUP DESTROY s g"];
    for end in ends {
        note(admin.cmd_str("DEL s").into_bytes());
        note(admin.cmd_str("XGROUP CREATE s g $ MKSTREAM").into_bytes());
        w1.send_raw(&encode(&[
            b"XREADGROUP",
            b"GROUP",
            b"g",
            b"c",
            b"BLOCK",
            b"0",
            b"STREAMS",
            b"s",
            b">",
        ]));
        wait_blocked(port, 1);
        note(admin.cmd_str(end).into_bytes());
        note(w1.read_reply());
    }
    // A group reader served by XADD (RESP3), then its pending entry.
    note(admin.cmd_str("DEL s").into_bytes());
    note(admin.cmd_str("XGROUP CREATE s g $ MKSTREAM").into_bytes());
    w2.send_raw(&encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"NOACK",
        b"STREAMS",
        b"s",
        b">",
    ]));
    wait_blocked(port, 1);
    note(admin.cmd_str("XADD s 5 job 1").into_bytes());
    note(w2.read_reply());
    note(admin.cmd_str("XPENDING s g").into_bytes());
    note(admin.cmd_str("XINFO GROUPS s").into_bytes());
    replies
}

/// Blocked XREAD / XREADGROUP behave exactly as on redis-server.
#[test]
fn blocking_reads_match_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    assert_eq!(blocking_scenario(ours.port), blocking_scenario(redis.port));
}

/// The README's queue pattern with streams: several workers read through
/// one group concurrently and acknowledge; a worker that died with entries
/// pending has them claimed by another with XAUTOCLAIM. Every job is
/// processed exactly once by the live workers.
#[test]
fn consumer_group_queue_with_dead_worker() {
    let ours = start_ringcache(&[]);
    let port = ours.port;
    let mut admin = RawConn::connect(port);
    admin.cmd_str("XGROUP CREATE jobs workers $ MKSTREAM");
    // The dead worker takes 5 jobs and never acknowledges them.
    for i in 0..5 {
        admin.cmd_str(&format!("XADD jobs * n {i}"));
    }
    let dead = admin.cmd_str("XREADGROUP GROUP workers dead COUNT 5 STREAMS jobs >");
    assert_eq!(dead.matches("$1\r\nn\r\n").count(), 5);
    // Its entries are idle longer than CLAIM_IDLE before the live workers
    // start, theirs never are: a live worker acknowledges a batch at once
    // (with 50 ms, a worker descheduled on a loaded machine had its batch
    // claimed by another, and its XACK answered 0).
    const CLAIM_IDLE: &[u8] = b"1000";
    std::thread::sleep(Duration::from_millis(1100));
    let total = 200;
    let producer = std::thread::spawn(move || {
        let mut c = RawConn::connect(port);
        for i in 5..total {
            c.cmd_str(&format!("XADD jobs * n {i}"));
        }
    });
    let workers: Vec<_> = (0..3)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let name = format!("w{w}");
                let mut done = Vec::new();
                let mut idle_rounds = 0;
                while idle_rounds < 3 {
                    // Claim entries idle for CLAIM_IDLE (the dead worker's) first.
                    let claimed = c.cmd(&[
                        b"XAUTOCLAIM",
                        b"jobs",
                        b"workers",
                        name.as_bytes(),
                        CLAIM_IDLE,
                        b"0",
                        b"COUNT",
                        b"10",
                    ]);
                    let mut got = jobs_in(&claimed);
                    let fresh = c.cmd(&[
                        b"XREADGROUP",
                        b"GROUP",
                        b"workers",
                        name.as_bytes(),
                        b"COUNT",
                        b"7",
                        b"BLOCK",
                        b"300",
                        b"STREAMS",
                        b"jobs",
                        b">",
                    ]);
                    got.extend(jobs_in(&fresh));
                    if got.is_empty() {
                        idle_rounds += 1;
                        continue;
                    }
                    idle_rounds = 0;
                    for (id, n) in got {
                        assert_eq!(
                            c.cmd(&[b"XACK", b"jobs", b"workers", id.as_bytes()]),
                            b":1\r\n"
                        );
                        done.push(n);
                    }
                }
                done
            })
        })
        .collect();
    producer.join().expect("producer");
    let mut all: Vec<u32> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<u32>>());
    assert_eq!(admin.cmd_str("XPENDING jobs workers - + 10"), "*0\r\n");
    assert_eq!(admin.cmd_str("XLEN jobs"), format!(":{total}\r\n"));
}

/// `(id, job number)` of every entry `[id, [n, <job>]]` in a reply.
fn jobs_in(reply: &[u8]) -> Vec<(String, u32)> {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    for i in 0..lines.len() {
        if lines[i] == "n" && i >= 3 && lines[i - 2] == "*2" {
            let id = lines[i - 3].to_string();
            if let Ok(n) = lines[i + 2].parse() {
                out.push((id, n));
            }
        }
    }
    out
}

/// TYPE, OBJECT ENCODING, WATCH and RENAME/COPY see streams like any value.
#[test]
fn streams_are_ordinary_keys() {
    let ours = start_ringcache(&[]);
    let mut c = RawConn::connect(ours.port);
    let mut other = RawConn::connect(ours.port);
    c.cmd_str("XADD s 1 f v");
    assert_eq!(c.cmd_str("TYPE s"), "+stream\r\n");
    assert_eq!(c.cmd_str("OBJECT ENCODING s"), "$6\r\nstream\r\n");
    c.cmd_str("WATCH s");
    other.cmd_str("XADD s 2 f v");
    c.cmd_str("MULTI");
    c.cmd_str("XLEN s");
    assert_eq!(c.cmd_str("EXEC"), "*-1\r\n");
    // A read-only XREAD does not touch watchers.
    c.cmd_str("WATCH s");
    other.cmd_str("XREAD STREAMS s 0");
    c.cmd_str("MULTI");
    c.cmd_str("XLEN s");
    assert_eq!(c.cmd_str("EXEC"), "*1\r\n:2\r\n");
    assert_eq!(c.cmd_str("COPY s s2"), ":1\r\n");
    assert_eq!(c.cmd_str("XLEN s2"), ":2\r\n");
    c.cmd_str("PEXPIRE s2 50");
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(c.cmd_str("XLEN s2"), ":0\r\n");
}

/// Streams keep their entries, counters, groups and pending entries when a
/// node joins and their slots migrate (the migration dump carries streams),
/// and stream commands are routed to the owner in cluster mode.
#[test]
fn streams_survive_slot_migration() {
    use common::cluster::{start_node, tmp, wait_converged, wait_rebalanced};
    let mut nodes = vec![start_node(tmp(), free_port(), &[])];
    wait_converged(&nodes, 1);
    let mut c = RawConn::connect(nodes[0].port());
    const KEYS: usize = 40;
    let snapshot = |c: &mut RawConn| -> Vec<String> {
        let mut out = Vec::new();
        for k in 0..KEYS {
            let key = format!("stream:{k}");
            for cmd in [
                format!("XRANGE {key} - +"),
                format!("XINFO GROUPS {key}"),
                format!("XPENDING {key} g"),
                format!("XLEN {key}"),
            ] {
                out.push(c.cmd_str(&cmd));
            }
        }
        out
    };
    for k in 0..KEYS {
        let key = format!("stream:{k}");
        for i in 1..=(k % 7 + 3) {
            c.cmd_str(&format!("XADD {key} {i}-{k} f{i} v{k}"));
        }
        c.cmd_str(&format!("XDEL {key} 2-{k}"));
        c.cmd_str(&format!("XGROUP CREATE {key} g 0"));
        c.cmd_str(&format!("XREADGROUP GROUP g w{k} COUNT 2 STREAMS {key} >"));
    }
    let before = snapshot(&mut c);
    assert!(before[0].contains("f1"), "{}", before[0]);
    let seed = format!("127.0.0.1:{}", nodes[0].port());
    nodes.push(start_node(tmp(), free_port(), &["--join", seed.as_str()]));
    wait_converged(&nodes, 2);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(30));
    let moved = redis_cli(nodes[1].port(), &["dbsize"]);
    assert!(
        moved.trim().parse::<usize>().unwrap_or(0) > 0,
        "nothing moved: {moved}"
    );
    for n in &nodes {
        let mut c = RawConn::connect(n.port());
        assert_eq!(snapshot(&mut c), before);
    }
}

/// COMMAND INFO of the stream commands (name, arity, flags, key positions)
/// and COMMAND GETKEYS of the movable XREAD/XREADGROUP match redis-server.
#[test]
fn command_info_matches_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(ours.port));
    let names = [
        "xadd",
        "xlen",
        "xrange",
        "xrevrange",
        "xdel",
        "xtrim",
        "xsetid",
        "xread",
        "xreadgroup",
        "xack",
        "xpending",
        "xclaim",
        "xautoclaim",
        "xgroup|create",
        "xgroup|setid",
        "xgroup|destroy",
        "xgroup|createconsumer",
        "xgroup|delconsumer",
        "xinfo|stream",
        "xinfo|groups",
        "xinfo|consumers",
    ];
    for name in names {
        let info = |c: &mut RawConn| {
            let r = String::from_utf8_lossy(&c.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]))
                .into_owned();
            let lines: Vec<String> = r.lines().map(str::to_string).collect();
            let n = lines
                .iter()
                .position(|l| l.contains('@'))
                .unwrap_or(lines.len());
            lines[..n].to_vec()
        };
        assert_eq!(info(&mut b), info(&mut a), "COMMAND INFO {name}");
    }
    let getkeys = script(
        "COMMAND GETKEYS XREAD COUNT 2 STREAMS a b 0 0\n\
         COMMAND GETKEYS XREADGROUP GROUP g c BLOCK 0 STREAMS a b c > > >\n\
         COMMAND GETKEYS XINFO STREAM k\n\
         COMMAND GETKEYS XGROUP CREATE k g $",
    );
    assert_same_on(&mut a, &mut b, &getkeys);
}

/// Replaces the values that depend on when a command ran: the idle time
/// of each XPENDING row (third of four) and XINFO CONSUMERS' `idle`.
fn mask_idle(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    for i in 0..lines.len() {
        let pending_row = lines[i] == "*4" && lines.get(i + 5).is_some_and(|l| l.starts_with(':'));
        if pending_row {
            lines[i + 5] = ":IDLE".into();
        }
        if lines[i] == "idle" && lines.get(i + 1).is_some_and(|l| l.starts_with(':')) {
            lines[i + 1] = ":IDLE".into();
        }
    }
    lines.join("\r\n")
}

/// XPENDING's extended form and XINFO CONSUMERS match redis-server but for
/// the idle times.
#[test]
fn pending_details_match_redis() {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let (mut a, mut b) = (RawConn::connect(redis.port), RawConn::connect(ours.port));
    let setup = script(
        "FLUSHALL\nXADD s 1 a 1\nXADD s 2 b 2\nXADD s 3 c 3\nXADD s 4 d 4\nXGROUP CREATE s g 0\n\
         XREADGROUP GROUP g alice COUNT 2 STREAMS s >\nXREADGROUP GROUP g bob STREAMS s >\n\
         XREADGROUP GROUP g alice STREAMS s 0\nXCLAIM s g carol 0 2 RETRYCOUNT 5 JUSTID\n\
         XGROUP CREATECONSUMER s g dave",
    );
    assert_same_on(&mut a, &mut b, &setup);
    for line in [
        "XPENDING s g - + 10",
        "XPENDING s g - + 2",
        "XPENDING s g (1 + 10",
        "XPENDING s g - (4 10 bob",
        "XPENDING s g 3 + 10 alice",
        "XPENDING s g IDLE 0 - + 10",
        "XPENDING s g - + 0",
        "XPENDING s g + - 10",
        "XINFO CONSUMERS s g",
    ] {
        let args = script(line).remove(0);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(mask_idle(&b.cmd(&args)), mask_idle(&a.cmd(&args)), "{line}");
    }
}
