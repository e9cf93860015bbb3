//! Joining never splits the cluster: a node started with `--join` waits for
//! its seed however long it takes (WARN lines, `-CLUSTERDOWN`, CLUSTER INFO
//! `fail`) and joins once the seed is up; a node whose data directory holds
//! a membership restarts into it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::{field, start_node, tmp, wait_converged, Node};
use common::{eventually, free_port, redis_cli, ringcache_bin, Proc};

/// Starts a cluster node on `port` with `--dir dir` and extra flags, its
/// WARN lines appended to `log`.
fn start_logged(dir: tempfile::TempDir, port: u16, extra: &[&str], log: &std::path::Path) -> Node {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let d = dir.path().to_string_lossy().into_owned();
    let p = port.to_string();
    let mut args = vec![
        "--port",
        p.as_str(),
        "--cluster-enabled",
        "yes",
        "--dir",
        d.as_str(),
    ];
    args.extend_from_slice(&["--memcached-port", "0"]);
    args.extend_from_slice(extra);
    let child = Command::new(ringcache_bin())
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::from(file))
        .spawn()
        .expect("spawn ringcache");
    let proc = Proc { child, port };
    let up = eventually(Duration::from_secs(20), || {
        redis_cli(port, &["ping"]).trim() == "PONG"
    });
    assert!(up, "node on {port} did not start");
    Node {
        proc,
        dir,
        mc_port: 0,
    }
}

/// A node told to join a seed that is not up stays unformed (no cluster of
/// its own, before: formed after 5 s), says so in WARN lines, refuses key
/// commands with `-CLUSTERDOWN`, and joins once the seed comes up.
#[test]
fn a_joining_node_waits_for_its_seed_and_never_forms_its_own_cluster() {
    let logs = tmp();
    let log = logs.path().join("joiner.log");
    let seed_port = free_port();
    let seed = format!("127.0.0.1:{seed_port}");
    let joiner = start_logged(tmp(), free_port(), &["--join", &seed], &log);
    // Longer than the old 5 s grace after which it formed its own cluster.
    std::thread::sleep(Duration::from_secs(7));
    let info = redis_cli(joiner.port(), &["cluster", "info"]);
    assert_eq!(field(&info, "cluster_state"), "fail", "{info}");
    assert_eq!(field(&info, "cluster_size"), "0", "{info}");
    let set = redis_cli(joiner.port(), &["set", "k", "v"]);
    assert!(set.starts_with("CLUSTERDOWN"), "{set}");
    let text = std::fs::read_to_string(&log).expect("log");
    let warns = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("cannot join the cluster through seed"))
        .count();
    assert!(warns >= 2, "want a WARN line per failed attempt:\n{text}");
    // The seed comes up: the joiner joins it, one cluster of two.
    let first = start_node(tmp(), seed_port, &[]);
    let nodes = vec![first, joiner];
    wait_converged(&nodes, 2);
    let set = redis_cli(nodes[1].port(), &["set", "k", "v"]);
    assert_eq!(set.trim(), "OK");
}

/// A node whose data directory holds a membership restarts into it, with
/// or without `--join`: it never forms a new cluster.
#[test]
fn a_restarted_node_rejoins_its_cluster_from_its_data_directory() {
    let first = start_node(tmp(), free_port(), &[]);
    let seed = format!("127.0.0.1:{}", first.port());
    let second = start_node(tmp(), free_port(), &["--join", &seed]);
    let mut nodes = vec![first, second];
    wait_converged(&nodes, 2);
    let epoch = field(
        &redis_cli(nodes[0].port(), &["cluster", "info"]),
        "cluster_current_epoch",
    );
    // Restart the joiner without --join, on the same directory and port.
    let Node { proc, dir, .. } = nodes.pop().expect("node");
    let port = proc.port;
    drop(proc);
    nodes.push(start_node(dir, port, &[]));
    wait_converged(&nodes, 2);
    let group = |port: u16| {
        let info = redis_cli(port, &["cluster", "info"]);
        (
            field(&info, "cluster_raft_leader"),
            field(&info, "cluster_current_epoch"),
        )
    };
    assert_eq!(group(nodes[0].port()), group(nodes[1].port()));
    let now: u64 = group(nodes[1].port()).1.parse().expect("epoch");
    assert!(now >= epoch.parse::<u64>().expect("epoch"));
}
