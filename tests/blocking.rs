//! Blocking list commands with several real clients. Each scenario runs
//! against a real redis-server and against ringcache, and the transcripts of
//! every reply must be identical.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Waits until the server reports `n` blocked clients.
fn wait_blocked(port: u16, n: usize) {
    let mut c = RawConn::connect(port);
    let want = format!("blocked_clients:{n}\r\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"clients"])).into_owned();
        if info.contains(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {want}: {info}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends a command without reading its reply (the client blocks).
fn send(c: &mut RawConn, line: &str) {
    let parts: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
    c.send_raw(&encode(&parts));
}

/// Sends `block` on `blocked`, waits until `n` clients are blocked, runs
/// `wake` on `waker` and records the waker's and then the blocked reply.
fn block_and_wake(
    t: &mut Vec<String>,
    port: u16,
    blocked: &mut RawConn,
    block: &str,
    n: usize,
    waker: &mut RawConn,
    wake: &str,
) {
    send(blocked, block);
    wait_blocked(port, n);
    t.push(waker.cmd_str(wake));
    t.push(text(blocked.read_reply()));
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn blpop_wakes_on_push_from_another_client() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut blocked = RawConn::connect(port);
        let mut pusher = RawConn::connect(port);
        pusher.cmd_str("FLUSHALL");
        send(&mut blocked, "BLPOP k1 k2 0");
        wait_blocked(port, 1);
        // The push and the following read are pipelined: the element must
        // already be gone when LLEN runs.
        pusher.send_raw(
            &[
                encode(&[b"RPUSH", b"k2", b"a", b"b"]),
                encode(&[b"LLEN", b"k2"]),
            ]
            .concat(),
        );
        t.push(text(pusher.read_reply()));
        t.push(text(pusher.read_reply()));
        t.push(text(blocked.read_reply()));
        wait_blocked(port, 0);
        // Pipelined commands behind a blocked one run after it is served.
        blocked.send_raw(&[encode(&[b"BRPOP", b"k3", b"0"]), encode(&[b"PING"])].concat());
        wait_blocked(port, 1);
        t.push(pusher.cmd_str("LPUSH k3 x"));
        t.push(text(blocked.read_reply()));
        t.push(text(blocked.read_reply()));
        // BLMPOP served after blocking, and the RESP3 form of a served reply.
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BLMPOP 0 2 m1 m2 RIGHT COUNT 2",
            1,
            &mut pusher,
            "RPUSH m2 x y z",
        );
        blocked.resp3 = true;
        assert!(blocked.cmd(&[b"HELLO", b"3"]).starts_with(b"%"));
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BLPOP m3 0",
            1,
            &mut pusher,
            "RPUSH m3 r3",
        );
        t
    });
}

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut pusher = RawConn::connect(port);
        pusher.cmd_str("FLUSHALL");
        let mut clients: Vec<RawConn> = (0..3).map(|_| RawConn::connect(port)).collect();
        for (i, c) in clients.iter_mut().enumerate() {
            send(c, "BLPOP q 0");
            wait_blocked(port, i + 1);
        }
        // One element wakes only the first client.
        t.push(pusher.cmd_str("RPUSH q first"));
        t.push(text(clients[0].read_reply()));
        wait_blocked(port, 2);
        send(&mut clients[0], "BLPOP q 0");
        wait_blocked(port, 3);
        t.push(pusher.cmd_str("RPUSH q a b c d"));
        for c in clients.iter_mut().skip(1) {
            t.push(text(c.read_reply()));
        }
        t.push(text(clients[0].read_reply()));
        t.push(pusher.cmd_str("LRANGE q 0 -1"));
        t
    });
}

