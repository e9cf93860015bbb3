//! Cluster helpers: nodes with their data directories, joining, convergence.

use std::time::{Duration, Instant};

use super::{free_port, redis_cli, start_ringcache_on, wait_memcached, Proc};

/// One cluster node with its data directory.
pub struct Node {
    /// The process (killed on drop).
    pub proc: Proc,
    /// Its `--dir`.
    pub dir: tempfile::TempDir,
    /// Its memcached port (0: memcached off).
    pub mc_port: u16,
}

impl Node {
    /// RESP port.
    pub fn port(&self) -> u16 {
        self.proc.port
    }
}

/// A fresh data directory.
pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Starts one cluster node on `port` with extra flags (memcached off).
pub fn start_node(dir: tempfile::TempDir, port: u16, extra: &[&str]) -> Node {
    start_node_with(dir, port, extra, false)
}

/// Starts one cluster node; with `memcached`, its memcached listener is on a
/// free port (`Node::mc_port`, 0 when off).
pub fn start_node_with(dir: tempfile::TempDir, port: u16, extra: &[&str], memcached: bool) -> Node {
    let d = dir.path().to_string_lossy().into_owned();
    let mc_port = if memcached { free_port() } else { 0 };
    let mc = mc_port.to_string();
    let mut args = vec!["--cluster-enabled", "yes", "--dir", d.as_str()];
    args.extend_from_slice(&["--memcached-port", mc.as_str()]);
    args.extend_from_slice(extra);
    let proc = start_ringcache_on(port, &args);
    if memcached {
        wait_memcached(mc_port);
    }
    Node { proc, dir, mc_port }
}

/// Starts `n` nodes, every one after the first joining the first, and waits
/// until they agree and the joins' migrations finished.
pub fn start_cluster(n: usize, extra: &[&str]) -> Vec<Node> {
    start_cluster_with(n, extra, false)
}

/// Like [`start_cluster`] with a memcached listener on every node.
pub fn start_memcached_cluster(n: usize, extra: &[&str]) -> Vec<Node> {
    start_cluster_with(n, extra, true)
}

fn start_cluster_with(n: usize, extra: &[&str], memcached: bool) -> Vec<Node> {
    let first = start_node_with(tmp(), free_port(), extra, memcached);
    let seed = format!("127.0.0.1:{}", first.port());
    let mut nodes = vec![first];
    for _ in 1..n {
        let mut args = extra.to_vec();
        args.extend_from_slice(&["--join", seed.as_str()]);
        nodes.push(start_node_with(tmp(), free_port(), &args, memcached));
    }
    wait_converged(&nodes, n);
    // Members are added one committed change at a time, each followed by a
    // migration: wait until the last one finished.
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(30));
    nodes
}

/// The value of `name:value` line `name` in an INFO-style text ("" if absent).
pub fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Waits until every node reports `size` members at one common epoch.
pub fn wait_converged(nodes: &[Node], size: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let views: Vec<(String, String, String)> = nodes
            .iter()
            .map(|n| {
                let info = redis_cli(n.port(), &["cluster", "info"]);
                // Serving needs the majority lease too (a node that just
                // adopted a membership answers -CLUSTERDOWN until its first
                // grants arrive).
                let lease = field(&info, "cluster_lease");
                let state = field(&info, "cluster_state");
                (
                    field(&info, "cluster_size"),
                    field(&info, "cluster_current_epoch"),
                    if lease == "ok" {
                        state
                    } else {
                        format!("lease {lease}")
                    },
                )
            })
            .collect();
        let ok = views
            .iter()
            .all(|v| v.0 == size.to_string() && v.2 == "ok" && v.1 == views[0].1);
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster did not converge to {size} members: {views:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until no node reports a migration in progress (at one epoch).
pub fn wait_rebalanced(nodes: &[&Node], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let busy: Vec<String> = nodes
            .iter()
            .map(|n| {
                let s = redis_cli(n.port(), &["cluster", "rebalance-status"]);
                field(&s, "rebalance_in_progress")
            })
            .collect();
        if busy.iter().all(|b| b == "0") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rebalance did not finish: {busy:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The slots the node on `port` serves (its CLUSTER NODES ranges).
pub fn slots_of(port: u16) -> Vec<u16> {
    let nodes = redis_cli(port, &["cluster", "nodes"]);
    let me = nodes
        .lines()
        .find(|l| l.contains("myself"))
        .expect("myself line")
        .to_string();
    me.split(' ')
        .skip(8)
        .flat_map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let (a, b): (u16, u16) = (a.parse().expect("slot"), b.parse().expect("slot"));
            a..=b
        })
        .collect()
}

/// A connection to `port` that passed the peer-link handshake with `secret`
/// (what a peer node's link does first), at hop level `hop`; panics when the
/// node refuses it.
pub fn peer_link(port: u16, hop: u8, secret: &str) -> super::RawConn {
    let mut c = super::RawConn::connect(port);
    let (id, nonce) = challenge(&mut c);
    let proof = ringcache::cluster::peer_auth::proof(
        secret,
        &nonce,
        "test-peer",
        &id,
        ringcache::cluster::peer_auth::Direction::Connect,
    );
    let reply = c.cmd(&[
        b"CLUSTER",
        b"PROXY-ORIGIN",
        hop.to_string().as_bytes(),
        b"test-peer",
        proof.as_bytes(),
    ]);
    assert_eq!(reply, b"+OK\r\n", "{}", String::from_utf8_lossy(&reply));
    c
}

/// Sends `CLUSTER PROXY-ORIGIN NONCE` on `c` as peer `test-peer`; returns
/// the node's id and challenge.
pub fn challenge(c: &mut super::RawConn) -> (String, String) {
    let reply = c.cmd(&[b"CLUSTER", b"PROXY-ORIGIN", b"NONCE", b"test-peer", b"n0"]);
    let text = String::from_utf8_lossy(&reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert!(lines.len() >= 7 && lines[0] == "*3", "{text}");
    (lines[2].to_string(), lines[4].to_string())
}

/// A real redis-server in cluster mode owning every slot (for differential
/// tests of cluster-only behaviour), with the directory of its nodes.conf.
pub fn require_redis_cluster() -> (Proc, tempfile::TempDir) {
    let dir = tmp();
    let conf = dir.path().join("nodes.conf").to_string_lossy().into_owned();
    let redis = super::require_redis(&["--cluster-enabled", "yes", "--cluster-config-file", &conf]);
    let mut c = super::RawConn::connect(redis.port);
    assert_eq!(c.cmd_str("CLUSTER ADDSLOTSRANGE 0 16383"), "+OK\r\n");
    let up = super::eventually(Duration::from_secs(10), || {
        c.cmd_str("CLUSTER INFO").contains("cluster_state:ok")
    });
    assert!(up, "redis cluster did not come up");
    (redis, dir)
}

/// True when the node on `port` serves the slot of `key` (CLUSTER KEYSLOT).
pub fn serves_key(port: u16, key: &str) -> bool {
    let slot: u16 = redis_cli(port, &["cluster", "keyslot", key])
        .trim()
        .parse()
        .expect("CLUSTER KEYSLOT answers a slot");
    slots_of(port).contains(&slot)
}
