//! Fail fast under faults: a node that hangs (SIGSTOP) must not make the
//! requests sent through the other nodes wait longer than
//! `cluster-node-timeout` + 0.5 s (they are answered, re-routed or refused
//! with `-CLUSTERDOWN`/`-TRYAGAIN`), and a node the committed membership
//! dropped disappears from CLUSTER NODES/SHARDS/SLOTS of the survivors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{field, slots_of, start_cluster, Node};
use common::{encode, redis_cli};

/// The node timeout of these clusters (ms).
const NODE_TIMEOUT: u64 = 1000;
/// The longest a request may take while a node hangs.
const BOUND: Duration = Duration::from_millis(NODE_TIMEOUT + 500);

/// Sends SIGSTOP or SIGCONT to a node.
fn signal(node: &Node, sig: &str) {
    let pid = node.proc.child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, pid.as_str()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// A key whose slot the node on `port` serves.
fn key_on(port: u16, tag: &str) -> String {
    let mine = slots_of(port);
    (0..100_000)
        .map(|i| format!("{tag}:{i}"))
        .find(|k| {
            let slot: u16 = redis_cli(port, &["cluster", "keyslot", k])
                .trim()
                .parse()
                .expect("slot");
            mine.binary_search(&slot).is_ok()
        })
        .expect("a key of the node")
}

/// What one client saw: the longest request, and its replies by kind.
#[derive(Debug, Default)]
struct Seen {
    longest: Duration,
    longest_reply: String,
    replies: std::collections::BTreeMap<String, usize>,
}

/// Reads one reply line (SET and its errors are one line).
fn read_line(s: &mut TcpStream) -> std::io::Result<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n") {
        if s.read(&mut b)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&out).trim_end().to_string())
}