#[test]
fn timeout_returns_nil_after_the_timeout() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut c = RawConn::connect(port);
        for cmd in [
            "BLPOP nokey 0.3",
            "BLMOVE nokey d LEFT LEFT 0.3",
            "BLMPOP 0.3 1 nokey LEFT",
        ] {
            let start = Instant::now();
            t.push(c.cmd_str(cmd));
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(280) && took < Duration::from_secs(3),
                "{cmd} took {took:?}"
            );
        }
        c.resp3 = true;
        assert!(c.cmd(&[b"HELLO", b"3"]).starts_with(b"%"));
        t.push(c.cmd_str("BRPOP nokey 0.1"));
        t
    });
}

#[test]
fn blmove_moves_atomically_and_chains_to_the_destination_waiters() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut pusher = RawConn::connect(port);
        pusher.cmd_str("FLUSHALL");
        let mut mover = RawConn::connect(port);
        let mut popper = RawConn::connect(port);
        send(&mut mover, "BLMOVE src dst LEFT RIGHT 0");
        wait_blocked(port, 1);
        send(&mut popper, "BLPOP dst 0");
        wait_blocked(port, 2);
        t.push(pusher.cmd_str("RPUSH src a b"));
        t.push(text(mover.read_reply()));
        t.push(text(popper.read_reply()));
        t.push(pusher.cmd_str("LRANGE src 0 -1"));
        t.push(pusher.cmd_str("EXISTS dst"));
        // A destination of the wrong type: the waiter gets WRONGTYPE, the
        // element stays in the source.
        pusher.cmd_str("SET dst2 str");
        block_and_wake(
            &mut t,
            port,
            &mut mover,
            "BRPOPLPUSH src2 dst2 0",
            1,
            &mut pusher,
            "RPUSH src2 z",
        );
        t.push(pusher.cmd_str("LRANGE src2 0 -1"));
        t
    });
}

#[test]
fn blocked_client_survives_key_deletion_and_type_change() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        let mut blocked = RawConn::connect(port);
        send(&mut blocked, "BLPOP k 0");
        wait_blocked(port, 1);
        t.push(other.cmd_str("SET k str"));
        t.push(other.cmd_str("DEL k"));
        // Pushed and removed again before serving: nothing is handed out.
        t.push(other.cmd_str("MULTI"));
        t.push(other.cmd_str("RPUSH k gone"));
        t.push(other.cmd_str("DEL k"));
        t.push(other.cmd_str("EXEC"));
        t.push(other.cmd_str("MULTI"));
        t.push(other.cmd_str("RPUSH k gone"));
        t.push(other.cmd_str("SET k str"));
        t.push(other.cmd_str("EXEC"));
        std::thread::sleep(Duration::from_millis(50));
        wait_blocked(port, 1);
        t.push(other.cmd_str("DEL k"));
        // A push inside a transaction wakes the client after EXEC; the
        // transaction itself still sees the element.
        t.push(other.cmd_str("MULTI"));
        t.push(other.cmd_str("RPUSH k v"));
        t.push(other.cmd_str("LLEN k"));
        t.push(other.cmd_str("EXEC"));
        t.push(text(blocked.read_reply()));
        t.push(other.cmd_str("EXISTS k"));
        t
    });
}

#[test]
fn blocking_commands_inside_multi_return_at_once() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut c = RawConn::connect(port);
        c.cmd_str("FLUSHALL");
        let start = Instant::now();
        for cmd in [
            "MULTI",
            "BLPOP nokey 0",
            "BLMOVE nokey d LEFT LEFT 0",
            "BLMPOP 0 1 nokey LEFT",
            "EXEC",
        ] {
            t.push(c.cmd_str(cmd));
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        t
    });
}

#[test]
fn disconnect_while_blocked_does_not_lose_the_next_push() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut pusher = RawConn::connect(port);
        pusher.cmd_str("FLUSHALL");
        let mut gone = RawConn::connect(port);
        send(&mut gone, "BLPOP k 0");
        let mut stays = RawConn::connect(port);
        wait_blocked(port, 1);
        send(&mut stays, "BLPOP k 0");
        wait_blocked(port, 2);
        drop(gone);
        wait_blocked(port, 1);
        t.push(pusher.cmd_str("RPUSH k a b"));
        t.push(text(stays.read_reply()));
        t.push(pusher.cmd_str("LRANGE k 0 -1"));
        t
    });
}

