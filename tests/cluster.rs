//! Cluster mode with real processes on loopback: joining, proxying, MOVED,
//! redis-cli -c / --cluster check, redis-py RedisCluster, identity across
//! restarts, failure detection and bus admission by secret.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{slots_of, start_cluster, start_node, tmp, wait_converged, Node};
use common::{free_port, redis_cli, RawConn};

fn info_field(port: u16, field: &str) -> String {
    let info = redis_cli(port, &["cluster", "info"]);
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// `(id, slot ranges)` of every node in a CLUSTER NODES output.
fn topology(nodes_text: &str) -> BTreeMap<String, String> {
    nodes_text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[8..].join(" "))
        })
        .collect()
}

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

#[test]
fn three_nodes_every_key_from_every_node() {
    let nodes = start_cluster(3, &[]);
    let mut conns: Vec<RawConn> = nodes.iter().map(|n| RawConn::connect(n.port())).collect();
    for i in 0..300 {
        let (k, v) = (format!("key:{i}"), format!("value-{i}"));
        let c = &mut conns[i % 3];
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), v.as_bytes()]), b"+OK\r\n");
    }
    for c in conns.iter_mut() {
        for i in 0..300 {
            let (k, v) = (format!("key:{i}"), format!("value-{i}"));
            assert_eq!(c.cmd(&[b"GET", k.as_bytes()]), bulk(&v), "{k}");
        }
    }
    // Keys are spread: every node holds some, and DBSIZE adds up.
    let sizes: Vec<i64> = conns
        .iter_mut()
        .map(|c| {
            let r = String::from_utf8_lossy(&c.cmd(&[b"DBSIZE"])).into_owned();
            r.trim_start_matches(':').trim().parse().expect("int")
        })
        .collect();
    assert!(sizes.iter().all(|&n| n > 30), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<i64>(), 300);
    // Multi-key commands spanning nodes are split and joined.
    let c = &mut conns[1];
    assert_eq!(
        c.cmd(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4"]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd(&[b"MGET", b"a", b"nope", b"b", b"c", b"d"]),
        b"*5\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n"
    );
    assert_eq!(
        c.cmd(&[b"EXISTS", b"a", b"b", b"c", b"d", b"zz"]),
        b":4\r\n"
    );
    assert_eq!(c.cmd(&[b"DEL", b"a", b"b", b"c", b"zz"]), b":3\r\n");
    assert_eq!(
        c.cmd(&[b"RENAME", b"key:1", b"key:2"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    // Hash tags keep multi-key commands on one node.
    assert_eq!(c.cmd(&[b"MSET", b"{t}x", b"1", b"{t}y", b"2"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&[b"MSET", b"a", b"1", b"b"]),
        b"-ERR wrong number of arguments for 'mset' command\r\n"
    );
    assert_eq!(c.cmd(&[b"RENAME", b"{t}x", b"{t}z"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"{t}z"]), bulk("1"));
    assert_eq!(
        c.cmd(&[b"SELECT", b"1"]),
        b"-ERR SELECT is not allowed in cluster mode\r\n"
    );
    // RESP3 clients get RESP3 replies through the proxy.
    let mut r3 = RawConn::connect(nodes[2].port());
    r3.resp3 = true;
    r3.cmd(&[b"HELLO", b"3"]);
    for i in 0..20 {
        let k = format!("missing:{i}");
        assert_eq!(r3.cmd(&[b"GET", k.as_bytes()]), b"_\r\n");
    }
    // Every node reports the same topology.
    let topo: Vec<_> = nodes
        .iter()
        .map(|n| topology(&redis_cli(n.port(), &["cluster", "nodes"])))
        .collect();
    assert_eq!(topo[0].len(), 3);
    assert!(topo.iter().all(|t| t == &topo[0]));
    let slots: Vec<String> = nodes
        .iter()
        .map(|n| redis_cli(n.port(), &["cluster", "slots"]))
        .collect();
    assert!(slots.iter().all(|s| s == &slots[0]));
    let myids: Vec<String> = nodes
        .iter()
        .map(|n| redis_cli(n.port(), &["cluster", "myid"]).trim().to_string())
        .collect();
    for id in &myids {
        assert_eq!(id.len(), 40);
        assert!(topo[0].contains_key(id));
    }
}

#[test]
fn redirect_mode_and_cluster_clients() {
    let nodes = start_cluster(3, &["--cluster-redirect", "yes"]);
    let port = nodes[0].port();
    let ids: Vec<String> = nodes
        .iter()
        .map(|n| redis_cli(n.port(), &["cluster", "myid"]).trim().to_string())
        .collect();
    // Find a key owned by another node: it must answer MOVED to that owner.
    let mut c = RawConn::connect(port);
    let mut moved = 0;
    for i in 0..50 {
        let k = format!("k{i}");
        let r = String::from_utf8_lossy(&c.cmd(&[b"GET", k.as_bytes()])).into_owned();
        if let Some(rest) = r.strip_prefix("-MOVED ") {
            let slot = redis_cli(port, &["cluster", "keyslot", &k]);
            let (s, addr) = rest.trim().split_once(' ').expect("slot addr");
            assert_eq!(s, slot.trim());
            let owner_port: u16 = addr
                .rsplit_once(':')
                .expect("addr")
                .1
                .parse()
                .expect("port");
            assert!(owner_port != port);
            let owner = nodes
                .iter()
                .position(|n| n.port() == owner_port)
                .expect("known owner");
            let o = RawConn::connect(owner_port).cmd(&[b"GET", k.as_bytes()]);
            assert_eq!(o, b"$-1\r\n", "owner {} serves it", ids[owner]);
            moved += 1;
        } else {
            assert_eq!(r, "$-1\r\n");
        }
    }
    assert!(moved > 10, "{moved}");
    // redis-cli -c follows redirections.
    for i in 0..30 {
        let k = format!("cli{i}");
        assert_eq!(
            redis_cli(port, &["-c", "set", &k, &format!("v{i}")]).trim(),
            "OK"
        );
    }
    for n in &nodes {
        for i in 0..30 {
            let k = format!("cli{i}");
            assert_eq!(
                redis_cli(n.port(), &["-c", "get", &k]).trim(),
                format!("v{i}")
            );
        }
    }
    // redis-cli --cluster check agrees with the topology.
    let out = Command::new("redis-cli")
        .args(["--cluster", "check", &format!("127.0.0.1:{port}")])
        .output()
        .expect("redis-cli --cluster check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("[OK] All nodes agree about slots configuration."),
        "{text}"
    );
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    // redis-py's RedisCluster reads and writes.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/cluster_client.py"
    );
    let out = Command::new("python3")
        .args([script, &port.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn restart_keeps_node_id() {
    let port = free_port();
    let node = start_node(tmp(), port, &[]);
    let id = redis_cli(port, &["cluster", "myid"]).trim().to_string();
    assert_eq!(id.len(), 40);
    let Node { proc, dir, .. } = node;
    drop(proc);
    let again = start_node(dir, port, &[]);
    assert_eq!(redis_cli(again.port(), &["cluster", "myid"]).trim(), id);
    let other = start_node(tmp(), free_port(), &[]);
    assert_ne!(redis_cli(other.port(), &["cluster", "myid"]).trim(), id);
    assert!(again.dir.path().join("nodes.json").exists());
}

#[test]
fn killed_node_is_detected_and_its_slots_move() {
    let mut nodes = start_cluster(3, &["--cluster-node-timeout", "2000"]);
    let victim = nodes.pop().expect("node");
    let victim_id = redis_cli(victim.port(), &["cluster", "myid"])
        .trim()
        .to_string();
    let mut proc = victim.proc;
    // SIGKILL: no goodbye on the bus.
    proc.child.kill().expect("kill");
    let killed = Instant::now();
    let port = nodes[0].port();
    loop {
        let text = redis_cli(port, &["cluster", "nodes"]);
        let line = text
            .lines()
            .find(|l| l.starts_with(&victim_id))
            .unwrap_or_default()
            .to_string();
        if line.contains("fail") {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(8),
            "not detected as failed: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let detected = killed.elapsed();
    eprintln!("failure detected after {detected:?}");
    // Survivors take over the slots: every key is served again.
    wait_converged(&nodes, 2);
    let mut c = RawConn::connect(nodes[1].port());
    for i in 0..100 {
        let k = format!("after:{i}");
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), b"x"]), b"+OK\r\n");
        assert_eq!(c.cmd(&[b"GET", k.as_bytes()]), bulk("x"));
    }
}

#[test]
fn foreign_secret_is_not_admitted() {
    let a = start_node(tmp(), free_port(), &["--cluster-secret", "s3cret"]);
    let seed = format!("127.0.0.1:{}", a.port());
    let b = start_node(
        tmp(),
        free_port(),
        &["--cluster-secret", "other", "--join", seed.as_str()],
    );
    let c = start_node(
        tmp(),
        free_port(),
        &["--cluster-secret", "s3cret", "--join", seed.as_str()],
    );
    // The node with the right secret joins; the other one never does.
    let good = [a, c];
    wait_converged(&good, 2);
    std::thread::sleep(Duration::from_millis(1000));
    let b_id = redis_cli(b.port(), &["cluster", "myid"]).trim().to_string();
    assert_eq!(info_field(b.port(), "cluster_known_nodes"), "1");
    assert_eq!(info_field(good[0].port(), "cluster_known_nodes"), "2");
    assert!(!redis_cli(good[0].port(), &["cluster", "nodes"]).contains(&b_id));
    // Still waiting for a peer, the refused node does not claim every slot.
    assert_eq!(info_field(b.port(), "cluster_size"), "0");
}

/// Gossip datagrams carry a MAC of the cluster secret: a valid chitchat SYN
/// (with the right cluster id, which travels in clear) gets no answer
/// unless sealed with the secret, and the answer is sealed too.
#[test]
fn gossip_without_the_secrets_mac_is_ignored() {
    use chitchat::transport::{Socket, UdpSocket as CodecSocket};
    use chitchat::{ChitchatEnvelope, ChitchatMessage, ProtocolVersion};
    use ringcache::cluster::peer_auth::{open_gossip, seal_gossip};
    let n = start_node(tmp(), free_port(), &["--cluster-secret", "s3cret"]);
    wait_converged(std::slice::from_ref(&n), 1);
    let bus = format!("127.0.0.1:{}", n.port() + 10000);
    // chitchat encodes a SYN to a loopback socket of ours.
    let tap = std::net::UdpSocket::bind("127.0.0.1:0").expect("tap");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut codec = CodecSocket::open("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("codec");
        let syn = ChitchatEnvelope {
            version: ProtocolVersion::V0,
            message: ChitchatMessage::Syn {
                cluster_id: ringcache::cluster::gossip::cluster_id("s3cret"),
                digest: Default::default(),
            },
        };
        codec
            .send(tap.local_addr().expect("tap addr"), syn)
            .await
            .expect("encode");
    });
    let mut buf = vec![0u8; 65536];
    let (len, _) = tap.recv_from(&mut buf).expect("encoded syn");
    let syn = buf[..len].to_vec();
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
    probe
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let answer = |datagram: &[u8], buf: &mut Vec<u8>| -> Option<Vec<u8>> {
        probe.send_to(datagram, &bus).expect("send");
        probe.recv_from(buf).ok().map(|(n, _)| buf[..n].to_vec())
    };
    assert_eq!(answer(&syn, &mut buf), None, "an unsealed SYN is ignored");
    let mut foreign = syn.clone();
    seal_gossip("other", &mut foreign);
    assert_eq!(
        answer(&foreign, &mut buf),
        None,
        "sealed with another secret"
    );
    let mut sealed = syn.clone();
    seal_gossip("s3cret", &mut sealed);
    let reply = answer(&sealed, &mut buf).expect("a sealed SYN is answered");
    assert!(
        open_gossip("s3cret", &reply).is_some(),
        "the answer is sealed"
    );
    assert!(open_gossip("other", &reply).is_none());
}

#[test]
fn cluster_commands_errors() {
    let n = start_node(tmp(), free_port(), &[]);
    let n = {
        let nodes = [n];
        wait_converged(&nodes, 1);
        let [n] = nodes;
        n
    };
    let mut c = RawConn::connect(n.port());
    for (cmd, want) in [
        ("CLUSTER KEYSLOT foo", ":12182\r\n"),
        ("CLUSTER COUNTKEYSINSLOT 99999", "-ERR Invalid slot\r\n"),
        (
            "CLUSTER COUNTKEYSINSLOT x",
            "-ERR value is not an integer or out of range\r\n",
        ),
        (
            "CLUSTER GETKEYSINSLOT 1 -1",
            "-ERR Invalid slot or number of keys\r\n",
        ),
        ("CLUSTER FORGET abc", "-ERR Unknown node abc\r\n"),
        (
            "CLUSTER MEET 1.2.3 5",
            "-ERR Invalid node address specified: 1.2.3:5\r\n",
        ),
        (
            "CLUSTER KEYSLOT",
            "-ERR wrong number of arguments for 'cluster|keyslot' command\r\n",
        ),
        ("READONLY", "+OK\r\n"),
        ("READWRITE", "+OK\r\n"),
        ("ASKING", "+OK\r\n"),
        ("SET foo bar", "+OK\r\n"),
        ("CLUSTER COUNTKEYSINSLOT 12182", ":1\r\n"),
        ("CLUSTER GETKEYSINSLOT 12182 10", "*1\r\n$3\r\nfoo\r\n"),
    ] {
        assert_eq!(c.cmd_str(cmd), want, "{cmd}");
    }
    let me = redis_cli(n.port(), &["cluster", "myid"]).trim().to_string();
    assert_eq!(
        c.cmd_str(&format!("CLUSTER FORGET {me}")),
        "-ERR I tried hard but I can't forget myself...\r\n"
    );
    // No replicas yet: a known node has none, an unknown one is an error.
    assert_eq!(c.cmd_str(&format!("CLUSTER REPLICAS {me}")), "*0\r\n");
    assert_eq!(c.cmd_str(&format!("CLUSTER SLAVES {me}")), "*0\r\n");
    assert_eq!(
        c.cmd_str("CLUSTER REPLICAS abc"),
        "-ERR Unknown node abc\r\n"
    );
    // Hand placement of slots says why it is refused, not "unknown".
    for (cmd, why) in [
        ("CLUSTER ADDSLOTS 1 2", "ringcache assigns slots"),
        ("CLUSTER SETSLOT 1 NODE x", "ringcache assigns slots"),
        ("CLUSTER FAILOVER", "no replicas"),
        ("CLUSTER RESET HARD", "SHUTDOWN"),
    ] {
        let sub = cmd.split(' ').nth(1).unwrap_or_default();
        let r = c.cmd_str(cmd);
        assert!(
            r.starts_with(&format!("-ERR CLUSTER {sub} is not supported: ")) && r.contains(why),
            "{cmd}: {r}"
        );
    }
    assert_eq!(
        c.cmd_str("CLUSTER ADDSLOTS"),
        "-ERR wrong number of arguments for 'cluster|addslots' command\r\n"
    );
    let info = redis_cli(n.port(), &["cluster", "info"]);
    assert!(
        info.starts_with("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"),
        "{info}"
    );
    let line = redis_cli(n.port(), &["cluster", "nodes"]);
    assert!(line.contains("myself,master - 0 "), "{line}");
    assert!(line.trim_end().ends_with(" connected 0-16383"), "{line}");
    // Standalone nodes refuse cluster commands like Redis does.
    let s = common::start_ringcache(&[]);
    assert_eq!(
        RawConn::connect(s.port).cmd_str("CLUSTER INFO"),
        "-ERR This instance has cluster support disabled\r\n"
    );
}

#[test]
fn meet_joins_and_forget_removes() {
    let a = start_node(tmp(), free_port(), &[]);
    let b = start_node(tmp(), free_port(), &[]);
    let b_port = b.port().to_string();
    assert_eq!(
        redis_cli(a.port(), &["cluster", "meet", "127.0.0.1", &b_port]).trim(),
        "OK"
    );
    let nodes = [a, b];
    wait_converged(&nodes, 2);
    let [a, b] = nodes;
    let b_id = redis_cli(b.port(), &["cluster", "myid"]).trim().to_string();
    assert!(redis_cli(a.port(), &["cluster", "nodes"]).contains(&b_id));
    // Remove b: its slots go back to a, and a stops listing it.
    drop(b);
    assert_eq!(
        redis_cli(a.port(), &["cluster", "forget", &b_id]).trim(),
        "OK"
    );
    let nodes = [a];
    wait_converged(&nodes, 1);
    assert!(!redis_cli(nodes[0].port(), &["cluster", "nodes"]).contains(&b_id));
    assert_eq!(info_field(nodes[0].port(), "cluster_known_nodes"), "1");
}

/// The multiplexed peer links under load: many clients pipelining through one
/// node get their own replies in order; when an owner is SIGKILLed, requests
/// for its keys fail fast with CLUSTERDOWN (none hang) until the ring drops it.
#[test]
fn proxy_links_keep_order_under_concurrency_and_fail_fast_on_owner_death() {
    let mut nodes = start_cluster(3, &["--cluster-node-timeout", "2000"]);
    let port = nodes[0].port();
    let threads: Vec<_> = (0..12)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = RawConn::connect(port);
                for round in 0..3 {
                    // 100 pipelined SETs, then 100 pipelined GETs, in one write each.
                    let (mut sets, mut gets) = (Vec::new(), Vec::new());
                    for i in 0..100 {
                        let (k, v) = (format!("p:{t}:{i}"), format!("v{round}:{t}:{i}"));
                        sets.extend(common::encode(&[b"SET", k.as_bytes(), v.as_bytes()]));
                        gets.extend(common::encode(&[b"GET", k.as_bytes()]));
                    }
                    c.send_raw(&sets);
                    for _ in 0..100 {
                        assert_eq!(c.read_reply(), b"+OK\r\n");
                    }
                    c.send_raw(&gets);
                    for i in 0..100 {
                        assert_eq!(c.read_reply(), bulk(&format!("v{round}:{t}:{i}")));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let victim = nodes.pop().expect("node");
    let mut proc = victim.proc;
    proc.child.kill().expect("kill");
    let killed = Instant::now();
    let mut c = RawConn::connect(port);
    // Right after the kill (detection takes over a second): a third of these
    // keys belong to the dead node.
    let mut gets = Vec::new();
    for i in 0..100 {
        gets.extend(common::encode(&[b"GET", format!("p:0:{i}").as_bytes()]));
    }
    c.send_raw(&gets);
    let mut failed = 0;
    for i in 0..100 {
        let r = c.read_reply();
        if r.starts_with(b"-") {
            let text = String::from_utf8_lossy(&r).into_owned();
            assert!(text.starts_with("-CLUSTERDOWN "), "{text}");
            failed += 1;
        } else {
            assert_eq!(r, bulk(&format!("v2:0:{i}")));
        }
    }
    let took = killed.elapsed();
    eprintln!("{failed} of 100 requests failed, all answered {took:?} after the kill");
    assert!(failed > 0);
    assert!(took < Duration::from_secs(5), "requests hung: {took:?}");
    wait_converged(&nodes, 2);
    assert_eq!(c.cmd(&[b"SET", b"p:after", b"x"]), b"+OK\r\n");
}

/// Keys served by each of `nodes` (`keys[i]` lives on `nodes[i]`), `per_node`
/// of each, named `{prefix}<n>`.
fn keys_by_owner(nodes: &[Node], prefix: &str, per_node: usize) -> Vec<Vec<String>> {
    let slots: Vec<Vec<u16>> = nodes.iter().map(|n| slots_of(n.port())).collect();
    let mut c = RawConn::connect(nodes[0].port());
    let mut keys = vec![Vec::new(); nodes.len()];
    for i in 0.. {
        if keys.iter().all(|k| k.len() >= per_node) {
            break;
        }
        let k = format!("{prefix}{i}");
        let r =
            String::from_utf8_lossy(&c.cmd(&[b"CLUSTER", b"KEYSLOT", k.as_bytes()])).into_owned();
        let slot: u16 = r.trim_start_matches(':').trim().parse().expect("slot");
        let owner = slots.iter().position(|s| s.contains(&slot)).expect("owner");
        if keys[owner].len() < per_node {
            keys[owner].push(k);
        }
    }
    keys
}

/// A plain client pipelining through a non-owner: commands for other nodes
/// are forwarded together, yet every reply comes back in order, a client's
/// commands to one owner run in order, a command that runs locally (or is
/// split) sees the effects of the forwarded ones before it, errors and
/// CLIENT REPLY OFF/SKIP keep their places, and a request past the hop limit
/// gets -TRYAGAIN.
#[test]
fn pipelined_forwards_keep_reply_order_and_effects() {
    let nodes = start_cluster(3, &[]);
    let keys = keys_by_owner(&nodes, "pipe:", 2);
    let (l, a, b) = (&keys[0][0], &keys[1][0], &keys[2][0]);
    let (a2, b2) = (&keys[1][1], &keys[2][1]);
    let mut c = RawConn::connect(nodes[0].port());
    // Each command with its expected reply (None: the client gets none).
    type Step<'a> = (Vec<&'a [u8]>, Option<Vec<u8>>);
    let script: Vec<Step> = vec![
        (vec![b"SET", a.as_bytes(), b"1"], Some(b"+OK\r\n".to_vec())),
        (vec![b"SET", b.as_bytes(), b"2"], Some(b"+OK\r\n".to_vec())),
        (vec![b"INCR", a.as_bytes()], Some(b":2\r\n".to_vec())),
        (vec![b"GET", l.as_bytes()], Some(b"$-1\r\n".to_vec())),
        (
            vec![b"APPEND", b.as_bytes(), b"x"],
            Some(b":2\r\n".to_vec()),
        ),
        (
            vec![b"NOSUCH", a.as_bytes()],
            Some(
                format!("-ERR unknown command 'NOSUCH', with args beginning with: '{a}' \r\n")
                    .into_bytes(),
            ),
        ),
        (vec![b"GET", a.as_bytes()], Some(bulk("2"))),
        (vec![b"CLIENT", b"REPLY", b"SKIP"], None),
        (vec![b"SET", b.as_bytes(), b"skipped"], None),
        (vec![b"GET", b.as_bytes()], Some(bulk("skipped"))),
        (vec![b"SET", a2.as_bytes(), b"x"], Some(b"+OK\r\n".to_vec())),
        (vec![b"SET", b2.as_bytes(), b"y"], Some(b"+OK\r\n".to_vec())),
        (
            vec![b"MGET", a2.as_bytes(), l.as_bytes(), b2.as_bytes()],
            Some(b"*3\r\n$1\r\nx\r\n$-1\r\n$1\r\ny\r\n".to_vec()),
        ),
        (vec![b"CLIENT", b"REPLY", b"OFF"], None),
        (vec![b"DEL", a2.as_bytes()], None),
        (vec![b"GET", b2.as_bytes()], None),
        (vec![b"CLIENT", b"REPLY", b"ON"], Some(b"+OK\r\n".to_vec())),
        (vec![b"EXISTS", a2.as_bytes()], Some(b":0\r\n".to_vec())),
        (
            vec![b"SET", l.as_bytes(), b"here"],
            Some(b"+OK\r\n".to_vec()),
        ),
        (vec![b"PING"], Some(b"+PONG\r\n".to_vec())),
    ];
    let mut pipeline = Vec::new();
    for (cmd, _) in &script {
        pipeline.extend(common::encode(cmd));
    }
    // Twice: the second round sees the first round's values.
    for round in 0..2 {
        c.send_raw(&pipeline);
        for (cmd, expected) in &script {
            let Some(expected) = expected else { continue };
            let mut expected = expected.clone();
            if round == 1 && cmd[0] == b"GET" && cmd[1] == l.as_bytes() {
                expected = bulk("here");
            }
            if round == 1 && cmd[0] == b"MGET" {
                expected = b"*3\r\n$1\r\nx\r\n$4\r\nhere\r\n$1\r\ny\r\n".to_vec();
            }
            let got = c.read_reply();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&expected),
                "round {round}: {:?}",
                cmd.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            );
        }
    }
    // Many commands to one owner in one write run in order.
    let mut incrs = Vec::new();
    for _ in 0..200 {
        incrs.extend(common::encode(&[b"INCR", a.as_bytes()]));
    }
    c.send_raw(&incrs);
    for i in 0..200 {
        assert_eq!(c.read_reply(), format!(":{}\r\n", 3 + i).into_bytes());
    }
    // A peer link at the last hop level cannot forward again.
    let mut last_hop = common::cluster::peer_link(nodes[0].port(), 4, "");
    assert_eq!(
        last_hop.cmd(&[b"GET", a.as_bytes()]),
        b"-TRYAGAIN Slot is being migrated, try again\r\n"
    );
    assert_eq!(last_hop.cmd(&[b"GET", l.as_bytes()]), bulk("here"));
}

/// The internal CLUSTER subcommands need a connection that proved the cluster
/// secret (challenge-response); the old free `CLUSTER PROXY-ORIGIN` is
/// refused, a proof made with another secret too, and a sniffed proof is
/// worth nothing on another connection.
#[test]
fn internal_commands_need_an_authenticated_peer_link() {
    const CONNECT: ringcache::cluster::peer_auth::Direction =
        ringcache::cluster::peer_auth::Direction::Connect;
    let n = start_node(tmp(), free_port(), &["--cluster-secret", "s3cret"]);
    let refused = "-NOPERM this command is accepted only on an authenticated cluster peer link\r\n";
    let failed = "-NOPERM cluster peer authentication failed\r\n";
    let mut c = RawConn::connect(n.port());
    assert_eq!(c.cmd_str("CLUSTER PROXY-ORIGIN 1"), failed);
    for internal in [
        &[&b"CLUSTER"[..], b"MC", b"get x\r\n"][..],
        &[
            b"CLUSTER",
            b"MIGRATE-BATCH",
            b"x",
            b"1",
            b"begin",
            b"0",
            b"",
        ],
        &[b"CLUSTER", b"RAFT", b"group", b"msg"],
    ] {
        assert_eq!(String::from_utf8_lossy(&c.cmd(internal)), refused);
    }
    // A proof made with another secret, then a replayed valid proof.
    let (id, nonce) = common::cluster::challenge(&mut c);
    let wrong = ringcache::cluster::peer_auth::proof("guess", &nonce, "x", &id, CONNECT);
    let answer = |c: &mut RawConn, proof: &str| {
        let r = c.cmd(&[b"CLUSTER", b"PROXY-ORIGIN", b"1", b"x", proof.as_bytes()]);
        String::from_utf8_lossy(&r).into_owned()
    };
    assert_eq!(answer(&mut c, &wrong), failed);
    let mut d = RawConn::connect(n.port());
    let (_, nonce) = common::cluster::challenge(&mut d);
    let good = ringcache::cluster::peer_auth::proof("s3cret", &nonce, "x", &id, CONNECT);
    assert_eq!(answer(&mut d, &good), "+OK\r\n");
    let _ = common::cluster::challenge(&mut c);
    assert_eq!(answer(&mut c, &good), failed);
    // The challenge is used up: even the right answer cannot be sent twice.
    let mut e = RawConn::connect(n.port());
    let (_, nonce) = common::cluster::challenge(&mut e);
    let good = ringcache::cluster::peer_auth::proof("s3cret", &nonce, "x", &id, CONNECT);
    assert_eq!(answer(&mut e, &wrong), failed);
    assert_eq!(answer(&mut e, &good), failed);
    assert_eq!(c.cmd_str("CLUSTER RAFT group msg"), refused);
    // The authenticated link is a peer link.
    assert_eq!(d.cmd_str("CLUSTER RAFT group not-protobuf"), "+OK\r\n");
    assert_eq!(d.cmd_str("PING"), "+PONG\r\n");
}

/// MONITOR shows the commands a node executes, never the internal traffic of
/// its peer links (raft messages, handshakes, memcached transport).
#[test]
fn monitor_shows_no_internal_cluster_traffic() {
    use std::io::{Read, Write};
    let nodes = start_cluster(2, &[]);
    let theirs = slots_of(nodes[1].port());
    let key = (0..100_000)
        .map(|i| format!("k{i}"))
        .find(|k| theirs.contains(&ringcache::store::key_slot(k.as_bytes())))
        .expect("a key of node 1");
    let mut mon = std::net::TcpStream::connect(("127.0.0.1", nodes[1].port())).expect("connect");
    mon.write_all(b"MONITOR\r\n").expect("monitor");
    mon.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut c = RawConn::connect(nodes[0].port());
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(c.cmd(&[b"SET", key.as_bytes(), b"v"]), b"+OK\r\n");
        let mut buf = [0u8; 4096];
        if let Ok(n) = mon.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
        }
    }
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.contains(&format!("\"SET\" \"{key}\" \"v\"")), "{seen}");
    assert!(!seen.to_ascii_uppercase().contains("CLUSTER"), "{seen}");
}

