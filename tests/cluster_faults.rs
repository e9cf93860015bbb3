//! Epoch safety under faults (issue 14): a node that hangs long enough to
//! be removed, and comes back, must not answer `+OK` from its stale view,
//! and no acknowledged write may be lost or reverted; a node without its
//! majority lease refuses every request with a key, proxied and memcached
//! ones included.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::cluster::{
    field, peer_link, slots_of, start_cluster, start_memcached_cluster, start_node, tmp,
    wait_converged, wait_rebalanced, Node,
};
use common::{encode, free_port, redis_cli, Mc, RawConn};

/// The node timeout of these clusters (ms).
const NODE_TIMEOUT: &str = "1000";
/// Overwritten keys per writer.
const OVERWRITTEN: u64 = 40;

/// Sends a signal (`-STOP`, `-CONT`) to a node.
fn signal(node: &Node, sig: &str) {
    let pid = node.proc.child.id().to_string();
    let ok = std::process::Command::new("kill")
        .args([sig, pid.as_str()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Reads one reply line (SET's replies are one line).
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

/// The writes one client had acknowledged: unique keys with their value,
/// and per overwritten key the highest acknowledged value, each with when
/// it was acknowledged.
#[derive(Debug, Default)]
struct Acked {
    unique: Vec<(String, u64, Instant)>,
    overwritten: HashMap<String, (u64, Instant)>,
    errors: HashMap<String, usize>,
}

/// Writes through the node on `port` until `stop`: alternately a unique
/// key and an overwrite of one of [`OVERWRITTEN`] keys, the value being the
/// client's increasing sequence number; records every `+OK`.
fn writer(port: u16, tag: String, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acked>>) {
    let connect = || {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    };
    let mut s = connect();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let key = if i % 2 == 1 {
            format!("u:{tag}:{i}")
        } else {
            format!("o:{tag}:{}", (i / 2) % OVERWRITTEN)
        };
        let value = i.to_string();
        let reply = s
            .write_all(&encode(&[b"SET", key.as_bytes(), value.as_bytes()]))
            .and_then(|_| read_line(&mut s));
        let mut a = acked.lock().expect("lock");
        match reply {
            Ok(r) if r == "+OK" => {
                if i % 2 == 1 {
                    a.unique.push((key, i, Instant::now()));
                } else {
                    a.overwritten.insert(key, (i, Instant::now()));
                }
            }
            Ok(r) => *a.errors.entry(r).or_default() += 1,
            Err(e) => {
                *a.errors.entry(format!("io: {e}")).or_default() += 1;
                s = connect();
            }
        }
        drop(a);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One writer thread per node (see [`writer`]) and what each had
/// acknowledged.
struct Writers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    clients: Vec<Arc<Mutex<Acked>>>,
}

/// What the read-back found: acknowledged writes, lost ones, overwrites
/// reverted to an older value, missing keys allowed as lost with the
/// stopped node, and a few examples of the bad ones.
#[derive(Debug, Default)]
struct Audit {
    acked: usize,
    lost: usize,
    reverted: usize,
    lost_with_dead_node: usize,
    examples: Vec<String>,
}

impl Audit {
    /// Fails when an acknowledged write was lost or reverted.
    fn assert_nothing_lost(&self) {
        assert_eq!(
            (self.lost, self.reverted),
            (0, 0),
            "acknowledged writes lost: {:?}",
            self.examples
        );
    }
}

impl Writers {
    /// Starts a writer through every node.
    fn start(nodes: &[Node]) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut clients = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            let acked = Arc::new(Mutex::new(Acked::default()));
            clients.push(acked.clone());
            let (port, stop) = (node.port(), stop.clone());
            threads.push(std::thread::spawn(move || {
                writer(port, format!("c{n}"), stop, acked)
            }));
        }
        Writers {
            stop,
            threads,
            clients,
        }
    }

    /// Stops the writers and reads every acknowledged write back through
    /// `port`. Keys of the stopped node's slots (`victim_slots`)
    /// acknowledged before it was fenced (one node timeout after `paused`)
    /// were only on that node: lost with it (no replicas yet), allowed.
    /// Everything else must read back.
    fn stop_and_audit(self, port: u16, victim_slots: &[u16], paused: Instant) -> Audit {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("writer");
        }
        let fence = paused + Duration::from_millis(NODE_TIMEOUT.parse().expect("ms"));
        let dead_node = |key: &str, at: Instant| {
            victim_slots
                .binary_search(&ringcache::store::slot::key_slot(key.as_bytes()))
                .is_ok()
                && at < fence
        };
        let mut audit = Audit::default();
        for (n, acked) in self.clients.iter().enumerate() {
            let a = acked.lock().expect("lock");
            let written: Vec<(String, u64, Instant, bool)> = a
                .unique
                .iter()
                .map(|(k, v, at)| (k.clone(), *v, *at, true))
                .chain(
                    a.overwritten
                        .iter()
                        .map(|(k, (v, at))| (k.clone(), *v, *at, false)),
                )
                .collect();
            let keys: Vec<String> = written.iter().map(|w| w.0.clone()).collect();
            let got = read_back(port, &keys);
            audit.acked += written.len();
            for ((k, want, at, unique), v) in written.iter().zip(&got) {
                let ok = match v {
                    Some(v) if *unique => v == want,
                    Some(v) => v >= want,
                    None => false,
                };
                if ok {
                    continue;
                }
                if v.is_none() && dead_node(k, *at) {
                    audit.lost_with_dead_node += 1;
                    continue;
                }
                match v {
                    Some(_) if !*unique => audit.reverted += 1,
                    _ => audit.lost += 1,
                }
                if audit.examples.len() < 10 {
                    audit.examples.push(format!("{k}={v:?} (acked {want})"));
                }
            }
            eprintln!(
                "client {n}: {} unique + {} overwritten keys acked, errors {:?}",
                a.unique.len(),
                a.overwritten.len(),
                a.errors
            );
        }
        audit
    }
}

/// Reads `keys` through the node on `port` (pipelined in chunks).
fn read_back(port: u16, keys: &[String]) -> Vec<Option<u64>> {
    let mut c = RawConn::connect(port);
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(200) {
        let mut req = Vec::new();
        for k in chunk {
            req.extend_from_slice(&encode(&[b"GET", k.as_bytes()]));
        }
        c.send_raw(&req);
        for k in chunk {
            let r = c.read_reply();
            let text = String::from_utf8_lossy(&r).into_owned();
            let v = match text.split("\r\n").collect::<Vec<_>>()[..] {
                ["$-1", ..] => None,
                [_, v, ..] if !text.starts_with('-') => v.parse().ok(),
                _ => panic!("GET {k} through {port}: {text:?}"),
            };
            out.push(v);
        }
    }
    out
}

/// SIGSTOP one node of three for 3 node timeouts (the others remove it and
/// serve its slots), keep writing through every node, SIGCONT: afterwards
/// no acknowledged write is lost or reverted, and the pipelined SETs sent
/// to the stopped node's socket meanwhile are not answered `+OK` (before:
/// hundreds of writes lost, every stale SET answered `+OK`).
#[test]
fn a_paused_node_that_was_removed_loses_no_acknowledged_write() {
    let nodes = start_cluster(3, &["--cluster-node-timeout", NODE_TIMEOUT]);
    let victim = &nodes[2];
    let writers = Writers::start(&nodes);
    std::thread::sleep(Duration::from_millis(1500));
    let victim_slots = slots_of(victim.port());
    signal(victim, "-STOP");
    let paused = Instant::now();
    // Pipelined SETs reach the stopped node's socket; it reads them when
    // it resumes, after the others removed it.
    std::thread::sleep(Duration::from_millis(100));
    let mut stale = RawConn::connect(victim.port()).with_read_timeout(Duration::from_secs(20));
    let mut pipeline = Vec::new();
    for i in 0..100 {
        let key = format!("p:{i}");
        pipeline.extend_from_slice(&encode(&[b"SET", key.as_bytes(), b"stale"]));
    }
    stale.send_raw(&pipeline);
    std::thread::sleep(Duration::from_secs(3).saturating_sub(paused.elapsed()));
    signal(victim, "-CONT");
    let stale_replies: Vec<String> = (0..100)
        .map(|_| {
            String::from_utf8_lossy(&stale.read_reply())
                .trim_end()
                .to_string()
        })
        .collect();
    let stale_ok = stale_replies.iter().filter(|r| *r == "+OK").count();
    // Keep writing while the node rejoins and gets its slots back.
    std::thread::sleep(Duration::from_secs(2));
    wait_converged(&nodes, 3);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let audit = writers.stop_and_audit(nodes[0].port(), &victim_slots, paused);
    eprintln!(
        "{audit:?} stale_ok={stale_ok}/100 (stale replies e.g. {:?})",
        &stale_replies[..3]
    );
    assert_eq!(
        stale_ok, 0,
        "the resumed node answered +OK at its stale epoch"
    );
    audit.assert_nothing_lost();
}

/// Keys preloaded on the first node of the 5-node test: enough that the
/// next three nodes still import when the fifth joins.
const PRELOAD: usize = 150_000;

/// One key in every 64th slot (what the chaos harness probes).
fn probe_keys() -> Vec<String> {
    let mut seen = std::collections::BTreeMap::new();
    let mut i = 0u64;
    while seen.len() < ringcache::store::SLOTS / 64 {
        let key = format!("probe:{i}");
        let slot = ringcache::store::slot::key_slot(key.as_bytes());
        if slot.is_multiple_of(64) {
            seen.entry(slot).or_insert(key);
        }
        i += 1;
    }
    seen.into_values().collect()
}

/// The first error a GET of each of `keys` through `port` answers, if any.
fn probe_error(port: u16, keys: &[String]) -> Option<String> {
    let mut c = RawConn::connect(port).with_read_timeout(Duration::from_secs(10));
    let mut req = Vec::new();
    for k in keys {
        req.extend_from_slice(&encode(&[b"GET", k.as_bytes()]));
    }
    c.send_raw(&req);
    let replies: Vec<Vec<u8>> = keys.iter().map(|_| c.read_reply()).collect();
    keys.iter().zip(replies).find_map(|(k, r)| {
        r.starts_with(b"-")
            .then(|| format!("GET {k}: {}", String::from_utf8_lossy(&r).trim_end()))
    })
}

/// Issue 14, chaos `pause` on 5 nodes (recovery `never` in about half the
/// runs): the fifth node joins while the three before it still import
/// their slots from the first, so they drop the imports of the slots the
/// newcomer takes (`Dropped`) and the first node hands those to the
/// newcomer itself. Then the newcomer is stopped for 3 node timeouts
/// under writes through every node, removed, resumed and added again.
/// Every slot must be served again by every node within 20 s, the
/// cluster must settle, and no acknowledged write may be lost or reverted.
/// Before: the slots coming back to the three nodes were imported again
/// from the first node, which had handed them over and forwarded their
/// requests back (`-TRYAGAIN` forever), and when the stopped node came
/// back it imported them from nodes that never handed them over.
#[test]
fn five_nodes_serve_every_slot_after_a_pause_during_which_a_node_was_removed() {
    let timeout = ["--cluster-node-timeout", NODE_TIMEOUT];
    let mut nodes = vec![start_node(tmp(), free_port(), &timeout)];
    wait_converged(&nodes, 1);
    let mut load = RawConn::connect(nodes[0].port());
    for chunk in (0..PRELOAD).collect::<Vec<_>>().chunks(1000) {
        let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
        for i in chunk {
            args.push(format!("pre:{i}").into_bytes());
            args.push(b"x".repeat(64));
        }
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(load.cmd(&args), b"+OK\r\n");
    }
    let seed = format!("127.0.0.1:{}", nodes[0].port());
    let join = [&timeout[..], &["--join", seed.as_str()]].concat();
    for _ in 0..3 {
        nodes.push(start_node(tmp(), free_port(), &join));
    }
    // The fifth joins while the others import from the first.
    let importing = common::eventually(Duration::from_secs(20), || {
        nodes[1..].iter().any(|n| {
            let s = redis_cli(n.port(), &["cluster", "rebalance-status"]);
            field(&s, "rebalance_slots_importing")
                .parse::<u64>()
                .unwrap_or(0)
                > 0
        })
    });
    assert!(importing, "the joiners never imported");
    nodes.push(start_node(tmp(), free_port(), &join));
    // The bug needs imports still running at the fifth's epoch (reported,
    // not asserted: a much faster machine may finish them first).
    let joined = common::eventually(Duration::from_secs(20), || {
        field(
            &redis_cli(nodes[1].port(), &["cluster", "info"]),
            "cluster_size",
        ) == "5"
    });
    let still_importing: Vec<String> = nodes[1..4]
        .iter()
        .map(|n| {
            let s = redis_cli(n.port(), &["cluster", "rebalance-status"]);
            field(&s, "rebalance_slots_importing")
        })
        .collect();
    eprintln!("importing when the fifth joined (joined={joined}): {still_importing:?}");
    wait_converged(&nodes, 5);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(60));
    let probes = probe_keys();
    for n in &nodes {
        assert_eq!(probe_error(n.port(), &probes), None, "before the pause");
    }
    let victim = &nodes[4];
    let writers = Writers::start(&nodes);
    std::thread::sleep(Duration::from_millis(1500));
    let victim_slots = slots_of(victim.port());
    signal(victim, "-STOP");
    let paused = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    signal(victim, "-CONT");
    let mut last = None;
    let served = common::eventually(Duration::from_secs(20), || {
        last = nodes.iter().find_map(|n| probe_error(n.port(), &probes));
        last.is_none()
    });
    let recovery = paused.elapsed();
    let statuses: Vec<String> = nodes
        .iter()
        .map(|n| {
            let s = redis_cli(n.port(), &["cluster", "rebalance-status"]);
            format!(
                "{} in_progress={} importing={} pending={}",
                n.port(),
                field(&s, "rebalance_in_progress"),
                field(&s, "rebalance_slots_importing"),
                field(&s, "rebalance_slots_pending")
            )
        })
        .collect();
    assert!(
        served,
        "slots not served 20 s after the resume: {last:?}; {statuses:?}"
    );
    wait_converged(&nodes, 5);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let audit = writers.stop_and_audit(nodes[0].port(), &victim_slots, paused);
    eprintln!("{audit:?} recovery={recovery:?}");
    audit.assert_nothing_lost();
}

