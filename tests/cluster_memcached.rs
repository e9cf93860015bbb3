//! memcached protocol in cluster mode, with three real nodes on loopback:
//! every request is served from any node's memcached port (proxied to the
//! key's owner), multi-gets are split across owners and joined in key order,
//! noreply / quiet modes stay silent, `stats` stays per node, a node without
//! quorum serves no key, and requests made while a node joins lose nothing.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::cluster::{
    field, start_memcached_cluster, start_node_with, tmp, wait_converged, wait_rebalanced, Node,
};
use common::*;

fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}

/// `VALUE` block for `key` holding `value` with client flags `flags`.
fn value(key: &str, flags: u32, v: &str) -> String {
    format!("VALUE {key} {flags} {}\r\n{v}\r\n", v.len())
}

/// The `STAT name value` of a `stats` reply.
fn stat(reply: &[u8], name: &str) -> u64 {
    String::from_utf8_lossy(reply)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in stats"))
}

#[test]
fn every_key_from_every_node() {
    let nodes = start_memcached_cluster(3, &[]);
    let mut mc: Vec<Mc> = nodes.iter().map(|n| Mc::connect(n.mc_port)).collect();
    let n = 90;
    for i in 0..n {
        let (k, v) = (format!("mk:{i}"), format!("value-{i}"));
        let req = format!("set {k} {i} 0 {}\r\n{v}\r\n", v.len());
        assert_eq!(mc[i % 3].step(req.as_bytes()), b"STORED\r\n", "{k}");
    }
    // Keys are spread over the nodes, and each node's stats are its own.
    let items: Vec<u64> = mc
        .iter_mut()
        .map(|c| stat(&c.step(b"stats\r\n"), "curr_items"))
        .collect();
    assert!(items.iter().all(|&i| i > 10), "{items:?}");
    assert_eq!(items.iter().sum::<u64>(), n as u64);
    for (c, node) in mc.iter_mut().zip(&nodes) {
        let mut redis = RawConn::connect(node.proc.port);
        for i in 0..n {
            let (k, v) = (format!("mk:{i}"), format!("value-{i}"));
            let want = format!("{}END\r\n", value(&k, i as u32, &v));
            let got = c.step(format!("get {k}\r\n").as_bytes());
            assert_eq!(String::from_utf8_lossy(&got), want);
            assert_eq!(redis.cmd(&[b"GET", k.as_bytes()]), bulk(&v), "{k}");
        }
    }
    // A multi-get spanning every owner comes back in key order, END once;
    // misses (and repeated keys) keep their place.
    let keys = [
        "mk:5", "nope:1", "mk:1", "mk:2", "mk:5", "mk:30", "nope:2", "mk:0",
    ];
    let want: String = keys
        .iter()
        .filter_map(|k| {
            let i: usize = k.strip_prefix("mk:")?.parse().ok()?;
            Some(value(k, i as u32, &format!("value-{i}")))
        })
        .collect::<String>()
        + "END\r\n";
    for c in mc.iter_mut() {
        let got = c.step(format!("get {}\r\n", keys.join(" ")).as_bytes());
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
    // gets carries the owner's CAS unique, which `cas` then accepts anywhere.
    let got = mc[0].step(b"gets mk:1 mk:2 mk:3\r\n");
    let got = String::from_utf8_lossy(&got).into_owned();
    assert_eq!(got.matches("VALUE ").count(), 3, "{got}");
    let cas = mc[0].last_cas.clone();
    assert_eq!(
        mc[1].step(format!("cas mk:3 0 0 1 {cas}\r\nz\r\n").as_bytes()),
        b"STORED\r\n"
    );
    assert_eq!(
        mc[2].step(format!("cas mk:3 0 0 1 {cas}\r\ny\r\n").as_bytes()),
        b"EXISTS\r\n"
    );
    // gat touches on the owner: the Redis side sees the TTL.
    let got = mc[2].step(b"gat 100 mk:4 mk:6 mk:7 mk:8\r\n");
    assert!(String::from_utf8_lossy(&got).ends_with("END\r\n"));
    for k in ["mk:4", "mk:6", "mk:7", "mk:8"] {
        let ttl = RawConn::connect(nodes[0].proc.port).cmd(&[b"TTL", k.as_bytes()]);
        assert!(ttl == b":100\r\n" || ttl == b":99\r\n", "{k}: {ttl:?}");
    }
}

/// Freezes (SIGSTOP) or thaws (SIGCONT) a node this test started.
fn signal(n: &Node, sig: i32) {
    let pid = n.proc.child.id() as i32;
    // SAFETY: kill(2) on the pid of a child this test spawned.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn split_multi_get_asks_every_owner_at_once() {
    let nodes = start_memcached_cluster(3, &["--cluster-node-timeout", "20000"]);
    let mut mc = Mc::connect(nodes[0].mc_port);
    for i in 0..40 {
        let req = format!("set par:{i} {i} 0 2\r\nv{}\r\n", i % 10);
        assert_eq!(mc.step(req.as_bytes()), b"STORED\r\n");
    }
    let owned = |n: &Node| {
        redis_cli(n.port(), &["KEYS", "par:*"])
            .lines()
            .next()
            .expect("every node owns some keys")
            .to_string()
    };
    let (slow, fast) = (owned(&nodes[1]), owned(&nodes[2]));
    let mut fast_owner = Mc::connect(nodes[2].mc_port);
    let gets = |c: &mut Mc| stat(&c.step(b"stats\r\n"), "cmd_get");
    let before = gets(&mut fast_owner);
    // The first key's owner is frozen: its part waits, yet the second key's
    // owner is asked meanwhile.
    signal(&nodes[1], libc::SIGSTOP);
    mc.s.write_all(format!("get {slow} {fast}\r\n").as_bytes())
        .expect("write");
    let deadline = Instant::now() + Duration::from_secs(5);
    while gets(&mut fast_owner) == before {
        if Instant::now() > deadline {
            signal(&nodes[1], libc::SIGCONT);
            panic!("the second owner was not asked while the first one stalled");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&nodes[1], libc::SIGCONT);
    // Once the frozen owner answers, the values come back in key order.
    let value_of = |k: &str| {
        let i: u32 = k["par:".len()..].parse().expect("index");
        value(k, i, &format!("v{}", i % 10))
    };
    let want = format!("{}{}END\r\n", value_of(&slow), value_of(&fast));
    assert_eq!(String::from_utf8_lossy(&mc.step(b"")), want);
}

#[test]
fn commands_noreply_and_meta_through_any_node() {
    let nodes = start_memcached_cluster(3, &[]);
    let mut mc: Vec<Mc> = nodes.iter().map(|n| Mc::connect(n.mc_port)).collect();
    for i in 0..30 {
        let k = format!("c:{i}");
        let a = &mut mc[i % 3];
        // noreply writes answer nothing, wherever the key lives.
        assert_eq!(
            a.step(format!("set {k} 0 0 1 noreply\r\n1\r\n").as_bytes()),
            b""
        );
        assert_eq!(a.step(format!("incr {k} 41 noreply\r\n").as_bytes()), b"");
        let b = &mut mc[(i + 1) % 3];
        assert_eq!(b.step(format!("incr {k} 1\r\n").as_bytes()), b"43\r\n");
        assert_eq!(
            b.step(format!("append {k} 0 0 1\r\nx\r\n").as_bytes()),
            b"STORED\r\n"
        );
        assert_eq!(
            b.step(format!("touch {k} 0\r\n").as_bytes()),
            b"TOUCHED\r\n"
        );
        let c = &mut mc[(i + 2) % 3];
        assert_eq!(
            c.step(format!("mg {k} v f t k Oab\r\n").as_bytes()),
            format!("VA 3 f0 t-1 k{k} Oab\r\n43x\r\n").as_bytes()
        );
        // Quiet meta: hits of ms/md and misses of mg stay silent.
        assert_eq!(c.step(format!("ms {k} 2 q T0\r\nhi\r\n").as_bytes()), b"");
        assert_eq!(c.step(format!("mg nokey:{i} v q\r\n").as_bytes()), b"");
        assert_eq!(
            mc[i % 3].step(format!("mg {k} s v\r\n").as_bytes()),
            b"VA 2 s2\r\nhi\r\n"
        );
        assert_eq!(mc[i % 3].step(format!("md {k} q\r\n").as_bytes()), b"");
        assert_eq!(
            mc[(i + 1) % 3].step(format!("delete {k}\r\n").as_bytes()),
            b"NOT_FOUND\r\n"
        );
        assert_eq!(
            mc[(i + 1) % 3].step(format!("ma {k} N0 J7 v\r\n").as_bytes()),
            b"VA 1\r\n7\r\n"
        );
    }
    // Binary (base64) meta keys route by their decoded bytes.
    assert_eq!(mc[0].step(b"ms Zm9vYmFy 3 b\r\nbin\r\n"), b"HD\r\n");
    for c in mc.iter_mut() {
        assert_eq!(c.step(b"mg foobar v\r\n"), b"VA 3\r\nbin\r\n");
    }
    // The internal transport is refused to ordinary clients.
    let mut r = RawConn::connect(nodes[0].proc.port);
    let reply = r.cmd(&[b"CLUSTER", b"MC", b"get foobar\r\n"]);
    assert_eq!(
        reply,
        b"-NOPERM this command is accepted only on an authenticated cluster peer link\r\n"
    );
}

#[test]
fn pymemcache_sees_one_keyspace_through_any_node() {
    let nodes = start_memcached_cluster(3, &[]);
    let ports: Vec<String> = nodes.iter().map(|n| n.mc_port.to_string()).collect();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/pymemcache_cluster.py"
        ))
        .args(&ports)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pymemcache cluster ok"));
}

