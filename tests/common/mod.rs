//! Shared helpers for integration tests: start real `ringcache` and
//! `redis-server` processes on free loopback ports, talk raw RESP to them, and
//! run the real command-line clients.
#![allow(dead_code)]

pub mod cluster;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (and, for cluster use, port + 10000 too).
pub fn free_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let p = l.local_addr().expect("addr").port();
        if p < 55000 && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

/// A server process killed on drop.
pub struct Proc {
    /// The child process.
    pub child: Child,
    /// Its RESP port.
    pub port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server on port {port} exited early: {status}");
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf) {
                    if buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH") {
                        return;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("server on port {port} did not become ready");
}

/// Path of the ringcache binary built for this test run.
pub fn ringcache_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringcache")
}

/// Starts ringcache on a free port with extra `--flag value` arguments.
pub fn start_ringcache(extra: &[&str]) -> Proc {
    let port = free_port();
    start_ringcache_on(port, extra)
}

/// Starts ringcache on `port` (memcached off unless `extra` turns it on;
/// DEBUG allowed, like Redis' own test servers, unless `extra` says
/// otherwise).
pub fn start_ringcache_on(port: u16, extra: &[&str]) -> Proc {
    let mut args: Vec<String> = vec!["--port".into(), port.to_string()];
    for (flag, default) in [("--memcached-port", "0"), ("--enable-debug-command", "yes")] {
        if !extra.contains(&flag) {
            args.push(flag.into());
            args.push(default.into());
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    // RINGCACHE_TEST_LOGS=<dir> appends every node's log to <dir>/<port>.log
    // (filter RINGCACHE_TEST_RUST_LOG, default `info,ringcache=debug`): for
    // reading what the nodes of a flaky test did.
    let (filter, log) = match std::env::var_os("RINGCACHE_TEST_LOGS") {
        Some(dir) => {
            let path = std::path::Path::new(&dir).join(format!("{port}.log"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .expect("test log file");
            let filter = std::env::var("RINGCACHE_TEST_RUST_LOG")
                .unwrap_or_else(|_| "info,ringcache=debug".into());
            (filter, Stdio::from(file))
        }
        None => ("warn".to_string(), Stdio::null()),
    };
    let mut child = Command::new(ringcache_bin())
        .args(&args)
        .env("RUST_LOG", filter)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn ringcache");
    wait_ready(port, &mut child);
    Proc { child, port }
}

/// Starts a real redis-server for differential tests (None if not installed).
pub fn start_redis(extra: &[&str]) -> Option<Proc> {
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--bind",
        "127.0.0.1",
    ]);
    // Never load (or write) a dump.rdb in the working directory: a stray one
    // there fills the server with keys (and cluster mode refuses ADDSLOTS).
    let dbfile = format!("ringcache-test-{}-{port}.rdb", std::process::id());
    let tmp = std::env::temp_dir();
    cmd.args(["--dir", &tmp.to_string_lossy(), "--dbfilename", &dbfile]);
    cmd.args(extra);
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    wait_ready(port, &mut child);
    Some(Proc { child, port })
}

/// Starts redis-server or panics with an install hint (CI installs it via scripts/test).
pub fn require_redis(extra: &[&str]) -> Proc {
    start_redis(extra).expect("redis-server is required (scripts/test installs it)")
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP connection that returns replies as exact bytes.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Decode replies as RESP3 (after HELLO 3).
    pub resp3: bool,
}

impl RawConn {
    /// Connects to 127.0.0.1:port.
    pub fn connect(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        RawConn {
            stream,
            buf: Vec::new(),
            resp3: false,
        }
    }

    /// The same connection with another read timeout, for replies that take
    /// long to compute in a debug build (hundreds of MB of input).
    pub fn with_read_timeout(self, timeout: Duration) -> RawConn {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("timeout");
        self
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("write");
    }

    /// Reads exactly one complete reply and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            // RESP3-only frame types can only come after HELLO 3 (or in its reply).
            let resp3_frame = self.buf.first().is_some_and(|b| b"%_,#=(~>|!".contains(b));
            let parsed = if self.resp3 || resp3_frame {
                redis_protocol::resp3::decode::complete::decode(&self.buf)
                    .map(|o| o.map(|(_, n)| n))
            } else {
                redis_protocol::resp2::decode::decode(&self.buf).map(|o| o.map(|(_, n)| n))
            };
            match parsed {
                Ok(Some(n)) => return self.buf.drain(..n).collect(),
                Ok(None) => {}
                Err(e) => panic!("bad reply {:?}: {e:?}", String::from_utf8_lossy(&self.buf)),
            }
            let mut tmp = [0u8; 65536];
            let n = self.stream.read(&mut tmp).expect("read reply");
            assert!(n > 0, "connection closed while waiting for a reply");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }

    /// Sends one command and returns its raw reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&encode(args));
        self.read_reply()
    }

    /// Sends a whitespace-separated command (no quoting) and returns the reply as text.
    pub fn cmd_str(&mut self, line: &str) -> String {
        let parts: Vec<&[u8]> = line.split_whitespace().map(|s| s.as_bytes()).collect();
        String::from_utf8_lossy(&self.cmd(&parts)).into_owned()
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut tmp = [0u8; 1024];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(_) => return false,
            }
        }
    }
}

