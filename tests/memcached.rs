//! memcached protocol: differential tests against a real `memcached`, real
//! clients (pymemcache, libmemcached-tools) and Redis<->memcached interop on
//! one node.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Starts a real memcached on a free port.
fn start_memcached() -> Proc {
    start_memcached_with(&[])
}

/// Starts a real memcached on a free port with extra arguments.
fn start_memcached_with(extra: &[&str]) -> Proc {
    let port = free_port();
    let mut cmd = Command::new("memcached");
    cmd.args(["-p", &port.to_string(), "-U", "0", "-l", "127.0.0.1"]);
    cmd.args(extra);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.args(["-u", "root"]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("memcached is required (scripts/test installs it)");
    wait_memcached(port);
    Proc { child, port }
}

/// Starts ringcache with its memcached listener on a free port; returns the
/// process (RESP port in `.port`) and the memcached port.
fn start_rc(extra: &[&str]) -> (Proc, u16) {
    let mc = free_port();
    let p = mc.to_string();
    let mut args = vec!["--memcached-port", p.as_str()];
    args.extend_from_slice(extra);
    let rc = start_ringcache(&args);
    wait_memcached(mc);
    (rc, mc)
}

/// Replaces CAS uniques (which legitimately differ) with a placeholder.
fn normalize(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply)
        .split("\r\n")
        .map(|line| {
            let t: Vec<&str> = line.split(' ').collect();
            if t[0] == "VALUE" && t.len() == 5 {
                return format!("{} {} {} {} <cas>", t[0], t[1], t[2], t[3]);
            }
            if t[0] == "ME" {
                return t
                    .iter()
                    .map(|tok| {
                        if tok.starts_with("cas=") {
                            "cas=<cas>"
                        } else {
                            tok
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            if ["VA", "HD", "NS", "EX", "NF"].contains(&t[0]) {
                return t
                    .iter()
                    .map(|tok| match tok.strip_prefix('c') {
                        Some(c) if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) => {
                            "c<cas>".to_string()
                        }
                        _ => tok.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Splits a script into steps: one per `---`-separated block; `\n` becomes
/// `\r\n` and `\\0`, `\\t`, `\\x7f`-style escapes are decoded.
fn steps(text: &str) -> Vec<Vec<u8>> {
    text.split("---")
        .map(|block| {
            let mut out = Vec::new();
            for line in block.lines() {
                let line = line.trim_start();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.extend_from_slice(&unescape(line));
                out.extend_from_slice(b"\r\n");
            }
            out
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'r' => out.push(b'\r'),
                b'x' if i + 3 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(h, 16).expect("hex"));
                    i += 2;
                }
                c => out.push(c),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Runs `script` on fresh connections to both servers and compares replies.
fn assert_same(mc_port: u16, rc_port: u16, script: &[Vec<u8>]) {
    let mut a = Mc::connect(mc_port);
    let mut b = Mc::connect(rc_port);
    a.step(b"flush_all\r\n");
    b.step(b"flush_all\r\n");
    for s in script {
        let ra = normalize(&a.step(s));
        let rb = normalize(&b.step(s));
        assert_eq!(rb, ra, "reply differs for {:?}", String::from_utf8_lossy(s));
    }
}

#[test]
fn text_protocol_matches_memcached() {
    let mc = start_memcached();
    let (_rc, port) = start_rc(&[]);
    let script = steps(
        r#"
        get a
        ---
        set a 0 0 1
        x
        ---
        get a
        ---
        get a b a
        ---
        gets a
        ---
        set k\tx 0 0 1
        v
        get k\tx
        ---
        set k 1 0 3
        100
        ---
        decr k 1
        get k
        incr k 18446744073709551615
        get k
        incr k 5
        ---
        set n 0 0 2
        -1
        incr n 1
        ---
        set e 0 0 0

        incr e 1
        incr k abc
        incr k -1
        incr missing 1
        decr missing 1
        ---
        set n 0 0 20
        18446744073709551615
        incr n 1
        get n
        decr n 100
        get n
        ---
        set n 0 0 3
        1 a
        incr n 1
        ---
        set a 4294967296 0 1
        x
        get a
        set a 4294967295 0 1
        x
        get a
        set a 0 -1 1
        x
        get a
        ---
        set b 0 0 1 noreply
        x
        set b 0 0 1 junk
        y
        get b
        ---
        add b 0 0 1
        q
        replace zz 0 0 1
        q
        append zz 0 0 1
        q
        prepend b 0 0 1
        q
        append b 5 0 1
        w
        get b
        ---
        gets b
        ---
        cas b 0 0 1 999
        c
        cas zz 0 0 1 1
        c
        ---
        cas b 7 0 2 {cas}
        cc
        gets b
        ---
        cas b 7 0 2 {cas} noreply
        dd
        get b
        ---
        delete b 0
        delete b 1
        delete b noreply
        delete b
        delete b x y
        delete b 0 noreply
        ---
        set t 0 100 1
        t
        touch zz 10
        touch t 10
        touch t abc
        touch t 10 noreply
        gat 100 t zz
        gats 0 t
        gat abc t
        gat
        gat 10
        ---
        verbosity 1
        verbosity
        verbosity 1 noreply
        verbosity abc
        ---
        flush_all abc
        flush_all 0
        flush_all noreply
        flush_all -1
        get t
        ---
        set u 0 0 1
        1
        incr u 1 noreply
        decr u 1 noreply
        get u
        add u 0 0 1 noreply
        x
        replace u 3 0 1 noreply
        y
        get u
        "#,
    );
    assert_same(mc.port, port, &script);
}

#[test]
fn meta_protocol_matches_memcached() {
    let mc = start_memcached();
    let (_rc, port) = start_rc(&[]);
    let script = steps(
        r#"
        ms m1 2
        hi
        mg m1
        mg m1 v
        mg m1 v f t c k s O123 h
        mg m1 q
        mg m1 v q
        mg miss v
        mg miss v q
        mg miss v k O9
        ---
        ms m2 3 T100 F5 c
        abc
        ---
        mg m2 v f t
        mg m2 s v t T0 t
        mg m2 t
        ---
        ms m2 3 I
        xyz
        ms m2 S3
        xyz
        ms m2 3 MA
        def
        mg m2 v
        ---
        ms m3 3 MP q
        zzz
        ms m3 3 ME
        zzz
        ms m3 3 MR
        zzz
        ms m3 3 MX
        zzz
        ms m3 3 MS q
        zzz
        ms m3 3 ME k O5
        zzz
        mg m3 v
        ---
        md m3
        md m3
        md m3 q
        md m3 q k O1
        ---
        ms cc 1 c
        a
        ---
        ms cc 1 C{cas} c
        b
        ms cc 1 C1 c
        c
        ms cc 1 C1 MA
        c
        mg cc v
        md cc C1
        ---
        mg cc c
        ---
        md cc C{cas}
        ma cc
        ma cc N0 J10
        ma cc v
        ma cc MD D100 v
        ma cc D5 MI v t
        ma cc q
        ma cc q MD
        mg cc v
        ma nope q
        ma nope
        ma cc Mx
        ma cc Dx
        ---
        ms nn 2
        ab
        ma nn
        ---
        ms YmluYXJ5 3 b
        bin
        mg YmluYXJ5 b v k
        mg binary v
        mg ###### b v
        md YmluYXJ5 b k
        ---
        mg viv N30 v c
        ---
        mg viv v t
        ---
        ms st 1 T100
        s
        md st I T30
        mg st v c t
        ---
        mg st v
        mg st v
        ---
        ms st 1 I C1
        z
        mg st v t
        ---
        me m1
        me nothere
        "#,
    );
    assert_same(mc.port, port, &script);
}

#[test]
fn bad_input_matches_memcached() {
    let mc = start_memcached();
    let (_rc, port) = start_rc(&[]);
    let long = "k".repeat(251);
    let ok = "k".repeat(250);
    let text = format!(
        r#"
        get {long}
        ---
        set {long} 0 0 1
        x
        ---
        incr {long} 1
        delete {long}
        touch {long} 1
        mg {long} v
        ms {long} 1
        md {long}
        ma {long}
        ---
        set {ok} 0 0 1
        x
        get {ok}
        ---
        set a 0 0 -1
        set a 0 0 abc
        set a abc 0 1
        set a -1 0 1
        set a 0 abc 1
        set a 0 0 1 2 3 4
        set a 0 0
        cas a 0 0 1 abc
        cas a 0 0 1
        ---
        set a abc 0 1 noreply
        ---
        set x 0 0 1
        ab
        get x
        ---
        set x 0 0 1 noreply
        ab
        ---
        \x00\x01\x02garbage
        \x80\xff
        ---
        foo
        GET a
        get
        gets
        m
        mz a
        ---
        set a 0 0 00001
        x
        get a
        set a +1 +0 1
        y
        get a
        set a 0x1 0 1
        set a 0 0 1\t
        z
        "#
    );
    let mut script = steps(&text);
    // Values over the item size limit are refused and their data swallowed.
    let mut big = b"set a 0 0 1\r\nx\r\nset a 0 0 2000000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2_000_000));
    big.extend_from_slice(b"\r\nget a\r\n");
    script.push(big);
    for (n, f) in [(1048513, 0), (1048514, 0), (1048509, 1), (1048510, 1)] {
        let mut s = format!("set big {f} 0 {n}\r\n").into_bytes();
        s.extend(std::iter::repeat_n(b'y', n));
        s.extend_from_slice(b"\r\n");
        script.push(s);
    }
    let mut ms_big = b"ms big 2000000 T0\r\n".to_vec();
    ms_big.extend(std::iter::repeat_n(b'z', 2_000_000));
    ms_big.extend_from_slice(b"\r\nmg big v\r\n");
    script.push(ms_big);
    assert_same(mc.port, port, &script);

    // A long line without newline that is not a get closes the connection,
    // on both servers.
    for p in [mc.port, port] {
        let mut c = Mc::connect(p);
        assert!(
            c.closes_after(&[b'a'; 3000]),
            "port {p} kept a junk connection"
        );
        let mut c = Mc::connect(p);
        let mut get = b"get ".to_vec();
        for i in 0..2000 {
            get.extend_from_slice(format!("key{i} ").as_bytes());
        }
        get.extend_from_slice(b"\r\n");
        assert_eq!(c.step(&get), b"END\r\n");
        let mut c = Mc::connect(p);
        assert!(c.closes_after(b"quit\r\n"));
    }
}

#[test]
fn expiry_matches_memcached() {
    let mc = start_memcached();
    let (_rc, port) = start_rc(&[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let text = format!(
        r#"
        set rel 0 1 1
        r
        set never 0 0 1
        n
        set neg 0 -1 1
        x
        set past 0 {past} 1
        p
        set future 0 {future} 1
        f
        set month 0 2592000 1
        m
        get rel never neg past future month
        mg future t
        mg month t
        "#,
        past = now - 10,
        future = now + 1000,
    );
    let script = steps(&text);
    let mut a = Mc::connect(mc.port);
    let mut b = Mc::connect(port);
    for s in &script {
        let ra = normalize(&a.step(s));
        let rb = normalize(&b.step(s));
        // `t` of an absolute time may differ by a second between servers.
        let strip = |r: &str| r.replace("t999", "t1000").replace("t1001", "t1000");
        assert_eq!(strip(&rb), strip(&ra));
    }
    std::thread::sleep(Duration::from_millis(2200));
    let s = b"get rel never\r\n".to_vec();
    assert_eq!(normalize(&b.step(&s)), normalize(&a.step(&s)));
    assert_eq!(b.step(&s), b"VALUE never 0 1\r\nn\r\nEND\r\n");
}

#[test]
fn stats_report_memcached_names() {
    let (rc, port) = start_rc(&["--memcached-max-item-size", "2mb"]);
    let mut c = Mc::connect(port);
    // The start-up probe's connection may not be closed on the server yet.
    let alone = |c: &mut Mc| {
        String::from_utf8_lossy(&c.step(b"stats\r\n")).contains("STAT curr_connections 1\r\n")
    };
    assert!(eventually(Duration::from_secs(5), || alone(&mut c)));
    c.step(b"set a 0 0 1\r\n5\r\nget a\r\nget b\r\nincr a 1\r\ndelete zz\r\n");
    let stats = String::from_utf8(c.step(b"stats\r\n")).expect("utf8");
    let get = |name: &str| -> String {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
            .unwrap_or_else(|| panic!("no {name} in {stats}"))
            .to_string()
    };
    for name in [
        "pid",
        "uptime",
        "time",
        "version",
        "curr_connections",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "cmd_flush",
        "cmd_touch",
        "get_hits",
        "get_misses",
        "get_expired",
        "delete_misses",
        "delete_hits",
        "incr_misses",
        "incr_hits",
        "decr_misses",
        "decr_hits",
        "cas_misses",
        "cas_hits",
        "cas_badval",
        "touch_hits",
        "touch_misses",
        "curr_items",
        "total_items",
        "evictions",
        "bytes",
        "limit_maxbytes",
        "threads",
    ] {
        get(name);
    }
    assert!(stats.ends_with("END\r\n"));
    assert_eq!(get("cmd_get"), "2");
    assert_eq!(get("get_hits"), "1");
    assert_eq!(get("get_misses"), "1");
    assert_eq!(get("incr_hits"), "1");
    assert_eq!(get("delete_misses"), "1");
    assert_eq!(get("curr_items"), "1");
    assert_eq!(get("curr_connections"), "1");
    let settings = String::from_utf8(c.step(b"stats settings\r\n")).expect("utf8");
    assert!(
        settings.contains("STAT item_size_max 2097152\r\n"),
        "{settings}"
    );
    assert_eq!(c.step(b"stats nonsense\r\n"), b"ERROR\r\n");
    // The Redis side of the same node sees the key.
    assert_eq!(redis_cli(rc.port, &["DBSIZE"]).trim(), "1");
}

#[test]
fn worker_threads_share_the_keyspace_and_stats_sum_them() {
    let (_rc, port) = start_rc(&["--memcached-threads", "3"]);
    // Dealt round-robin: five connections land on all three threads.
    let mut conns: Vec<Mc> = (0..5).map(|_| Mc::connect(port)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let req = format!("set w{i} {i} 0 1\r\n{i}\r\n");
        assert_eq!(c.step(req.as_bytes()), b"STORED\r\n");
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let j = (i + 1) % 5;
        let want = format!("VALUE w{j} {j} 1\r\n{j}\r\nEND\r\n");
        assert_eq!(
            c.step(format!("get w{j} nope\r\n").as_bytes()),
            want.as_bytes()
        );
    }
    let stats = String::from_utf8(conns[0].step(b"stats\r\n")).expect("utf8");
    for line in [
        "STAT threads 3\r\n",
        "STAT curr_connections 5\r\n",
        // The start-up probe (`wait_memcached`) counts too.
        "STAT total_connections 6\r\n",
        "STAT cmd_set 5\r\n",
        "STAT cmd_get 10\r\n",
        "STAT get_hits 5\r\n",
        "STAT get_misses 5\r\n",
        "STAT curr_items 5\r\n",
    ] {
        assert!(stats.contains(line), "{line} in {stats}");
    }
    // stats reset zeroes every thread's counters, not the connection gauge.
    assert_eq!(conns[1].step(b"stats reset\r\n"), b"RESET\r\n");
    drop(conns.pop());
    let stats = String::from_utf8(conns[2].step(b"stats\r\n")).expect("utf8");
    for line in ["STAT cmd_get 0\r\n", "STAT get_hits 0\r\n"] {
        assert!(stats.contains(line), "{line} in {stats}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !String::from_utf8_lossy(&conns[2].step(b"stats\r\n"))
        .contains("STAT curr_connections 4\r\n")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "a closed connection is uncounted"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn redis_and_memcached_share_keys() {
    let (rc, port) = start_rc(&[]);
    let mut r = RawConn::connect(rc.port);
    let mut c = Mc::connect(port);
    // Redis SET -> memcached get with flags 0.
    assert_eq!(r.cmd_str("SET rk hello"), "+OK\r\n");
    assert_eq!(c.step(b"get rk\r\n"), b"VALUE rk 0 5\r\nhello\r\nEND\r\n");
    // memcached set -> Redis GET returns the data; flags survive reads.
    c.step(b"set mk 42 0 5\r\nworld\r\n");
    assert_eq!(r.cmd_str("GET mk"), "$5\r\nworld\r\n");
    assert_eq!(c.step(b"get mk\r\n"), b"VALUE mk 42 5\r\nworld\r\nEND\r\n");
    // A Redis read keeps the CAS unique, so a memcached cas still succeeds.
    c.step(b"gets mk\r\n");
    r.cmd_str("GET mk");
    assert_eq!(c.step(b"cas mk 42 0 1 {cas}\r\nA\r\n"), b"STORED\r\n");
    // A Redis write changes it: the cas fails.
    c.step(b"gets mk\r\n");
    assert_eq!(r.cmd_str("APPEND mk B"), ":2\r\n");
    assert_eq!(c.step(b"cas mk 42 0 1 {cas}\r\nC\r\n"), b"EXISTS\r\n");
    // In-place Redis changes keep the flags; a Redis SET resets them to 0.
    assert_eq!(c.step(b"get mk\r\n"), b"VALUE mk 42 2\r\nAB\r\nEND\r\n");
    r.cmd_str("SET mk new");
    assert_eq!(c.step(b"get mk\r\n"), b"VALUE mk 0 3\r\nnew\r\nEND\r\n");
    // Counters are shared.
    r.cmd_str("SET ctr 10");
    assert_eq!(c.step(b"incr ctr 5\r\n"), b"15\r\n");
    assert_eq!(r.cmd_str("INCR ctr"), ":16\r\n");
    // memcached TTLs are Redis TTLs.
    c.step(b"set ttl 0 100 1\r\nx\r\n");
    let ttl = r.cmd_str("TTL ttl");
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    r.cmd_str("EXPIRE rk 50");
    let reply = String::from_utf8(c.step(b"mg rk t\r\n")).expect("utf8");
    assert!(reply == "HD t50\r\n" || reply == "HD t49\r\n", "{reply}");
    // Deletes and flushes cross over.
    assert_eq!(c.step(b"delete rk\r\n"), b"DELETED\r\n");
    assert_eq!(r.cmd_str("EXISTS rk"), ":0\r\n");
    c.step(b"flush_all\r\n");
    assert_eq!(r.cmd_str("DBSIZE"), ":0\r\n");
}

/// Every memcached write to a WATCHed key aborts the RESP client's EXEC, as
/// a Redis write would (the store's one mutation observer sees both
/// protocols); memcached reads, misses and no-op requests do not.
#[test]
fn memcached_writes_invalidate_watch() {
    let (rc, port) = start_rc(&[]);
    let mut r = RawConn::connect(rc.port);
    let mut c = Mc::connect(port);
    // (request, does it modify the key `k`, holding "10" with flags 3?)
    let cases: &[(&str, bool)] = &[
        ("set k 0 0 1\r\nx\r\n", true),
        ("add k 0 0 1\r\nx\r\n", false),
        ("replace k 0 0 1\r\nx\r\n", true),
        ("append k 0 0 1\r\nx\r\n", true),
        ("prepend k 0 0 1\r\nx\r\n", true),
        ("cas k 0 0 1 {cas}\r\nx\r\n", true),
        ("cas k 0 0 1 1\r\nx\r\n", false),
        ("incr k 1\r\n", true),
        ("decr k 1\r\n", true),
        ("delete k\r\n", true),
        ("delete other\r\n", false),
        ("touch k 100\r\n", true),
        ("gat 100 k\r\n", true),
        ("get k\r\n", false),
        ("gets k\r\n", false),
        ("mg k v f t\r\n", false),
        ("ms k 1\r\nx\r\n", true),
        ("ma k\r\n", true),
        ("md k\r\n", true),
        ("md k I\r\n", true),
        ("mn\r\n", false),
        ("set other 0 0 1\r\nx\r\n", false),
    ];
    for (req, modifies) in cases {
        assert_eq!(c.step(b"set k 3 0 2\r\n10\r\n"), b"STORED\r\n");
        assert_eq!(r.cmd_str("WATCH k"), "+OK\r\n");
        c.step(b"gets k\r\n"); // the CAS unique for `{cas}`
        c.step(req.as_bytes());
        assert_eq!(r.cmd_str("MULTI"), "+OK\r\n");
        assert_eq!(r.cmd_str("PING"), "+QUEUED\r\n");
        let exec = r.cmd_str("EXEC");
        let want = if *modifies {
            "*-1\r\n"
        } else {
            "*1\r\n+PONG\r\n"
        };
        assert_eq!(exec, want, "after memcached {req:?}");
    }
}

/// memcached requests run through the one dispatcher: they show in INFO
/// commandstats, SLOWLOG and MONITOR under their memcached names (`mc_`
/// prefix), like RESP commands do.
#[test]
fn memcached_requests_show_in_commandstats_slowlog_and_monitor() {
    let (rc, port) = start_rc(&[]);
    let mut r = RawConn::connect(rc.port);
    let mut m = RawConn::connect(rc.port);
    assert_eq!(m.cmd_str("MONITOR"), "+OK\r\n");
    assert_eq!(r.cmd_str("CONFIG SET slowlog-log-slower-than 0"), "+OK\r\n");
    assert_eq!(r.cmd_str("SLOWLOG RESET"), "+OK\r\n");
    let mut c = Mc::connect(port);
    assert_eq!(c.step(b"set mk 5 0 2\r\nhi\r\n"), b"STORED\r\n");
    assert_eq!(
        c.step(b"get mk nokey\r\n"),
        b"VALUE mk 5 2\r\nhi\r\nEND\r\n"
    );
    c.step(b"bogus\r\n");
    // MONITOR: `[0 mc:<addr>] "mc_set" "mk" "5" "0" "2" "hi"`.
    let set = String::from_utf8_lossy(&m.read_reply()).into_owned();
    assert!(
        set.contains("[0 mc:127.0.0.1:")
            && set.ends_with("] \"mc_set\" \"mk\" \"5\" \"0\" \"2\" \"hi\"\r\n"),
        "{set}"
    );
    // `Mc::step` appends `mn` to every step.
    let mn = String::from_utf8_lossy(&m.read_reply()).into_owned();
    assert!(mn.ends_with("] \"mc_mn\"\r\n"), "{mn}");
    let get = String::from_utf8_lossy(&m.read_reply()).into_owned();
    assert!(get.ends_with("] \"mc_get\" \"mk\" \"nokey\"\r\n"), "{get}");
    let info = r.cmd_str("INFO commandstats");
    for want in [
        "cmdstat_mc_set:calls=1,",
        "cmdstat_mc_get:calls=1,",
        "cmdstat_mc_mn:calls=3,",
    ] {
        assert!(info.contains(want), "{want} in {info}");
    }
    assert!(!info.contains("bogus"), "{info}");
    let raw = String::from_utf8_lossy(&r.cmd(&[b"SLOWLOG", b"GET", b"100"])).into_owned();
    assert!(raw.contains("$6\r\nmc_set\r\n$2\r\nmk\r\n"), "{raw}");
    assert!(
        raw.contains("$6\r\nmc_get\r\n$2\r\nmk\r\n$5\r\nnokey\r\n"),
        "{raw}"
    );
    assert!(raw.contains("mc:127.0.0.1:"), "{raw}");
}

#[test]
fn pymemcache_client_works() {
    let (_rc, port) = start_rc(&[]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/pymemcache_basic.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pymemcache script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pymemcache ok"));
}

/// Runs a libmemcached tool (Debian names them memc*) against `port`.
fn tool(name: &str, port: u16, args: &[&str]) -> std::process::Output {
    Command::new(name)
        .arg(format!("--servers=127.0.0.1:{port}"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e} (libmemcached-tools is required)"))
}

#[test]
fn libmemcached_tools_work() {
    let (rc, port) = start_rc(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("greeting.txt");
    std::fs::write(&file, b"hello from memccp\n").expect("write");
    let out = tool("memccp", port, &[file.to_str().expect("path")]);
    assert!(out.status.success(), "memccp: {out:?}");
    assert_eq!(
        redis_cli(rc.port, &["GET", "greeting.txt"]),
        "hello from memccp\n\n"
    );
    let out = tool("memccat", port, &["greeting.txt"]);
    assert!(out.status.success(), "memccat: {out:?}");
    // memccat prints the value followed by a newline.
    assert_eq!(out.stdout, b"hello from memccp\n\n");
    let out = tool("memcrm", port, &["greeting.txt"]);
    assert!(out.status.success(), "memcrm: {out:?}");
    assert_eq!(redis_cli(rc.port, &["EXISTS", "greeting.txt"]).trim(), "0");
    let out = tool("memccat", port, &["greeting.txt"]);
    assert!(!out.status.success(), "memccat of a removed key succeeded");
    let out = tool("memcstat", port, &[]);
    assert!(out.status.success(), "memcstat: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("curr_items"), "{text}");
    assert!(text.contains("cmd_get"), "{text}");
}

#[test]
fn garbage_never_stalls_the_node() {
    let (rc, port) = start_rc(&[]);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..40 {
        let mut junk = Vec::new();
        for _ in 0..(200 + round * 50) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let b = (seed & 0xff) as u8;
            // Mix raw bytes with protocol fragments.
            match seed % 11 {
                0 => junk.extend_from_slice(b"set a 0 0 3\r\n"),
                1 => junk.extend_from_slice(b"\r\n"),
                2 => junk.extend_from_slice(b"mg a v c t\r\n"),
                3 => junk.extend_from_slice(b"get a b\r\n"),
                4 => junk.extend_from_slice(b"ms a 2 T5 MA\r\n"),
                _ => junk.push(b),
            }
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(&junk);
            let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            let mut tmp = [0u8; 65536];
            let _ = s.read(&mut tmp);
        }
    }
    let mut c = Mc::connect(port);
    assert!(c.step(b"version\r\n").starts_with(b"VERSION "));
    assert_eq!(redis_cli(rc.port, &["PING"]).trim(), "PONG");
}

/// What a real memcached answers a connection over its `-c` limit.
fn memcached_refusal() -> Vec<u8> {
    let port = free_port();
    let mut cmd = Command::new("memcached");
    cmd.args([
        "-p",
        &port.to_string(),
        "-U",
        "0",
        "-l",
        "127.0.0.1",
        "-c",
        "30",
    ]);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        cmd.args(["-u", "root"]);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("memcached");
    let _mc = Proc { child, port };
    wait_memcached(port);
    let mut open = Vec::new();
    for _ in 0..30 {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(b"version\r\n").expect("write");
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).expect("read");
        if !buf[..n].starts_with(b"VERSION ") {
            return buf[..n].to_vec();
        }
        open.push(s);
    }
    panic!("memcached -c 30 accepted 30 connections");
}

#[test]
fn connections_count_against_maxclients() {
    let (rc, port) = start_rc(&["--maxclients", "3"]);
    // Wait for the start-up probes to be gone.
    let settled = || info_field(rc.port, "clients", "connected_clients").as_deref() == Some("1");
    assert!(eventually(Duration::from_secs(5), settled));
    let mut conns: Vec<Mc> = (0..3).map(|_| Mc::connect(port)).collect();
    for c in conns.iter_mut() {
        assert!(c.step(b"version\r\n").starts_with(b"VERSION "));
    }
    // Full: memcached's refusal on the memcached port, Redis' on the RESP port.
    let mut over = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    over.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut refusal = Vec::new();
    let _ = over.read_to_end(&mut refusal);
    assert_eq!(refusal, b"ERROR Too many open connections\r\n");
    assert_eq!(refusal, memcached_refusal());
    assert!(redis_cli(rc.port, &["PING"]).contains("max number of clients reached"));
    let s = String::from_utf8_lossy(&conns[0].step(b"stats\r\n")).into_owned();
    assert!(s.contains("STAT rejected_connections 1\r\n"), "{s}");
    assert!(s.contains("STAT curr_connections 3\r\n"), "{s}");
    // Closed memcached connections free their places (two, so the redis-cli
    // probes below never race the limit); INFO and CLIENT LIST see the rest.
    // Waits through the open connection: a RESP probe sent before the closes
    // were seen would itself be refused and count as rejected.
    conns.truncate(1);
    let one_mc = || {
        let s = conns[0].step(b"stats\r\n");
        String::from_utf8_lossy(&s).contains("STAT curr_connections 1\r\n")
    };
    assert!(eventually(Duration::from_secs(5), one_mc));
    let list = redis_cli(rc.port, &["CLIENT", "LIST"]);
    let on_mc_port = format!("laddr=127.0.0.1:{port} ");
    assert_eq!(list.matches(&on_mc_port).count(), 1, "{list}");
    let rejected = info_field(rc.port, "stats", "rejected_connections").unwrap_or_default();
    assert_eq!(rejected, "2");
    // CLIENT KILL closes a memcached connection too.
    let id = list
        .lines()
        .find(|l| l.contains(&on_mc_port))
        .and_then(|l| l.strip_prefix("id="))
        .and_then(|l| l.split(' ').next())
        .expect("id")
        .to_string();
    assert_eq!(
        redis_cli(rc.port, &["CLIENT", "KILL", "ID", &id]).trim(),
        "1"
    );
    assert!(conns[0].closes_after(b""));
}

#[test]
fn idle_connections_honour_timeout() {
    let (_rc, port) = start_rc(&["--timeout", "1"]);
    let mut idle = Mc::connect(port);
    let mut busy = Mc::connect(port);
    assert!(idle.step(b"version\r\n").starts_with(b"VERSION "));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(2500) {
        assert!(busy.step(b"version\r\n").starts_with(b"VERSION "));
        std::thread::sleep(Duration::from_millis(200));
    }
    // The idle one was closed after about a second; the busy one lives on.
    assert!(idle.closes_after(b""));
    assert!(busy.step(b"version\r\n").starts_with(b"VERSION "));
}

/// The replies to `data` sent on a fresh connection, and whether it closed.
fn quiet_exchange(port: u16, data: &[u8]) -> (String, bool) {
    let (out, closed) = exchange(port, data, Duration::from_millis(300));
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

/// Sends each piece on one fresh connection, reading the replies to each
/// until the server stays quiet, and returns them.
fn session(port: u16, pieces: &[&[u8]]) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(150)))
        .expect("timeout");
    let mut replies = Vec::new();
    for piece in pieces {
        s.write_all(piece).expect("write");
        let mut out = Vec::new();
        let mut tmp = [0u8; 4096];
        while let Ok(n @ 1..) = s.read(&mut tmp) {
            out.extend_from_slice(&tmp[..n]);
        }
        replies.push(String::from_utf8_lossy(&out).into_owned());
    }
    replies
}

#[test]
fn requirepass_guards_the_memcached_port_like_memcached_auth_file() {
    // memcached 1.6 with an auth file holding Redis' default user: the
    // reference for every reply below.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("auth");
    std::fs::write(&file, "default:secret\n").expect("auth file");
    let reference = start_memcached_with(&["-Y", file.to_str().expect("path")]);
    let (rc, port) = start_rc(&["--requirepass", "secret"]);
    let login = b"set any 0 0 14\r\ndefault secret\r\n";
    let mut transcripts = Vec::new();
    for p in [reference.port, port] {
        let mut t = Vec::new();
        let mut seed = login.to_vec();
        seed.extend_from_slice(b"set k 0 0 4\r\norig\r\n");
        t.push(session(p, &[&seed]));
        for attack in [
            &[&b"get k\r\n"[..]][..],
            &[b"gets k\r\n", b"mg k v\r\n"],
            &[b"set k 0 0 6\r\nhacked\r\n"],
            &[b"set k 0 0 13\r\nhacked hacked\r\n", b"get k\r\n"],
            &[
                b"delete k\r\n",
                b"flush_all\r\n",
                b"incr k 1\r\n",
                b"stats\r\n",
                b"version\r\n",
            ],
            &[b"set a 0 0 12\r\ndefault nope\r\n", b"get k\r\n"],
            &[b"set a 0 0 5\r\nabcdefg", b"bogus\r\n", b"quit\r\n"],
            &[b"set a 0 0 14 noreply\r\ndefault secret\r\n", b"get k\r\n"],
        ] {
            t.push(session(p, attack));
        }
        let mut check = login.to_vec();
        check.extend_from_slice(b"get k\r\n");
        t.push(session(p, &[&check]));
        transcripts.push(t);
    }
    assert_eq!(transcripts[1], transcripts[0]);
    // The value survived every unauthenticated write and flush.
    assert_eq!(
        transcripts[1].last().map(|r| r.concat()),
        Some("STORED\r\nVALUE k 0 4\r\norig\r\nEND\r\n".to_string())
    );
    assert_eq!(
        transcripts[1][1],
        ["CLIENT_ERROR unauthenticated\r\n"],
        "an unauthenticated get is refused"
    );
    // Pipelined, every request is answered (memcached 1.6.18 answers only
    // the first of a read before authentication, the rest waiting for more
    // input: not copied).
    assert_eq!(
        quiet_exchange(port, b"get k\r\nflush_all\r\n").0,
        "CLIENT_ERROR unauthenticated\r\n".repeat(2)
    );
    // An oversized token cannot make the node buffer it.
    assert_eq!(
        quiet_exchange(port, b"set a 0 0 100000\r\n"),
        ("CLIENT_ERROR auth token too long\r\n".to_string(), true)
    );
    // The RESP port is unchanged: NOAUTH before AUTH, the value after it.
    let (resp, _) = quiet_exchange(rc.port, &encode(&[b"GET", b"k"]));
    assert_eq!(resp, "-NOAUTH Authentication required.\r\n");
    let mut both = encode(&[b"AUTH", b"secret"]);
    both.extend_from_slice(&encode(&[b"GET", b"k"]));
    assert_eq!(quiet_exchange(rc.port, &both).0, "+OK\r\n$4\r\norig\r\n");
    // A real client authenticates with the same exchange.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/pymemcache_auth.py"
    );
    let out = Command::new("python3")
        .args([script, &port.to_string(), "secret"])
        .output()
        .expect("python3");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pymemcache auth ok"),
        "pymemcache auth script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn protected_mode_refuses_non_loopback_memcached_clients() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this host has no non-loopback address");
        return;
    };
    let host = ip.to_string();
    let (rc, port) = start_rc(&["--bind", "127.0.0.1", &host]);
    let from_outside =
        |p: u16, data: &[u8]| String::from_utf8_lossy(&exchange_at(ip, p, data)).into_owned();
    // The connection is refused before any request runs, then closed.
    let denied = from_outside(port, b"set k 0 0 1\r\nv\r\nflush_all\r\n");
    assert!(
        denied.starts_with("SERVER_ERROR DENIED Redis is running in protected mode"),
        "{denied:?}"
    );
    assert!(denied.ends_with("accepting connections from the outside.\r\n"));
    assert_eq!(denied.matches("\r\n").count(), 1, "{denied:?}");
    // The RESP port answers the same text, its own way.
    let resp = from_outside(rc.port, &encode(&[b"PING"]));
    assert_eq!(resp, format!("-{}", &denied["SERVER_ERROR ".len()..]));
    // Loopback clients are served, and nothing was stored from outside.
    assert_eq!(quiet_exchange(port, b"get k\r\n").0, "END\r\n");
}
