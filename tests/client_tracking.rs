//! Server-assisted client-side caching (CLIENT TRACKING): every reply and
//! every invalidation (RESP3 pushes, RESP2 `__redis__:invalidate` messages,
//! null invalidations on FLUSH, `tracking-redir-broken`) must be
//! byte-identical to a real redis-server 7.0 running the same scenario.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

/// One step of a scenario.
#[derive(Clone, Copy)]
enum Step {
    /// Connection `n` sends a command (whitespace-separated; `{i}` is the id
    /// of connection i) and reads its reply.
    Cmd(usize, &'static str),
    /// Like `Cmd`, with the connections' ids masked in the reply.
    CmdIds(usize, &'static str),
    /// Connection `n` reads one push (or message) that must arrive.
    Push(usize),
    /// Like `Push`, with the connections' ids masked.
    PushIds(usize),
    /// Like `Push` on a RESP2 connection, for a message that holds a RESP3
    /// value (Redis sends a RESP3 client's null invalidation so).
    PushResp3(usize),
    /// Connection `n` closes.
    Close(usize),
    /// Waits this many milliseconds.
    Sleep(u64),
}

use Step::*;

/// Runs `steps` on connections of the given protocols (2 or 3) to `port` and
/// returns the transcript: every reply and push, as text. Each connection
/// still open ends with a PING, whose reply must be the next thing it reads
/// (no stray invalidation left unread).
fn run(port: u16, protos: &[u8], steps: &[Step]) -> Vec<String> {
    let mut conns: Vec<Option<RawConn>> = protos
        .iter()
        .map(|&p| {
            let c = if p == 3 {
                resp3_conn(port)
            } else {
                RawConn::connect(port)
            };
            Some(c.with_read_timeout(Duration::from_secs(2)))
        })
        .collect();
    let ids: Vec<String> = conns
        .iter_mut()
        .map(|c| {
            let r = c.as_mut().expect("open").cmd(&[b"CLIENT", b"ID"]);
            String::from_utf8_lossy(&r[1..r.len() - 2]).into_owned()
        })
        .collect();
    let mask = |r: &[u8]| {
        let mut t = String::from_utf8_lossy(r).into_owned();
        for (i, id) in ids.iter().enumerate() {
            t = t.replace(&format!(":{id}\r\n"), &format!(":<id{i}>\r\n"));
        }
        t
    };
    let mut out = Vec::new();
    for step in steps {
        match *step {
            Cmd(n, line) | CmdIds(n, line) => {
                let mut text = line.to_string();
                for (i, id) in ids.iter().enumerate() {
                    text = text.replace(&format!("{{{i}}}"), id);
                }
                let args: Vec<&[u8]> = text.split_whitespace().map(str::as_bytes).collect();
                let r = conns[n].as_mut().expect("open").cmd(&args);
                let shown = match step {
                    CmdIds(..) => mask(&r),
                    _ => String::from_utf8_lossy(&r).into_owned(),
                };
                out.push(format!("c{n} {line} -> {shown:?}"));
            }
            Push(n) | PushIds(n) | PushResp3(n) => {
                let c = conns[n].as_mut().expect("open");
                let was = c.resp3;
                c.resp3 |= matches!(step, PushResp3(_));
                let read =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.read_reply()));
                c.resp3 = was;
                let Ok(r) = read else {
                    out.push(format!("c{n} push: nothing arrived"));
                    continue;
                };
                let shown = match step {
                    PushIds(_) => mask(&r),
                    _ => String::from_utf8_lossy(&r).into_owned(),
                };
                out.push(format!("c{n} push {shown:?}"));
            }
            Close(n) => conns[n] = None,
            Sleep(ms) => std::thread::sleep(Duration::from_millis(ms)),
        }
    }
    for (n, c) in conns.iter_mut().enumerate() {
        if let Some(c) = c {
            let r = c.cmd(&[b"PING"]);
            out.push(format!(
                "c{n} final PING -> {:?}",
                String::from_utf8_lossy(&r)
            ));
        }
    }
    out
}

/// Runs the scenario on a fresh ringcache and a fresh redis-server and
/// asserts identical transcripts; returns ringcache's.
fn same_as_redis(protos: &[u8], steps: &[Step]) -> Vec<String> {
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let want = run(redis.port, protos, steps);
    let got = run(ours.port, protos, steps);
    assert_eq!(
        got, want,
        "ringcache (left) differs from redis-server (right)"
    );
    if std::env::var_os("TRACKING_TRANSCRIPT").is_some() {
        eprintln!("{got:#?}");
    }
    got
}