#[test]
fn client_kill_closes_a_blocked_client() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut admin = RawConn::connect(port);
        let mut blocked = RawConn::connect(port);
        let id = blocked.cmd_str("CLIENT ID");
        let id = id.trim().trim_start_matches(':').to_string();
        send(&mut blocked, "BRPOP k 0");
        wait_blocked(port, 1);
        t.push(admin.cmd_str(&format!("CLIENT KILL ID {id}")));
        assert!(blocked.is_closed(), "killed client must be disconnected");
        wait_blocked(port, 0);
        t.push(admin.cmd_str("RPUSH k a"));
        t.push(admin.cmd_str("LLEN k"));
        t
    });
}

/// Parses a RESP2 `[key, element]` or bulk reply into the element, None for nil.
fn element(reply: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(reply);
    if s.starts_with("*-1") || s.starts_with("$-1") {
        return None;
    }
    s.split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with(['*', '$']))
        .last()
        .map(str::to_string)
}

#[test]
fn concurrent_pushes_reach_exactly_one_waiter_each() {
    let rc = start_ringcache(&[]);
    let port = rc.port;
    let consumers: Vec<_> = (0..5)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                let mut got = Vec::new();
                let cmd = if i == 0 {
                    "BLMOVE q moved LEFT RIGHT 1"
                } else {
                    "BLPOP q 1"
                };
                loop {
                    match element(&c.cmd_str(cmd).into_bytes()) {
                        // BLMOVE's elements are counted from the `moved` list.
                        Some(e) if i > 0 => got.push(e),
                        Some(_) => {}
                        None => return got,
                    }
                }
            })
        })
        .collect();
    wait_blocked(port, 5);
    let producers: Vec<_> = (0..3)
        .map(|p| {
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                for n in 0..300 {
                    let push = if n % 2 == 0 { "RPUSH" } else { "LPUSH" };
                    c.cmd_str(&format!("{push} q p{p}-{n}"));
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let mut all: Vec<String> = Vec::new();
    for c in consumers {
        all.extend(c.join().expect("consumer"));
    }
    assert!(!all.is_empty(), "blocked consumers received nothing");
    let mut admin = RawConn::connect(port);
    let moved = admin.cmd_str("LRANGE moved 0 -1");
    all.extend(
        moved
            .split("\r\n")
            .filter(|l| l.starts_with('p'))
            .map(str::to_string),
    );
    let left = admin.cmd_str("LRANGE q 0 -1");
    all.extend(
        left.split("\r\n")
            .filter(|l| l.starts_with('p'))
            .map(str::to_string),
    );
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, all.len(), "an element was delivered twice");
    assert_eq!(all.len(), 900, "an element was lost");
    assert!(String::from_utf8_lossy(&admin.cmd(&[b"INFO", b"clients"]))
        .contains("blocked_clients:0\r\n"));
}

#[test]
fn client_unblock_ends_a_wait_with_timeout_or_error() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut admin = RawConn::connect(port);
        let mut blocked = RawConn::connect(port);
        let id = blocked.cmd_str("CLIENT ID");
        let id = id.trim().trim_start_matches(':').to_string();
        for cmd in [
            "CLIENT UNBLOCK 999999",
            "CLIENT UNBLOCK abc",
            "CLIENT UNBLOCK abc foo",
            "CLIENT UNBLOCK -5",
            "CLIENT UNBLOCK 1 timeout x",
        ] {
            t.push(admin.cmd_str(cmd));
        }
        t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id}")));
        for reason in ["", "TIMEOUT", "error"] {
            send(&mut blocked, "BLMOVE k d LEFT LEFT 0");
            wait_blocked(port, 1);
            t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id} {reason}")));
            t.push(text(blocked.read_reply()));
            wait_blocked(port, 0);
        }
        t.push(admin.cmd_str(&format!("CLIENT UNBLOCK {id} ERROR")));
        t
    });
}