#[test]
fn unreachable_owner_is_a_server_error_and_noreply_stays_silent() {
    let mut nodes = start_memcached_cluster(3, &["--cluster-node-timeout", "20000"]);
    let mut mc = Mc::connect(nodes[0].mc_port);
    for i in 0..30 {
        let req = format!("set gone:{i} 0 0 1\r\nx\r\n");
        assert_eq!(mc.step(req.as_bytes()), b"STORED\r\n");
    }
    let victim = nodes[2].proc.port;
    let owned = redis_cli(victim, &["KEYS", "gone:*"]);
    let key = owned
        .lines()
        .next()
        .expect("the victim owns some keys")
        .to_string();
    nodes[2].proc.child.kill().expect("kill");
    let _ = nodes[2].proc.child.wait();
    // Still a member (failure not yet detected): the proxy cannot connect.
    let got = String::from_utf8_lossy(&mc.step(format!("get {key}\r\n").as_bytes())).into_owned();
    let want = format!("SERVER_ERROR cannot reach the owner 127.0.0.1:{victim}: ");
    assert!(got.starts_with(&want) && got.ends_with("\r\n"), "{got}");
    assert_eq!(got.matches("\r\n").count(), 1, "{got}");
    let got = String::from_utf8_lossy(&mc.step(format!("mg {key} v\r\n").as_bytes())).into_owned();
    assert!(got.starts_with(&want), "{got}");
    assert_eq!(
        mc.step(format!("set {key} 0 0 1 noreply\r\ny\r\n").as_bytes()),
        b""
    );
    // Keys of live owners are still served in the same batch of requests.
    let mut live = Mc::connect(nodes[1].mc_port);
    let others = redis_cli(nodes[1].proc.port, &["KEYS", "gone:*"]);
    let k1 = others.lines().next().expect("node 1 owns some keys");
    assert_eq!(
        live.step(format!("get {k1}\r\n").as_bytes()),
        format!("VALUE {k1} 0 1\r\nx\r\nEND\r\n").as_bytes()
    );
    assert_alive(nodes[0].proc.port);
}