fn has(transcript: &[String], needle: &str) -> bool {
    transcript.iter().any(|l| l.contains(needle))
}

/// A RESP3 client that read a key gets one `invalidate` push when another
/// client changes it, and none for the next change (the key was forgotten
/// until read again).
#[test]
fn resp3_push_on_change_by_another_client() {
    let t = same_as_redis(
        &[3, 2],
        &[
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(1, "SET a 1"),
            Cmd(0, "GET a"),
            Cmd(0, "MGET b c"),
            Cmd(1, "SET a 2"),
            Push(0),
            Cmd(1, "SET a 3"),
            Cmd(1, "DEL b c"),
            Cmd(1, "MSET b 1 c 2"),
            Push(0),
            Push(0),
            Cmd(1, "DEL b c"),
            Cmd(0, "GET a"),
            Cmd(1, "APPEND a x"),
            Push(0),
            // Reading a missing key tracks it too.
            Cmd(0, "HGET h f"),
            Cmd(1, "HSET h f v"),
            Push(0),
            Cmd(0, "STRLEN a"),
            Cmd(0, "SET a mine"),
            Push(0),
            // Failed writes change nothing: no invalidation (the PING's
            // reply would come after it).
            Cmd(1, "RPUSH wl x"),
            Cmd(0, "LLEN wl"),
            Cmd(1, "INCR wl"),
            Cmd(1, "INCRBYFLOAT wl 1"),
            Cmd(1, "HINCRBYFLOAT wl f 1"),
            Cmd(1, "SETRANGE wl 1 x"),
            Cmd(1, "APPEND wl x"),
            Cmd(1, "SADD wl x"),
            Cmd(1, "ZADD wl 1 x"),
            Cmd(1, "ZINCRBY wl 1 x"),
            Cmd(1, "HSET wl f v"),
            Cmd(1, "LSET wl 5 y"),
            Cmd(1, "SETBIT wl 1 1"),
            Cmd(1, "PFADD wl x"),
            Cmd(1, "XADD wl * f v"),
            Cmd(1, "GEOADD wl 0 0 m"),
            Cmd(1, "RENAME nosuch wl"),
            Cmd(0, "PING"),
            Cmd(0, "GET a"),
            Cmd(1, "INCR a"),
            Cmd(1, "LPUSH a x"),
            Cmd(1, "HSET a f v"),
            Cmd(0, "PING"),
            // A script that fails after writing still invalidates.
            Cmd(
                1,
                "EVAL redis.call('set','a','s');return(redis.call('lpush','a','x')) 0",
            ),
            Push(0),
        ],
    );
    assert!(has(
        &t,
        r#"push ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n""#
    ));
}

/// REDIRECT to a RESP2 client subscribed to `__redis__:invalidate`: it gets
/// Pub/Sub messages whose payload is the array of keys.
#[test]
fn redirect_to_resp2_subscriber() {
    let t = same_as_redis(
        &[2, 2, 2],
        &[
            Cmd(0, "SUBSCRIBE __redis__:invalidate"),
            Cmd(1, "CLIENT TRACKING on REDIRECT {0}"),
            CmdIds(1, "CLIENT GETREDIR"),
            Cmd(1, "GET k1"),
            Cmd(1, "GET k2"),
            Cmd(2, "MSET k1 x k2 y"),
            Push(0),
            Push(0),
            Cmd(2, "PUBLISH __redis__:invalidate hello"),
            Push(0),
            Cmd(1, "GET k1"),
            Cmd(2, "FLUSHALL"),
            Push(0),
        ],
    );
    assert!(has(
        &t,
        r#"push "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nk1\r\n""#
    ));
}

/// REDIRECT to a RESP3 client (pushes, subscribed or not), from a RESP3
/// client to a RESP2 subscriber (whose null invalidation is then RESP3's),
/// and to a RESP2 client that is not subscribed (nothing is sent).
#[test]
fn redirect_variants() {
    same_as_redis(
        &[3, 3, 2, 2, 2],
        &[
            Cmd(0, "CLIENT TRACKING on REDIRECT {1}"),
            Cmd(0, "GET r1"),
            Cmd(4, "SET r1 x"),
            Push(1),
            Cmd(3, "SUBSCRIBE __redis__:invalidate"),
            Cmd(0, "CLIENT TRACKING on REDIRECT {3}"),
            Cmd(0, "GET r1"),
            Cmd(4, "FLUSHDB"),
            PushResp3(3),
            Cmd(0, "CLIENT TRACKING on REDIRECT {2}"),
            Cmd(0, "GET r2"),
            Cmd(4, "SET r2 x"),
            // RESET turns tracking off.
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "GET r3"),
            Cmd(0, "RESET"),
            Cmd(4, "SET r3 x"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
        ],
    );
}

