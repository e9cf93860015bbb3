//! Raft-agreed membership with real processes on loopback: one epoch on every
//! node, leader loss, restart with the same id, at most five voters, minority
//! `-CLUSTERDOWN` and recovery, duplicate node ids, and the internal
//! `CLUSTER RAFT` command refusing non-peers.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{tmp, Node};
use common::{free_port, redis_cli, RawConn};

const TIMEOUT: &str = "2000";

fn start_node(dir: tempfile::TempDir, port: u16, seed: Option<u16>) -> Node {
    let seed = seed.map(|p| format!("127.0.0.1:{p}"));
    let mut args = vec!["--cluster-node-timeout", TIMEOUT];
    if let Some(s) = &seed {
        args.extend_from_slice(&["--join", s.as_str()]);
    }
    common::cluster::start_node(dir, port, &args)
}

fn info(port: u16) -> std::collections::BTreeMap<String, String> {
    redis_cli(port, &["cluster", "info"])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(port: u16, f: &str) -> String {
    info(port).get(f).cloned().unwrap_or_default()
}

fn start_cluster(n: usize) -> Vec<Node> {
    let started = Instant::now();
    let first = start_node(tmp(), free_port(), None);
    let seed = first.port();
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(start_node(tmp(), free_port(), Some(seed)));
    }
    wait_converged(&nodes, n);
    eprintln!("{n} nodes agreed after {:?}", started.elapsed());
    nodes
}