/// A node cut off from its quorum serves no memcached request with a key,
/// not even for a slot it holds (`SERVER_ERROR cluster is down`, the form
/// of RESP's `-CLUSTERDOWN The cluster is down`); keyless requests still
/// answer, and it serves again once the partition heals.
#[test]
fn minority_is_cluster_down_until_the_partition_heals() {
    let nodes = start_memcached_cluster(3, &["--cluster-node-timeout", "2000"]);
    let lone = &nodes[0];
    let mine = common::cluster::slots_of(lone.port());
    let key = (0..10_000)
        .map(|i| format!("mq:{i}"))
        .find(|k| {
            let slot: u16 = redis_cli(lone.port(), &["cluster", "keyslot", k])
                .trim()
                .parse()
                .expect("slot");
            mine.contains(&slot)
        })
        .expect("a key of the lone node");
    let mut mc = Mc::connect(lone.mc_port);
    let set = |v: &str| format!("set {key} 0 0 1\r\n{v}\r\n").into_bytes();
    assert_eq!(mc.step(&set("x")), b"STORED\r\n");
    // Cut two of three off: the remaining node has no quorum.
    signal(&nodes[1], libc::SIGSTOP);
    signal(&nodes[2], libc::SIGSTOP);
    let down = b"SERVER_ERROR cluster is down\r\n";
    let get = format!("get {key}\r\n").into_bytes();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = mc.step(&get);
        if r == down {
            break;
        }
        let text = String::from_utf8_lossy(&r).into_owned();
        assert!(Instant::now() < deadline, "still serving: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(mc.step(&set("y")), down);
    assert_eq!(mc.step(format!("mg {key} v\r\n").as_bytes()), down);
    assert_eq!(mc.step(format!("delete {key} noreply\r\n").as_bytes()), b"");
    // Keyless requests still answer.
    assert!(mc.step(b"version\r\n").starts_with(b"VERSION "));
    signal(&nodes[1], libc::SIGCONT);
    signal(&nodes[2], libc::SIGCONT);
    wait_converged(&nodes, 3);
    // Nothing the minority refused was applied.
    let want = format!("{}END\r\n", value(&key, 0, "x"));
    let healed = eventually(Duration::from_secs(15), || mc.step(&get) == want.as_bytes());
    assert!(healed, "{:?}", String::from_utf8_lossy(&mc.step(&get)));
}

/// Keys each memcached checker thread cycles through.
const MC_KEYS: usize = 30;

/// Sets and reads keys `mck:{t}:{i}` through `port` until `stop`: each read
/// must see the value last written (a write lost at a slot's move, or a read
/// served by a node without the data, shows up here). Returns the errors and
/// the last value written per key.
fn mc_checker(t: usize, port: u16, stop: Arc<AtomicBool>) -> (Vec<String>, Vec<u64>) {
    let mut mc = Mc::connect(port);
    let mut errors = Vec::new();
    let mut last = vec![0u64; MC_KEYS];
    let mut v = 0u64;
    while !stop.load(Ordering::Relaxed) && errors.len() < 20 {
        v += 1;
        for (i, l) in last.iter_mut().enumerate() {
            let key = format!("mck:{t}:{i}");
            let want = if *l == 0 {
                String::new()
            } else {
                value(&key, 0, &l.to_string())
            };
            let got = mc.step(format!("get {key}\r\n").as_bytes());
            if got != format!("{want}END\r\n").as_bytes() {
                errors.push(format!(
                    "get {key} via {port}: {:?}, want previous {l}",
                    String::from_utf8_lossy(&got)
                ));
            }
            let got =
                mc.step(format!("set {key} 0 0 {}\r\n{v}\r\n", v.to_string().len()).as_bytes());
            if got != b"STORED\r\n" {
                errors.push(format!(
                    "set {key} via {port}: {:?}",
                    String::from_utf8_lossy(&got)
                ));
                continue;
            }
            *l = v;
        }
    }
    (errors, last)
}

#[test]
fn memcached_requests_lose_nothing_while_a_node_joins() {
    let mut nodes = start_memcached_cluster(3, &[]);
    // Enough data that the join's rebalance takes a while.
    let pad = ".".repeat(1000);
    let mut mc = Mc::connect(nodes[0].mc_port);
    for chunk in (0..20_000).collect::<Vec<usize>>().chunks(500) {
        let mut req = Vec::new();
        for i in chunk {
            req.extend_from_slice(format!("set pre:{i} 0 0 {}\r\n{pad}\r\n", pad.len()).as_bytes());
        }
        assert_eq!(mc.step(&req), b"STORED\r\n".repeat(chunk.len()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let checkers: Vec<_> = (0..6)
        .map(|t| {
            let port = nodes[t % 3].mc_port;
            let stop = stop.clone();
            std::thread::spawn(move || mc_checker(t, port, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let seed = format!("127.0.0.1:{}", nodes[0].port());
    nodes.push(start_node_with(
        tmp(),
        free_port(),
        &["--join", seed.as_str()],
        true,
    ));
    wait_converged(&nodes, 4);
    let s = redis_cli(nodes[3].port(), &["cluster", "rebalance-status"]);
    eprintln!("importing {} slots", field(&s, "rebalance_slots_importing"));
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut lasts = Vec::new();
    for c in checkers {
        let (errors, last) = c.join().expect("checker");
        assert!(errors.is_empty(), "checker errors: {errors:?}");
        assert!(
            last.iter().all(|&v| v > 1),
            "checker made no progress: {last:?}"
        );
        lasts.push(last);
    }
    // Every value, from every node (the new one included).
    for n in &nodes {
        let mut mc = Mc::connect(n.mc_port);
        for (t, last) in lasts.iter().enumerate() {
            for (i, v) in last.iter().enumerate() {
                let key = format!("mck:{t}:{i}");
                let want = format!("{}END\r\n", value(&key, 0, &v.to_string()));
                assert_eq!(
                    String::from_utf8_lossy(&mc.step(format!("get {key}\r\n").as_bytes())),
                    want
                );
            }
        }
        let keys: String = (0..20_000).map(|i| format!(" pre:{i}")).collect();
        let got = mc.step(format!("get{keys}\r\n").as_bytes());
        assert_eq!(
            got.len(),
            (0..20_000)
                .map(|i| value(&format!("pre:{i}"), 0, &pad).len())
                .sum::<usize>()
                + 5
        );
    }
}