/// BCAST with prefixes: every changed key matching a prefix is announced
/// (without reading it first), the keys of one command in one push.
#[test]
fn bcast_with_prefixes() {
    let t = same_as_redis(
        &[3, 2],
        &[
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX user: PREFIX obj:"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            Cmd(1, "SET user:1 a"),
            Push(0),
            Cmd(1, "SET other 1"),
            Cmd(1, "MSET obj:2 x obj:1 y user:9 z"),
            Push(0),
            Push(0),
            Cmd(0, "GET user:1"),
            Cmd(0, "SET user:5 mine"),
            Push(0),
            Cmd(1, "INFO nonexistent-section"),
        ],
    );
    assert!(has(
        &t,
        r#"push ">2\r\n$10\r\ninvalidate\r\n*2\r\n$5\r\nobj:1\r\n$5\r\nobj:2\r\n""#
    ));
}

/// NOLOOP: no invalidations for the client's own changes, in default and
/// BCAST mode; other clients' changes are still announced.
#[test]
fn noloop_skips_own_writes() {
    same_as_redis(
        &[3, 2, 3],
        &[
            Cmd(0, "CLIENT TRACKING on NOLOOP"),
            Cmd(2, "CLIENT TRACKING on BCAST NOLOOP PREFIX n"),
            Cmd(0, "GET n1"),
            Cmd(0, "SET n1 mine"),
            Cmd(2, "MSET n2 a zz b"),
            Push(0),
            Cmd(0, "GET n1"),
            Cmd(1, "SET n1 theirs"),
            Push(0),
            Push(2),
            Cmd(2, "SET n3 x"),
            CmdIds(2, "CLIENT TRACKINGINFO"),
        ],
    );
}

/// OPTIN remembers only the command after CLIENT CACHING YES; OPTOUT all
/// but the command after CLIENT CACHING NO; the errors of the wrong mode.
#[test]
fn optin_optout_and_caching() {
    same_as_redis(
        &[3, 3, 2],
        &[
            Cmd(0, "CLIENT CACHING yes"),
            Cmd(0, "CLIENT TRACKING on OPTIN"),
            Cmd(0, "CLIENT CACHING no"),
            Cmd(0, "CLIENT CACHING maybe"),
            Cmd(0, "GET skipped"),
            Cmd(0, "CLIENT CACHING yes"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "GET cached"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "GET skipped2"),
            Cmd(1, "CLIENT TRACKING on OPTOUT"),
            Cmd(1, "CLIENT CACHING yes"),
            Cmd(1, "GET o1"),
            Cmd(1, "CLIENT CACHING no"),
            CmdIds(1, "CLIENT TRACKINGINFO"),
            Cmd(1, "GET o2"),
            Cmd(2, "MSET skipped 1 cached 1 skipped2 1 o2 1 o1 1"),
            Push(0),
            Push(1),
            Cmd(0, "CLIENT TRACKING on OPTOUT"),
            Cmd(1, "CLIENT TRACKING on OPTIN"),
        ],
    );
}

/// CLIENT TRACKING's validation errors, GETREDIR and TRACKINGINFO in both
/// protocols, and TRACKING OFF.
#[test]
fn tracking_errors_getredir_and_trackinginfo() {
    same_as_redis(
        &[2, 3],
        &[
            Cmd(0, "CLIENT TRACKING"),
            Cmd(0, "CLIENT TRACKING maybe"),
            Cmd(0, "CLIENT TRACKING on PREFIX a"),
            Cmd(0, "CLIENT TRACKING on OPTIN OPTOUT"),
            Cmd(0, "CLIENT TRACKING on BCAST OPTIN"),
            Cmd(0, "CLIENT TRACKING on REDIRECT 999999"),
            Cmd(0, "CLIENT TRACKING on REDIRECT x"),
            Cmd(0, "CLIENT TRACKING on REDIRECT {1} REDIRECT {1}"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX ab PREFIX a"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX a PREFIX b"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX abc"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX c PREFIX d"),
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "CLIENT TRACKING on BCAST bogus"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            CmdIds(0, "CLIENT GETREDIR"),
            Cmd(0, "CLIENT TRACKING off"),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            CmdIds(0, "CLIENT GETREDIR"),
            Cmd(1, "CLIENT TRACKING on OPTIN"),
            Cmd(1, "CLIENT TRACKING on OPTOUT"),
            Cmd(1, "CLIENT TRACKING on REDIRECT {0} NOLOOP OPTIN"),
            CmdIds(1, "CLIENT TRACKINGINFO"),
            CmdIds(1, "CLIENT GETREDIR"),
            Cmd(1, "CLIENT GETREDIR extra"),
            Cmd(1, "CLIENT TRACKINGINFO extra"),
            Cmd(1, "CLIENT CACHING"),
            Cmd(1, "CLIENT TRACKING off"),
            CmdIds(1, "CLIENT TRACKINGINFO"),
            Cmd(0, "CLIENT HELP"),
            Cmd(
                0,
                "COMMAND INFO client|tracking client|caching client|getredir client|trackinginfo",
            ),
        ],
    );
}