/// Replaces the value of the `id` field of a HELLO reply (differs per server).
pub fn mask_hello_id(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    match text.find("$2\r\nid\r\n:") {
        Some(at) => {
            let start = at + "$2\r\nid\r\n:".len();
            let end = start + text[start..].find("\r\n").unwrap_or(0);
            format!("{}N{}", &text[..start], &text[end..])
        }
        None => text,
    }
}

/// Runs the same commands against two servers and asserts byte-identical
/// replies (HELLO's client id excepted).
pub fn assert_same_replies(reference: u16, subject: u16, script: &[Vec<Vec<u8>>]) {
    let mut a = RawConn::connect(reference);
    let mut b = RawConn::connect(subject);
    assert_same_on(&mut a, &mut b, script);
}

/// Like `assert_same_replies` on connections switched to RESP3 (HELLO 3) first.
pub fn assert_same_resp3_replies(reference: u16, subject: u16, script: &[Vec<Vec<u8>>]) {
    let mut a = resp3_conn(reference);
    let mut b = resp3_conn(subject);
    assert_same_on(&mut a, &mut b, script);
}

/// Like `assert_same_replies` on already open connections (e.g. after HELLO 3,
/// whose reply differs in the client id).
pub fn assert_same_on(a: &mut RawConn, b: &mut RawConn, script: &[Vec<Vec<u8>>]) {
    for cmd in script {
        let args: Vec<&[u8]> = cmd.iter().map(|v| v.as_slice()).collect();
        let hello = args
            .first()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"hello"));
        // The reply to HELLO 3 is already RESP3: decode it as such.
        let to3 = hello && args.get(1) == Some(&&b"3"[..]);
        let before = (a.resp3, b.resp3);
        if to3 {
            a.resp3 = true;
            b.resp3 = true;
        }
        let ra = a.cmd(&args);
        let rb = b.cmd(&args);
        if hello {
            let switched = ra.starts_with(b"%");
            let to2 = args.get(1) == Some(&&b"2"[..]) && ra.starts_with(b"*");
            if !switched && !to2 {
                (a.resp3, b.resp3) = before;
            } else {
                a.resp3 = switched;
                b.resp3 = switched;
            }
        }
        // HELLO replies carry each server's own client id: it is masked.
        assert_eq!(
            mask_hello_id(&rb),
            mask_hello_id(&ra),
            "reply differs for {:?}",
            args.iter()
                .map(|x| String::from_utf8_lossy(x))
                .collect::<Vec<_>>()
        );
    }
}

/// Opens a RESP3 connection (HELLO 3 sent, reply checked) to `port`.
pub fn resp3_conn(port: u16) -> RawConn {
    let mut c = RawConn::connect(port);
    c.resp3 = true;
    let r = c.cmd(&[b"HELLO", b"3"]);
    assert!(r.starts_with(b"%"), "HELLO 3 failed: {r:?}");
    c
}

/// Parses a script of one command per line (redis-cli style quoting).
pub fn script(text: &str) -> Vec<Vec<Vec<u8>>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| ringcache::resp::parse::split_args(l.as_bytes()).expect("balanced quotes"))
        .collect()
}