/// Waits until every node is `ok`, holds `size` members at one common epoch
/// and names the same leader.
fn wait_agreed(nodes: &[&Node], size: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let views: Vec<_> = nodes
            .iter()
            .map(|n| {
                let i = info(n.port());
                let g = |k: &str| i.get(k).cloned().unwrap_or_default();
                (
                    g("cluster_state"),
                    g("cluster_size"),
                    g("cluster_current_epoch"),
                    g("cluster_raft_leader"),
                )
            })
            .collect();
        if views.iter().all(|v| {
            v.0 == "ok" && v.1 == size.to_string() && v.2 == views[0].2 && v.3 == views[0].3
        }) && views[0].3 != "-"
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no agreement on {size} members: {views:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

trait AsRefs {
    fn refs(&self) -> Vec<&Node>;
}

impl AsRefs for [Node] {
    fn refs(&self) -> Vec<&Node> {
        self.iter().collect()
    }
}

fn wait_converged(nodes: &[Node], size: usize) {
    wait_agreed(&nodes.refs(), size, Duration::from_secs(40));
}

fn myid(port: u16) -> String {
    redis_cli(port, &["cluster", "myid"]).trim().to_string()
}

fn set_get_everywhere(nodes: &[&Node], prefix: &str) {
    for (i, n) in nodes.iter().enumerate() {
        let mut c = RawConn::connect(n.port());
        for k in 0..50 {
            let key = format!("{prefix}:{i}:{k}");
            assert_eq!(c.cmd(&[b"SET", key.as_bytes(), b"v"]), b"+OK\r\n", "{key}");
            assert_eq!(c.cmd(&[b"GET", key.as_bytes()]), b"$1\r\nv\r\n", "{key}");
        }
    }
}

#[test]
fn three_nodes_one_epoch_and_leader_loss() {
    let mut nodes = start_cluster(3);
    let roles: Vec<String> = nodes
        .iter()
        .map(|n| field(n.port(), "cluster_raft_role"))
        .collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        1,
        "{roles:?}"
    );
    assert_eq!(field(nodes[0].port(), "cluster_raft_voters"), "3");
    set_get_everywhere(&nodes.refs(), "before");
    // Kill the leader: the other two elect one and keep serving.
    let leader_id = field(nodes[0].port(), "cluster_raft_leader");
    let at = nodes
        .iter()
        .position(|n| myid(n.port()) == leader_id)
        .expect("leader is a node");
    let epoch: u64 = field(nodes[0].port(), "cluster_current_epoch")
        .parse()
        .expect("epoch");
    let mut dead = nodes.remove(at);
    dead.proc.child.kill().expect("kill");
    let killed = Instant::now();
    wait_converged(&nodes, 2);
    eprintln!("new leader and membership after {:?}", killed.elapsed());
    let new_leader = field(nodes[0].port(), "cluster_raft_leader");
    assert_ne!(new_leader, leader_id);
    let after: u64 = field(nodes[0].port(), "cluster_current_epoch")
        .parse()
        .expect("epoch");
    assert!(after > epoch, "the removal is a committed change");
    set_get_everywhere(&nodes.refs(), "after");
}

/// Freezes (SIGSTOP) or thaws (SIGCONT) a node this test started: a frozen
/// process neither sends nor answers, like one cut off by a partition.
fn signal(n: &Node, sig: i32) {
    let pid = n.proc.child.id() as i32;
    // SAFETY: kill(2) on the pid of a child this test spawned.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// A key whose slot the node on `port` serves.
fn local_key(port: u16) -> String {
    let mine = common::cluster::slots_of(port);
    (0..10_000)
        .map(|i| format!("key{i}"))
        .find(|k| {
            let slot: u16 = redis_cli(port, &["cluster", "keyslot", k])
                .trim()
                .parse()
                .expect("slot");
            mine.contains(&slot)
        })
        .expect("a local key")
}

#[test]
fn minority_is_clusterdown_until_the_partition_heals() {
    let nodes = start_cluster(3);
    // Cut two of three off: the remaining node has no quorum.
    signal(&nodes[1], libc::SIGSTOP);
    signal(&nodes[2], libc::SIGSTOP);
    let lone = &nodes[0];
    let epoch = field(lone.port(), "cluster_current_epoch");
    // Ask for a key this node serves itself: a key owned by a stopped node
    // would be proxied there and wait for the peer timeout.
    let key = local_key(lone.port());
    let mut c = RawConn::connect(lone.port());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = c.cmd(&[b"GET", key.as_bytes()]);
        if r == b"-CLUSTERDOWN The cluster is down\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "still serving: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(field(lone.port(), "cluster_state"), "fail");
    // Keyless commands still answer.
    assert_eq!(c.cmd_str("PING"), "+PONG\r\n");
    // The minority committed nothing while cut off, even after a while.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(field(lone.port(), "cluster_current_epoch"), epoch);
    assert_eq!(field(lone.port(), "cluster_size"), "3");
    // Heal: the cluster recovers by itself.
    signal(&nodes[1], libc::SIGCONT);
    signal(&nodes[2], libc::SIGCONT);
    wait_converged(&nodes, 3);
    assert_eq!(c.cmd_str("SET somekey 1"), "+OK\r\n");
    set_get_everywhere(&nodes.refs(), "healed");
}

#[test]
fn restarted_node_keeps_its_id_and_rejoins() {
    let mut nodes = start_cluster(3);
    let last = nodes.pop().expect("node");
    let (port, id) = (last.port(), myid(last.port()));
    let Node { proc, dir, .. } = last;
    drop(proc);
    assert!(dir.path().join("raft.json").exists());
    let again = start_node(dir, port, Some(nodes[0].port()));
    assert_eq!(myid(again.port()), id);
    nodes.push(again);
    wait_converged(&nodes, 3);
    assert!(redis_cli(nodes[0].port(), &["cluster", "nodes"]).contains(&id));
}

#[test]
fn six_nodes_have_five_voters() {
    let nodes = start_cluster(6);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let roles: Vec<String> = nodes
            .iter()
            .map(|n| field(n.port(), "cluster_raft_role"))
            .collect();
        let voters = roles
            .iter()
            .filter(|r| *r == "leader" || *r == "voter")
            .count();
        let learners = roles.iter().filter(|r| *r == "learner").count();
        if voters == 5 && learners == 1 {
            break;
        }
        assert!(voters <= 5, "{roles:?}");
        assert!(Instant::now() < deadline, "{roles:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let leader = nodes
        .iter()
        .find(|n| field(n.port(), "cluster_raft_role") == "leader")
        .expect("leader");
    assert_eq!(field(leader.port(), "cluster_raft_voters"), "5");
    assert_eq!(field(leader.port(), "cluster_raft_learners"), "1");
}

#[test]
fn second_process_with_the_same_id_is_refused() {
    let n = start_node(tmp(), free_port(), None);
    wait_converged(std::slice::from_ref(&n), 1);
    let mut child = Command::new(common::ringcache_bin())
        .args([
            "--port",
            &free_port().to_string(),
            "--memcached-port",
            "0",
            "--cluster-enabled",
            "yes",
            "--dir",
            &n.dir.path().to_string_lossy(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second process with the same id kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate node id"), "{err}");
    // The first one is unaffected.
    assert_eq!(field(n.port(), "cluster_state"), "ok");
}

#[test]
fn raft_messages_only_from_peers() {
    let n = start_node(tmp(), free_port(), None);
    let mut c = RawConn::connect(n.port());
    let refused = "-NOPERM this command is accepted only on an authenticated cluster peer link\r\n";
    assert_eq!(c.cmd_str("CLUSTER RAFT group msg"), refused);
    // A peer link (the handshake proved the empty default secret) with a
    // message that does not decode: logged and dropped, the node carries on.
    let mut p = common::cluster::peer_link(n.port(), 1, "");
    assert_eq!(p.cmd_str("CLUSTER RAFT group not-protobuf"), "+OK\r\n");
    assert_eq!(
        p.cmd_str("CLUSTER RAFT group"),
        "-ERR wrong number of arguments for 'cluster|raft' command\r\n"
    );
    assert_eq!(p.cmd_str("PING"), "+PONG\r\n");
    assert_eq!(field(n.port(), "cluster_raft_role"), "leader");
}