/// FLUSHALL and FLUSHDB send every tracking client the null invalidation
/// (RESP3 `_`), the flushing client's own after its reply.
#[test]
fn flush_sends_null_invalidation() {
    let t = same_as_redis(
        &[3, 3, 2],
        &[
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(1, "CLIENT TRACKING on BCAST"),
            Cmd(0, "GET a"),
            Cmd(2, "FLUSHALL"),
            Push(0),
            Push(1),
            Cmd(0, "FLUSHDB"),
            Push(0),
            Push(1),
            Cmd(2, "SET a 1"),
            Push(1),
        ],
    );
    assert!(has(&t, r#"c0 push ">2\r\n$10\r\ninvalidate\r\n_\r\n""#));
}

/// A RESP3 client whose redirect target disconnected gets
/// `tracking-redir-broken` on its next invalidation, and its flags show it.
#[test]
fn broken_redirect() {
    same_as_redis(
        &[3, 2, 2],
        &[
            Cmd(0, "CLIENT TRACKING on REDIRECT {1}"),
            Cmd(0, "GET k"),
            Close(1),
            Sleep(200),
            Cmd(2, "SET k 1"),
            PushIds(0),
            CmdIds(0, "CLIENT TRACKINGINFO"),
            CmdIds(0, "CLIENT GETREDIR"),
        ],
    );
}

/// Keys that expire (active expiry, nobody touching them) are invalidated.
#[test]
fn expiry_invalidates() {
    let t = same_as_redis(
        &[3, 2],
        &[
            Cmd(1, "SET e v PX 100"),
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "GET e"),
            Push(0),
            Cmd(0, "GET e"),
        ],
    );
    assert!(has(
        &t,
        r#"push ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\ne\r\n""#
    ));
}

/// Scripts and transactions: keys read by a script's commands are tracked
/// for its caller, and their changes inside MULTI/EXEC or a script
/// invalidate like any other.
#[test]
fn scripts_and_transactions() {
    same_as_redis(
        &[3, 2],
        &[
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "EVAL return(redis.call('get',KEYS[1])) 1 s1"),
            Cmd(0, "EVAL_RO return(redis.call('get',KEYS[1])) 1 s2"),
            // Redis 7.0 tracks a script's declared keys, not what it reads.
            Cmd(0, "EVAL_RO return(redis.call('get','s3')) 0"),
            Cmd(1, "MULTI"),
            Cmd(1, "SET s1 a"),
            Cmd(1, "SET s2 b"),
            Cmd(1, "SET s3 c"),
            Cmd(1, "EXEC"),
            Push(0),
            Push(0),
            Cmd(0, "MULTI"),
            Cmd(0, "GET t1"),
            Cmd(0, "EXEC"),
            Cmd(1, "EVAL redis.call('set',KEYS[1],'x') 1 t1"),
            Push(0),
        ],
    );
}