/// A key whose slot the node on `port` serves.
fn key_on(port: u16) -> String {
    let mine = slots_of(port);
    (0..100_000)
        .map(|i| format!("k:{i}"))
        .find(|k| {
            let slot: u16 = redis_cli(port, &["cluster", "keyslot", k])
                .trim()
                .parse()
                .expect("slot");
            mine.binary_search(&slot).is_ok()
        })
        .expect("a key of the node")
}

/// A node whose two peers are stopped loses its lease within the node
/// timeout and then refuses every request with a key on every path: a
/// peer's proxied command (held, then `-CLUSTERDOWN`) and `CLUSTER MC`
/// (`-TRYAGAIN`: the requester decides again), fenced by the receiver's
/// own lease (before: executed), a transaction queued while it held the lease
/// (re-checked at EXEC), a keyless script, memcached and plain commands;
/// CLUSTER INFO shows the lease expired. Nothing refused was applied.
#[test]
fn a_node_without_its_lease_refuses_every_path() {
    let nodes = start_memcached_cluster(3, &["--cluster-node-timeout", NODE_TIMEOUT]);
    let port = nodes[0].port();
    let key = key_on(port);
    let mut plain = RawConn::connect(port);
    assert_eq!(plain.cmd_str(&format!("SET {key} orig")), "+OK\r\n");
    let mut tx = RawConn::connect(port);
    assert_eq!(tx.cmd_str("MULTI"), "+OK\r\n");
    assert_eq!(tx.cmd_str(&format!("SET {key} multi")), "+QUEUED\r\n");
    signal(&nodes[1], "-STOP");
    signal(&nodes[2], "-STOP");
    std::thread::sleep(Duration::from_millis(2500));
    let down = "-CLUSTERDOWN The cluster is down\r\n";
    let info = redis_cli(port, &["cluster", "info"]);
    let mut peer = peer_link(port, 1, "");
    let proxied = peer.cmd_str(&format!("SET {key} proxied"));
    let mc_request = format!("set {key} 0 0 2\r\nmc\r\n");
    let peer_mc = peer.cmd(&[b"CLUSTER", b"MC", mc_request.as_bytes()]);
    let exec = tx.cmd_str("EXEC");
    let script = plain.cmd(&[
        b"EVAL",
        format!("return redis.call('set', '{key}', 'lua')").as_bytes(),
        b"0",
    ]);
    let direct = plain.cmd_str(&format!("SET {key} direct"));
    let mut mc = Mc::connect(nodes[0].mc_port);
    let memcached = mc.step(mc_request.as_bytes());
    signal(&nodes[1], "-CONT");
    signal(&nodes[2], "-CONT");
    assert_eq!(proxied, down, "proxied SET");
    assert_eq!(
        String::from_utf8_lossy(&peer_mc),
        "-TRYAGAIN This node does not hold its cluster lease, try again\r\n",
        "CLUSTER MC"
    );
    assert_eq!(exec, down, "EXEC");
    assert_eq!(String::from_utf8_lossy(&script), down, "keyless EVAL");
    assert_eq!(direct, down, "SET");
    assert_eq!(field(&info, "cluster_lease"), "expired", "{info}");
    assert_eq!(field(&info, "cluster_state"), "fail", "{info}");
    assert_eq!(
        String::from_utf8_lossy(&memcached),
        "SERVER_ERROR cluster is down\r\n",
        "memcached set"
    );
    let back = common::eventually(Duration::from_secs(15), || {
        field(&redis_cli(port, &["cluster", "info"]), "cluster_lease") == "ok"
    });
    assert!(back, "the lease did not come back after the peers resumed");
    assert_eq!(
        plain.cmd_str(&format!("GET {key}")),
        "$4\r\norig\r\n",
        "a refused write was applied"
    );
}