/// Runs `redis-cli -p port args...` and returns stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `data` on a fresh connection and collects everything the server
/// writes until it closes or stays quiet for `quiet`; returns (bytes, closed).
pub fn exchange(port: u16, data: &[u8], quiet: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(quiet)).expect("timeout");
    let _ = s.write_all(data);
    let mut out = Vec::new();
    let mut tmp = [0u8; 65536];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

/// This host's address on a non-loopback interface, if it has one.
pub fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // Connecting a UDP socket sends nothing: it only picks the route.
    s.connect("203.0.113.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Sends `data` from `ip` (e.g. [`non_loopback_ip`]) to `port` and returns
/// everything the server writes until it closes or stays quiet for a second.
pub fn exchange_at(ip: std::net::IpAddr, port: u16, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect((ip, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let _ = s.write_all(data);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Asserts the node on `port` still answers PING on a fresh connection
/// (`-NOAUTH` counts as an answer on nodes with a password).
pub fn assert_alive(port: u16) {
    let mut c = RawConn::connect(port);
    let r = String::from_utf8_lossy(&c.cmd(&[b"PING"])).into_owned();
    assert!(
        r == "+PONG\r\n" || r.starts_with("-NOAUTH"),
        "node stopped answering PING: {r:?}"
    );
}

/// Polls `f` every 20 ms until it returns true or `within` passes.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Parses an INFO reply body into (section name, field, value) triples.
pub fn parse_info(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(s) = line.strip_prefix("# ") {
            section = s.to_ascii_lowercase();
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((section.clone(), k.to_string(), v.to_string()));
        }
    }
    out
}

/// One INFO field of the node on `port` as text (None when absent).
pub fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let text = redis_cli(port, &["INFO", section]);
    parse_info(&text)
        .into_iter()
        .find(|(_, k, _)| k == field)
        .map(|(_, _, v)| v)
}

/// A reply parsed far enough to compare order-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tree {
    /// Any non-aggregate reply, raw.
    Leaf(Vec<u8>),
    /// An aggregate: type byte and children.
    Agg(u8, Vec<Tree>),
}

/// Parses one RESP2/RESP3 reply from `b` at `pos`.
pub fn parse_tree(b: &[u8], pos: &mut usize) -> Tree {
    let start = *pos;
    let line_end = *pos
        + b[*pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("crlf");
    let tag = b[start];
    let n: i64 = std::str::from_utf8(&b[start + 1..line_end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    *pos = line_end + 2;
    match tag {
        b'*' | b'~' | b'%' | b'>' if n >= 0 => {
            let k = if tag == b'%' { 2 * n } else { n };
            Tree::Agg(tag, (0..k).map(|_| parse_tree(b, pos)).collect())
        }
        b'$' | b'=' if n >= 0 => {
            *pos += n as usize + 2;
            Tree::Leaf(b[start..*pos].to_vec())
        }
        _ => Tree::Leaf(b[start..*pos].to_vec()),
    }
}

/// Sorts the elements of every aggregate (recursively), for unordered replies.
pub fn sorted(t: Tree) -> Tree {
    match t {
        Tree::Agg(tag, mut v) => {
            v = v.into_iter().map(sorted).collect();
            v.sort();
            Tree::Agg(tag, v)
        }
        leaf => leaf,
    }
}

/// The shape of a random reply (aggregate type and element count), which is
/// all that is deterministic about random picks.
pub fn shape(t: &Tree) -> Tree {
    match t {
        Tree::Agg(tag, v) => Tree::Leaf(format!("{} {}", *tag as char, v.len()).into_bytes()),
        leaf => leaf.clone(),
    }
}

/// How the two replies to one random command are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// Byte for byte.
    Exact,
    /// As multisets: every aggregate's elements sorted (hash-table order).
    Unordered,
    /// Aggregate type and length only (random picks).
    Shape,
}

/// Property-based differential test: `cases` random sequences of 40 commands
/// drawn from `command` run against a redis-server and a ringcache, both
/// started with `server_args` and flushed before each sequence. `render` turns
/// a drawn value into the command and how to compare its replies (`None`:
/// skip it); after each sequence the `epilogue` commands are compared exactly.
pub fn random_sequences_match<S>(
    server_args: &[&str],
    cases: u32,
    command: S,
    render: impl Fn(&S::Value) -> Option<(Vec<String>, Compare)>,
    epilogue: &[&str],
) where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
{
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let redis = require_redis(server_args);
    let rc = start_ringcache(server_args);
    let conns = std::cell::RefCell::new((RawConn::connect(redis.port), RawConn::connect(rc.port)));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let sequences = proptest::collection::vec(command, 40);
    let outcome = runner.run(&sequences, |cmds| {
        // The runner wants an `Fn`; the connections are reused across cases.
        let mut conns = conns.borrow_mut();
        let (a, b) = &mut *conns;
        a.cmd(&[b"FLUSHALL"]);
        b.cmd(&[b"FLUSHALL"]);
        let rendered = cmds.iter().filter_map(&render);
        let tail = epilogue.iter().map(|line| {
            let words = line.split_whitespace().map(String::from).collect();
            (words, Compare::Exact)
        });
        for (cmd, compare) in rendered.chain(tail) {
            let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
            let (ra, rb) = (a.cmd(&args), b.cmd(&args));
            let same = match compare {
                Compare::Exact => ra == rb,
                Compare::Unordered => {
                    sorted(parse_tree(&ra, &mut 0)) == sorted(parse_tree(&rb, &mut 0))
                }
                Compare::Shape => {
                    shape(&parse_tree(&ra, &mut 0)) == shape(&parse_tree(&rb, &mut 0))
                }
            };
            if !same {
                return Err(TestCaseError::fail(format!(
                    "{cmd:?}: redis {:?} ringcache {:?}",
                    String::from_utf8_lossy(&ra),
                    String::from_utf8_lossy(&rb)
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("ringcache diverged from redis: {e}");
    }
}

/// Waits until a memcached listener on `port` answers `version`.
pub fn wait_memcached(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 64];
            if s.write_all(b"version\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| n > 0) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("memcached on {port} did not come up");
}

/// A raw memcached connection.
pub struct Mc {
    /// The socket.
    pub s: TcpStream,
    /// Last CAS unique seen (from `gets` or a meta `c` flag), for `{cas}`.
    pub last_cas: String,
}

impl Mc {
    /// Connects to a memcached port on loopback.
    pub fn connect(port: u16) -> Mc {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Mc {
            s,
            last_cas: "0".into(),
        }
    }

    /// Sends one step followed by an `mn` sentinel and returns everything the
    /// server answered before the sentinel's `MN`.
    pub fn step(&mut self, raw: &[u8]) -> Vec<u8> {
        let raw = String::from_utf8_lossy(raw).replace("{cas}", &self.last_cas);
        let mut req = raw.into_bytes();
        req.extend_from_slice(b"mn\r\n");
        self.s.write_all(&req).expect("write");
        let mut buf = Vec::new();
        let mut tmp = [0u8; 65536];
        while !buf.ends_with(b"MN\r\n") {
            let n = self.s.read(&mut tmp).expect("read");
            assert!(
                n > 0,
                "closed while waiting: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&tmp[..n]);
        }
        buf.truncate(buf.len() - 4);
        self.learn_cas(&buf);
        buf
    }

    fn learn_cas(&mut self, reply: &[u8]) {
        for line in String::from_utf8_lossy(reply).split("\r\n") {
            let t: Vec<&str> = line.split(' ').collect();
            if t[0] == "VALUE" && t.len() == 5 {
                self.last_cas = t[4].to_string();
            }
            if ["VA", "HD", "NS", "EX", "NF"].contains(&t[0]) {
                for tok in &t[1..] {
                    if let Some(c) = tok.strip_prefix('c') {
                        if c.bytes().all(|b| b.is_ascii_digit()) && !c.is_empty() {
                            self.last_cas = c.to_string();
                        }
                    }
                }
            }
        }
    }

    /// True when the server closes the connection after `raw`.
    pub fn closes_after(&mut self, raw: &[u8]) -> bool {
        let _ = self.s.write_all(raw);
        let mut tmp = [0u8; 4096];
        loop {
            match self.s.read(&mut tmp) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Runs `scenario` (which talks to the server on the port it is given and
/// returns a transcript of replies) against a fresh redis-server and a fresh
/// ringcache, and requires identical transcripts, entry by entry.
pub fn same_transcript<T: std::fmt::Debug + PartialEq>(scenario: impl Fn(u16) -> Vec<T>) {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let expected = scenario(redis.port);
    let got = scenario(rc.port);
    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(g, e, "reply #{i} differs");
    }
    assert_eq!(got.len(), expected.len(), "transcript lengths differ");
}