/// CLIENT LIST / CLIENT INFO show tracking as Redis does: flags `t`, `B`,
/// `R`, and `redir=`.
#[test]
fn client_list_flags_and_redir() {
    fn flags_and_redir(port: u16) -> Vec<String> {
        let mut a = resp3_conn(port);
        let mut b = RawConn::connect(port);
        let b_id = String::from_utf8_lossy(&b.cmd(&[b"CLIENT", b"ID"]))
            .trim_start_matches(':')
            .trim()
            .to_string();
        let mut out = Vec::new();
        let mut info = |a: &mut RawConn| {
            let text = String::from_utf8_lossy(&a.cmd(&[b"CLIENT", b"INFO"])).into_owned();
            let pick = |name: &str| {
                text.split_whitespace()
                    .find(|f| f.starts_with(name))
                    .unwrap_or("")
                    .replace(&b_id, "<b>")
            };
            out.push(format!("{} {}", pick("flags="), pick("redir=")));
        };
        info(&mut a);
        a.cmd_str(&format!("CLIENT TRACKING on REDIRECT {b_id}"));
        info(&mut a);
        a.cmd_str("GET x");
        drop(b);
        std::thread::sleep(Duration::from_millis(200));
        RawConn::connect(port).cmd_str("SET x 1");
        a.read_reply();
        info(&mut a);
        a.cmd_str("CLIENT TRACKING off");
        a.cmd_str("CLIENT TRACKING on BCAST");
        info(&mut a);
        out
    }
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let want = flags_and_redir(redis.port);
    assert_eq!(want[1], "flags=t redir=<b>");
    assert_eq!(flags_and_redir(ours.port), want);
}

/// INFO's tracking figures follow the table, and the table is cleaned when
/// a client turns tracking off or disconnects (unlike Redis, which keeps
/// the ids of gone clients until their keys change).
#[test]
fn info_figures_and_cleanup() {
    let ours = start_ringcache(&[]);
    let info = |c: &mut RawConn, field: &str| {
        let text = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"everything"])).into_owned();
        common::cluster::field(&text, field)
    };
    let mut admin = RawConn::connect(ours.port);
    let mut a = resp3_conn(ours.port);
    let mut b = resp3_conn(ours.port);
    a.cmd_str("CLIENT TRACKING on");
    b.cmd_str("CLIENT TRACKING on BCAST PREFIX p PREFIX q");
    a.cmd_str("MGET k1 k2 k3");
    b.cmd_str("GET k1");
    assert_eq!(info(&mut admin, "tracking_clients"), "2");
    assert_eq!(info(&mut admin, "tracking_total_keys"), "3");
    assert_eq!(info(&mut admin, "tracking_total_items"), "3");
    assert_eq!(info(&mut admin, "tracking_total_prefixes"), "2");
    drop(b);
    assert!(eventually(Duration::from_secs(5), || info(
        &mut admin,
        "tracking_total_prefixes"
    ) == "0"));
    assert_eq!(info(&mut admin, "tracking_clients"), "1");
    a.cmd_str("CLIENT TRACKING off");
    assert_eq!(info(&mut admin, "tracking_total_keys"), "0");
    assert_eq!(info(&mut admin, "tracking_total_items"), "0");
    assert_eq!(info(&mut admin, "tracking_clients"), "0");
}

/// `tracking-table-max-keys`: once the table holds more keys, keys are
/// invalidated (and forgotten) until it is back within the limit.
#[test]
fn table_limit_evicts_with_invalidations() {
    let ours = start_ringcache(&[]);
    let mut admin = RawConn::connect(ours.port);
    assert_eq!(
        admin.cmd_str("CONFIG SET tracking-table-max-keys 2"),
        "+OK\r\n"
    );
    let mut a = resp3_conn(ours.port);
    a.cmd_str("CLIENT TRACKING on");
    assert_eq!(a.cmd_str("MGET k1 k2 k3"), "*3\r\n_\r\n_\r\n_\r\n");
    let push = String::from_utf8_lossy(&a.read_reply()).into_owned();
    assert!(
        push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk"),
        "{push:?}"
    );
    let text = String::from_utf8_lossy(&admin.cmd(&[b"INFO", b"stats"])).into_owned();
    assert_eq!(common::cluster::field(&text, "tracking_total_keys"), "2");
    assert_eq!(a.cmd_str("PING"), "+PONG\r\n");
}

/// memcached writes invalidate what RESP clients read (one keyspace).
#[test]
fn memcached_writes_invalidate() {
    let mc_port = free_port();
    let p = mc_port.to_string();
    // One background cycle a second: BCAST must not wait for it.
    let ours = start_ringcache(&["--memcached-port", p.as_str(), "--hz", "1"]);
    let mut a = resp3_conn(ours.port);
    a.cmd_str("CLIENT TRACKING on");
    a.cmd_str("GET mk");
    let mut mc = std::net::TcpStream::connect(("127.0.0.1", mc_port)).expect("memcached");
    mc.write_all(b"set mk 0 0 1\r\nx\r\n").expect("write");
    assert_eq!(
        a.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nmk\r\n".to_vec()
    );
    // BCAST clients hear of memcached changes too, at once (well before
    // the background cycle).
    let mut b = resp3_conn(ours.port).with_read_timeout(Duration::from_millis(250));
    b.cmd_str("CLIENT TRACKING on BCAST PREFIX m");
    std::thread::sleep(Duration::from_millis(1100));
    mc.write_all(b"delete mk\r\n").expect("write");
    assert_eq!(
        b.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nmk\r\n".to_vec()
    );
}