/// Junk datagrams on the bus port are logged rate limited (not one line
/// each), and a cluster started without a secret says what that risks.
#[test]
fn bus_junk_is_logged_rate_limited_and_no_secret_is_warned() {
    use std::process::Stdio;
    let dir = tmp();
    let log_path = dir.path().join("node.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let (port, bus) = (free_port(), free_port());
    let mut child = Command::new(common::ringcache_bin())
        .args(["--port", &port.to_string(), "--cluster-enabled", "yes"])
        .args(["--cluster-port", &bus.to_string(), "--memcached-port", "0"])
        .args(["--dir", &dir.path().to_string_lossy()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn");
    let ready = common::eventually(Duration::from_secs(10), || {
        redis_cli(port, &["ping"]).trim() == "PONG"
    });
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    for i in 0..5000u32 {
        let _ = udp.send_to(&i.to_be_bytes(), ("127.0.0.1", bus));
    }
    std::thread::sleep(Duration::from_millis(500));
    let alive = redis_cli(port, &["ping"]).trim() == "PONG";
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready && alive);
    let text = std::fs::read_to_string(&log_path).expect("read log");
    assert!(text.contains("without a cluster-secret"), "{text}");
    let warnings = text.lines().filter(|l| l.contains("WARN")).count();
    assert!(
        warnings <= 3,
        "{warnings} warning lines:\n{}",
        &text[..text.len().min(2000)]
    );
}