#[test]
fn rename_and_copy_into_a_waited_key_wake_the_waiter() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        let mut blocked = RawConn::connect(port);
        send(&mut blocked, "BLPOP k 0");
        wait_blocked(port, 1);
        t.push(other.cmd_str("RPUSH tmp a b"));
        t.push(other.cmd_str("RENAME tmp k"));
        t.push(text(blocked.read_reply()));
        t.push(other.cmd_str("LRANGE k 0 -1"));
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BRPOP k2 0",
            1,
            &mut other,
            "COPY k k2",
        );
        t.push(other.cmd_str("EXISTS k2"));
        t
    });
}

#[test]
fn move_and_swapdb_wake_waiters_of_the_other_database() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        let mut blocked = RawConn::connect(port);
        t.push(blocked.cmd_str("SELECT 1"));
        send(&mut blocked, "BLPOP k 0");
        wait_blocked(port, 1);
        t.push(other.cmd_str("RPUSH k a"));
        t.push(other.cmd_str("MOVE k 1"));
        t.push(text(blocked.read_reply()));
        send(&mut blocked, "BLPOP k2 0");
        wait_blocked(port, 1);
        t.push(other.cmd_str("RPUSH k2 b c"));
        t.push(other.cmd_str("SWAPDB 0 1"));
        t.push(text(blocked.read_reply()));
        t.push(other.cmd_str("LLEN k2"));
        t.push(other.cmd_str("SELECT 1"));
        t.push(other.cmd_str("LRANGE k2 0 -1"));
        t
    });
}

#[test]
fn bzpopmin_and_bzpopmax_block_and_wake_like_redis() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut blocked = RawConn::connect(port);
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        // Served at once, from the first non-empty key; emptied keys vanish.
        t.push(other.cmd_str("ZADD z1 1 a 2 b"));
        t.push(blocked.cmd_str("BZPOPMIN z0 z1 0"));
        t.push(blocked.cmd_str("BZPOPMAX z1 0"));
        t.push(other.cmd_str("EXISTS z1"));
        // Wrong type, bad timeout, timeout.
        t.push(other.cmd_str("SET str x"));
        t.push(blocked.cmd_str("BZPOPMIN str 0"));
        t.push(blocked.cmd_str("BZPOPMIN z1 abc"));
        t.push(blocked.cmd_str("BZPOPMIN z1 -1"));
        t.push(blocked.cmd_str("BZPOPMAX z1 0.05"));
        // Blocks, then is woken by ZADD from another client.
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BZPOPMAX z2 z3 0",
            1,
            &mut other,
            "ZADD z3 5 x 7 y",
        );
        t.push(other.cmd_str("ZRANGE z3 0 -1 WITHSCORES"));
        // Inside MULTI it answers at once.
        t.push(blocked.cmd_str("MULTI"));
        t.push(blocked.cmd_str("BZPOPMIN empty 0"));
        t.push(blocked.cmd_str("EXEC"));
        // RESP3 form of a served reply (score as a double).
        blocked.resp3 = true;
        assert!(blocked.cmd(&[b"HELLO", b"3"]).starts_with(b"%"));
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BZPOPMIN z4 0",
            1,
            &mut other,
            "ZADD z4 1.5 m",
        );
        t
    });
}