/// A tracking client blocked in BLPOP still receives its invalidations.
#[test]
fn blocked_client_gets_invalidations() {
    same_as_redis(
        &[3, 2],
        &[
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "GET b1"),
            Cmd(1, "SET b1 x"),
            Push(0),
        ],
    );
    let ours = start_ringcache(&[]);
    let mut a = resp3_conn(ours.port);
    let mut b = RawConn::connect(ours.port);
    a.cmd_str("CLIENT TRACKING on");
    a.cmd_str("GET watched");
    a.send_raw(&encode(&[b"BLPOP", b"list", b"0"]));
    std::thread::sleep(Duration::from_millis(200));
    b.cmd_str("SET watched 1");
    assert_eq!(
        a.read_reply(),
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$7\r\nwatched\r\n".to_vec()
    );
    b.cmd_str("RPUSH list v");
    assert_eq!(a.read_reply(), b"*2\r\n$4\r\nlist\r\n$1\r\nv\r\n".to_vec());
}

/// Keys evicted by maxmemory are invalidated.
#[test]
fn eviction_invalidates() {
    let ours = start_ringcache(&["--maxmemory-policy", "allkeys-random"]);
    let mut admin = RawConn::connect(ours.port);
    let mut a = resp3_conn(ours.port);
    a.cmd_str("CLIENT TRACKING on");
    for chunk in 0..4 {
        let keys: Vec<String> = (0..500).map(|i| format!("k{}", chunk * 500 + i)).collect();
        let mut mset: Vec<&[u8]> = vec![b"MSET"];
        for k in &keys {
            mset.push(k.as_bytes());
            mset.push(b"v");
        }
        admin.cmd(&mset);
        let mut mget: Vec<&[u8]> = vec![b"MGET"];
        mget.extend(keys.iter().map(|k| k.as_bytes()));
        a.cmd(&mget);
    }
    let text = String::from_utf8_lossy(&admin.cmd(&[b"INFO", b"memory"])).into_owned();
    let used: u64 = common::cluster::field(&text, "used_memory")
        .parse()
        .expect("used_memory");
    admin.cmd_str(&format!("CONFIG SET maxmemory {}", used + 100_000));
    let big = vec![b'x'; 50_000];
    for i in 0..5 {
        let k = format!("filler{i}");
        admin.cmd(&[b"SET", k.as_bytes(), &big]);
    }
    let text = String::from_utf8_lossy(&admin.cmd(&[b"INFO", b"stats"])).into_owned();
    assert_ne!(common::cluster::field(&text, "evicted_keys"), "0");
    let push = String::from_utf8_lossy(&a.read_reply()).into_owned();
    assert!(
        push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$"),
        "{push:?}"
    );
}

/// Pipelined requests: a client's own invalidation comes right after the
/// reply of the command that caused it, before the next reply, and inside
/// MULTI/EXEC after EXEC's reply; byte for byte as redis-server.
#[test]
fn own_invalidations_follow_their_reply_in_a_pipeline() {
    let mut data = Vec::new();
    for cmd in [
        &[&b"HELLO"[..], b"3"][..],
        &[b"CLIENT", b"TRACKING", b"on"],
        &[b"MGET", b"p1", b"p2"],
        &[b"SET", b"p1", b"v"],
        &[b"PING"],
        &[b"MULTI"],
        &[b"DEL", b"p2"],
        &[b"SET", b"p2", b"w"],
        &[b"EXEC"],
        &[b"GET", b"p2"],
        &[b"FLUSHALL"],
        &[b"PING"],
    ] {
        data.extend_from_slice(&encode(cmd));
    }
    let transcript = |port: u16| {
        let (bytes, _) = exchange(port, &data, Duration::from_millis(500));
        mask_hello_id(&bytes)
    };
    let redis = require_redis(&[]);
    let ours = start_ringcache(&[]);
    let want = transcript(redis.port);
    assert!(want.contains("+OK\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\np1\r\n+PONG\r\n"));
    assert_eq!(transcript(ours.port), want);
}