/// Writes `key` through the node on `port` again and again until `stop`,
/// timing every request (a request without a reply within 15 s counts as
/// 15 s).
fn writer(port: u16, key: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(15)))
            .expect("timeout");
        s
    };
    let mut s = connect();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let value = i.to_string();
        let started = Instant::now();
        let reply = s
            .write_all(&encode(&[b"SET", key.as_bytes(), value.as_bytes()]))
            .and_then(|_| read_line(&mut s));
        let took = started.elapsed();
        let kind = match &reply {
            Ok(r) => r.split(' ').next().unwrap_or_default().to_string(),
            Err(e) => format!("io:{e}"),
        };
        let mut g = seen.lock().expect("lock");
        if took > g.longest {
            g.longest = took;
            g.longest_reply = format!("{reply:?}");
        }
        *g.replies.entry(kind).or_default() += 1;
        drop(g);
        if reply.is_err() {
            s = connect();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops `nodes[2]` while clients write, through the two others, keys of
/// every node, until the survivors removed it and a node timeout more;
/// returns the longest request and when the removal was seen.
fn hang_one(nodes: &[Node]) -> (Duration, Duration) {
    let victim = &nodes[2];
    let survivors = [nodes[0].port(), nodes[1].port()];
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut results = Vec::new();
    for (n, owner) in nodes.iter().enumerate() {
        let key = key_on(owner.port(), &format!("owner{n}"));
        for &through in &survivors {
            let seen = Arc::new(Mutex::new(Seen::default()));
            results.push((format!("key of node {n} through {through}"), seen.clone()));
            let (key, stop) = (key.clone(), stop.clone());
            threads.push(std::thread::spawn(move || writer(through, key, stop, seen)));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(victim, "-STOP");
    let stopped = Instant::now();
    // The survivors detect the hang, remove the node and take its slots.
    let removed = common::eventually(Duration::from_secs(15), || {
        let info = redis_cli(survivors[0], &["cluster", "info"]);
        field(&info, "cluster_size") == "2" && field(&info, "cluster_state") == "ok"
    });
    let removal = stopped.elapsed();
    std::thread::sleep(Duration::from_millis(NODE_TIMEOUT));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("writer");
    }
    signal(victim, "-CONT");
    let mut worst = Duration::ZERO;
    for (what, seen) in &results {
        let g = seen.lock().expect("lock");
        eprintln!(
            "{what}: longest {:?} ({}), replies {:?}",
            g.longest, g.longest_reply, g.replies
        );
        worst = worst.max(g.longest);
    }
    eprintln!("longest request {worst:?}; removal seen after {removal:?}");
    assert!(removed, "the survivors did not remove the hung node");
    (worst, removal)
}

/// SIGSTOP one node of three while clients write through the two others:
/// every request is answered within the node timeout + 0.5 s (before: up
/// to 10 s, the fixed peer timeout, for the stopped node's keys).
#[test]
fn requests_toward_a_hung_node_are_answered_within_the_node_timeout() {
    let timeout = NODE_TIMEOUT.to_string();
    let nodes = start_cluster(3, &["--cluster-node-timeout", timeout.as_str()]);
    let (worst, _) = hang_one(&nodes);
    assert!(
        worst <= BOUND,
        "a request waited {worst:?} (bound {BOUND:?}) while a node hung"
    );
}

/// `CONFIG SET cluster-node-timeout` takes effect at run time for every
/// user of the timeout: a cluster started with 20 s, set to 1 s, detects,
/// removes and fails fast as one started with 1 s.
#[test]
fn config_set_cluster_node_timeout_applies_at_run_time() {
    let nodes = start_cluster(3, &["--cluster-node-timeout", "20000"]);
    let timeout = NODE_TIMEOUT.to_string();
    for n in &nodes {
        let r = redis_cli(
            n.port(),
            &["config", "set", "cluster-node-timeout", &timeout],
        );
        assert_eq!(r.trim(), "OK");
        let r = redis_cli(n.port(), &["config", "get", "cluster-node-timeout"]);
        assert_eq!(r.lines().nth(1), Some(timeout.as_str()), "{r}");
    }
    // One gossip round hands the new value on.
    std::thread::sleep(Duration::from_millis(500));
    let (worst, removal) = hang_one(&nodes);
    assert!(
        removal < Duration::from_secs(6),
        "removal took {removal:?}: the failure detector or raft still uses 20 s"
    );
    assert!(
        worst <= BOUND,
        "a request waited {worst:?} (bound {BOUND:?}) while a node hung"
    );
}

/// The ids listed by CLUSTER NODES, SHARDS and SLOTS of the node on `port`.
fn listed_ids(port: u16) -> [String; 3] {
    [
        redis_cli(port, &["cluster", "nodes"]),
        redis_cli(port, &["cluster", "shards"]),
        redis_cli(port, &["cluster", "slots"]),
    ]
}

/// A node killed with `kill -9` and removed from the committed membership
/// disappears from CLUSTER NODES, SHARDS and SLOTS of every survivor within
/// a few seconds (before: listed as `master,fail` for an hour).
#[test]
fn a_removed_node_leaves_the_cluster_views() {
    let timeout = NODE_TIMEOUT.to_string();
    let mut nodes = start_cluster(3, &["--cluster-node-timeout", timeout.as_str()]);
    let victim = nodes.pop().expect("node");
    let id = redis_cli(victim.port(), &["cluster", "myid"])
        .trim()
        .to_string();
    for n in &nodes {
        assert!(listed_ids(n.port())[0].contains(&id));
    }
    drop(victim);
    let removed = common::eventually(Duration::from_secs(15), || {
        nodes.iter().all(|n| {
            let info = redis_cli(n.port(), &["cluster", "info"]);
            field(&info, "cluster_size") == "2" && field(&info, "cluster_state") == "ok"
        })
    });
    assert!(removed, "the survivors did not remove the killed node");
    let gone = common::eventually(Duration::from_secs(3), || {
        nodes
            .iter()
            .all(|n| listed_ids(n.port()).iter().all(|text| !text.contains(&id)))
    });
    for n in &nodes {
        let info = redis_cli(n.port(), &["cluster", "info"]);
        assert_eq!(field(&info, "cluster_known_nodes"), "2", "{info}");
    }
    assert!(
        gone,
        "the removed node is still listed: {}",
        listed_ids(nodes[0].port()).join("\n---\n")
    );
}