#[test]
fn bzmpop_and_zmpop_block_and_wake_like_redis() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut blocked = RawConn::connect(port);
        let mut second = RawConn::connect(port);
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        // Served at once from the first non-empty key, with and without COUNT.
        t.push(other.cmd_str("ZADD z1 1 a 2 b 3 c 4 d"));
        t.push(blocked.cmd_str("BZMPOP 0 2 z0 z1 MIN"));
        t.push(blocked.cmd_str("BZMPOP 0 1 z1 MAX COUNT 2"));
        t.push(blocked.cmd_str("ZMPOP 2 z0 z1 MAX COUNT 10"));
        t.push(other.cmd_str("EXISTS z1"));
        t.push(blocked.cmd_str("ZMPOP 1 z1 MIN"));
        // Argument errors, in Redis' order of checks.
        for bad in [
            "BZMPOP 0 0 z MIN",
            "BZMPOP 0 -1 z MIN",
            "BZMPOP 0 x z MIN",
            "BZMPOP 0 3 z MIN",
            "BZMPOP 0 1 z MIDDLE",
            "BZMPOP 0 1 z MIN COUNT 0",
            "BZMPOP 0 1 z MIN COUNT -1",
            "BZMPOP 0 1 z MIN COUNT 1 COUNT 2",
            "BZMPOP 0 1 z MIN COUNT",
            "BZMPOP 0 1 z MIN extra",
            "BZMPOP abc 1 z MIN",
            "BZMPOP -1 1 z MIN",
            "BZMPOP abc 0 z MIN",
            "BZMPOP 0 1 z",
            "ZMPOP 0 z MIN",
            "ZMPOP 1 z MIN COUNT 0",
        ] {
            t.push(blocked.cmd_str(bad));
        }
        // Wrong type, timeout.
        t.push(other.cmd_str("SET str x"));
        t.push(blocked.cmd_str("BZMPOP 0 1 str MIN"));
        t.push(blocked.cmd_str("BZMPOP 0.05 1 z9 MAX"));
        // Two clients block; pushes serve them in arrival order.
        send(&mut blocked, "BZMPOP 0 2 z2 z3 MAX COUNT 2");
        wait_blocked(port, 1);
        send(&mut second, "BZMPOP 0 1 z3 MIN COUNT 5");
        wait_blocked(port, 2);
        t.push(other.cmd_str("ZADD z3 5 x 7 y 9 z"));
        t.push(text(blocked.read_reply()));
        t.push(text(second.read_reply()));
        t.push(other.cmd_str("EXISTS z3"));
        // A key of the wrong type does not end the wait.
        send(&mut blocked, "BZMPOP 0 1 z5 MIN");
        wait_blocked(port, 1);
        t.push(other.cmd_str("SET z5 notazset"));
        t.push(other.cmd_str("DEL z5"));
        t.push(other.cmd_str("ZADD z5 2 two"));
        t.push(text(blocked.read_reply()));
        // Inside MULTI it answers at once.
        t.push(blocked.cmd_str("MULTI"));
        t.push(blocked.cmd_str("BZMPOP 0 1 empty MIN"));
        t.push(blocked.cmd_str("EXEC"));
        // RESP3 form (scores as doubles).
        blocked.resp3 = true;
        assert!(blocked.cmd(&[b"HELLO", b"3"]).starts_with(b"%"));
        block_and_wake(
            &mut t,
            port,
            &mut blocked,
            "BZMPOP 0 1 z4 MIN COUNT 3",
            1,
            &mut other,
            "ZADD z4 1.5 m 2 n",
        );
        t.push(blocked.cmd_str("BZMPOP 0.01 1 z4 MIN"));
        t
    });
}

#[test]
fn resp3_subscriber_gets_pushes_while_blocked() {
    same_transcript(|port| {
        let mut t = Vec::new();
        let mut other = RawConn::connect(port);
        other.cmd_str("FLUSHALL");
        let mut blocked = resp3_conn(port);
        t.push(blocked.cmd_str("SUBSCRIBE ch"));
        send(&mut blocked, "BLPOP q 0");
        wait_blocked(port, 1);
        // The message arrives while the client is still blocked...
        t.push(other.cmd_str("PUBLISH ch while-blocked"));
        t.push(text(blocked.read_reply()));
        t.push(other.cmd_str("PUBLISH ch again"));
        t.push(text(blocked.read_reply()));
        // ...and the pop's reply comes after, when an element is pushed.
        t.push(other.cmd_str("RPUSH q x"));
        t.push(text(blocked.read_reply()));
        t
    });
}
