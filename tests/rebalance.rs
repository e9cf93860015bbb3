//! Live rebalancing with real processes on loopback: adding a node, changes
//! that overlap a running rebalance (two joins; a newcomer leaving) and a
//! graceful SHUTDOWN while a writer/reader checker (redis crate, several
//! tasks, increasing values; each key's previous value is checked before the
//! next write and the new one read back at once) and redis-benchmark run
//! through the nodes. No request may fail and no write may be lost.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{
    field, slots_of, start_cluster, start_node, tmp, wait_converged, wait_rebalanced,
};
use common::redis_cli;

/// Keys each checker task owns, and the number of tasks.
const KEYS_PER_TASK: usize = 50;
const TASKS: usize = 8;

/// What the checker saw.
struct Checked {
    errors: Vec<String>,
    /// Last value written to each key (task, key index).
    last: Vec<Vec<u64>>,
    ops: u64,
}

/// Starts the checker: task `t` talks to `ports[t % len]`, writes
/// `chk:{t}:{i}` with increasing values and reads each back at once.
fn start_checker(
    rt: &tokio::runtime::Runtime,
    ports: Vec<u16>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Checked> {
    rt.spawn(async move {
        let ops = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let port = ports[t % ports.len()];
            let stop = stop.clone();
            let ops = ops.clone();
            tasks.push(tokio::spawn(async move {
                let mut errors = Vec::new();
                let mut last = vec![0u64; KEYS_PER_TASK];
                let client = match redis::Client::open(format!("redis://127.0.0.1:{port}/")) {
                    Ok(c) => c,
                    Err(e) => return (vec![e.to_string()], last),
                };
                let mut con = match client.get_multiplexed_async_connection().await {
                    Ok(c) => c,
                    Err(e) => return (vec![e.to_string()], last),
                };
                let mut v = 0u64;
                while !stop.load(Ordering::Relaxed) && errors.len() < 20 {
                    v += 1;
                    for (i, l) in last.iter_mut().enumerate() {
                        let key = format!("chk:{t}:{i}");
                        // The previous write must still be there (a write lost
                        // at a flip shows up here, even if overwritten later).
                        let prev: redis::RedisResult<Option<u64>> =
                            redis::cmd("GET").arg(&key).query_async(&mut con).await;
                        match prev {
                            Ok(p) if p.unwrap_or(0) == *l => {}
                            other => errors.push(format!(
                                "GET {key} via {port}: {other:?}, want previous {l}"
                            )),
                        }
                        let set: redis::RedisResult<()> = redis::cmd("SET")
                            .arg(&key)
                            .arg(v)
                            .query_async(&mut con)
                            .await;
                        if let Err(e) = set {
                            errors.push(format!("SET {key} via {port}: {e}"));
                            continue;
                        }
                        *l = v;
                        let got: redis::RedisResult<Option<u64>> =
                            redis::cmd("GET").arg(&key).query_async(&mut con).await;
                        match got {
                            Ok(Some(g)) if g == v => {}
                            other => {
                                errors.push(format!("GET {key} via {port}: {other:?}, want {v}"))
                            }
                        }
                        ops.fetch_add(3, Ordering::Relaxed);
                    }
                }
                (errors, last)
            }));
        }
        let mut out = Checked {
            errors: Vec::new(),
            last: Vec::new(),
            ops: 0,
        };
        for t in tasks {
            match t.await {
                Ok((e, l)) => {
                    out.errors.extend(e);
                    out.last.push(l);
                }
                Err(e) => out.errors.push(e.to_string()),
            }
        }
        out.ops = ops.load(Ordering::Relaxed);
        out
    })
}

/// Runs redis-benchmark (SET/GET on 10k random keys, bounded by -n) against `port`.
fn start_benchmark(port: u16) -> std::process::Child {
    std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "set,get",
            "-n",
            "40000",
            "-r",
            "10000",
        ])
        .args(["-c", "8", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("redis-benchmark")
}

/// Waits for redis-benchmark and asserts it saw no error reply.
fn finish_benchmark(child: std::process::Child) {
    let out = child.wait_with_output().expect("redis-benchmark output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "redis-benchmark failed: {text}");
    assert!(
        !text.contains("ERR") && !text.contains("rror"),
        "redis-benchmark saw errors: {text}"
    );
}

/// The preloaded value of key `pre:{i}`, `pad` bytes longer than `v{i}`
/// (large values make a rebalance take longer).
fn preloaded(i: usize, pad: usize) -> String {
    format!("v{i}{}", ".".repeat(pad))
}

/// Loads `n` keys `pre:{i}` = [`preloaded`] through `port` in pipelines.
/// A pipeline refused with `-CLUSTERDOWN`/`-TRYAGAIN` (a node of a freshly
/// formed cluster on a loaded machine may be between two lease grants) is
/// sent again, as a cluster client would: the SETs are idempotent. This is
/// set-up; what the tests check starts after it.
fn preload(port: u16, n: usize, pad: usize) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
    let mut con = client.get_connection().expect("connect");
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("pre:{i}"))
                .arg(preloaded(*i, pad))
                .ignore();
        }
        let mut tries = 0;
        loop {
            match p.query::<()>(&mut con) {
                Ok(()) => break,
                Err(e)
                    if tries < 20
                        && matches!(
                            e.kind(),
                            redis::ErrorKind::ClusterDown | redis::ErrorKind::TryAgain
                        ) =>
                {
                    tries += 1;
                    eprintln!("preload: {e}; sending the pipeline again ({tries})");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("preload: {e}"),
            }
        }
    }
}

/// Every preloaded key and every checker key has its last value on every node.
fn verify_all(ports: &[u16], (n, pad): (usize, usize), checked: &Checked) {
    for &port in ports {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
        let mut con = client.get_connection().expect("connect");
        let keys: Vec<String> = (0..n).map(|i| format!("pre:{i}")).collect();
        for chunk in keys.chunks(500) {
            let vals: Vec<Option<String>> =
                redis::cmd("MGET").arg(chunk).query(&mut con).expect("mget");
            for (k, v) in chunk.iter().zip(vals) {
                let want = preloaded(k[4..].parse().expect("index"), pad);
                assert_eq!(v.as_deref(), Some(want.as_str()), "{k} via {port}");
            }
        }
        for (t, last) in checked.last.iter().enumerate() {
            for (i, want) in last.iter().enumerate() {
                let got: Option<u64> = redis::cmd("GET")
                    .arg(format!("chk:{t}:{i}"))
                    .query(&mut con)
                    .expect("get");
                assert_eq!(got, Some(*want), "chk:{t}:{i} via {port}");
            }
        }
    }
}

fn dbsize(port: u16) -> usize {
    redis_cli(port, &["dbsize"]).trim().parse().expect("dbsize")
}

#[test]
fn adding_a_node_under_load_moves_data_without_errors() {
    let nodes = start_cluster(3, &[]);
    const PRE: usize = 20_000;
    preload(nodes[0].port(), PRE, 0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let ports: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    let checker = start_checker(&rt, ports.clone(), stop.clone());
    let bench = start_benchmark(nodes[1].port());
    std::thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    let seed = format!("127.0.0.1:{}", nodes[0].port());
    let fourth = start_node(tmp(), common::free_port(), &["--join", seed.as_str()]);
    let mut nodes = nodes;
    nodes.push(fourth);
    wait_converged(&nodes, 4);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(30));
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let checked = rt.block_on(checker).expect("checker");
    finish_benchmark(bench);
    assert!(
        checked.errors.is_empty(),
        "checker errors: {:?}",
        checked.errors
    );
    assert!(
        checked.ops > 1000,
        "checker made too little progress: {}",
        checked.ops
    );
    eprintln!(
        "rebalance to 4 nodes took {took:?}, checker ops {}",
        checked.ops
    );

    let all: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    verify_all(&all, (PRE, 0), &checked);
    // The new node serves about a quarter of the slots and holds their keys;
    // nobody kept a copy of a moved slot.
    let new_port = nodes[3].port();
    let mine = slots_of(new_port);
    assert!(
        (16384 / 8..16384 * 3 / 8).contains(&mine.len()),
        "new node serves {} slots",
        mine.len()
    );
    let in_slots: usize = mine
        .iter()
        .step_by(16)
        .map(|s| {
            redis_cli(new_port, &["cluster", "countkeysinslot", &s.to_string()])
                .trim()
                .parse::<usize>()
                .expect("count")
        })
        .sum();
    assert!(in_slots > 0, "new node holds no keys in its slots");
    let sizes: Vec<usize> = all.iter().map(|&p| dbsize(p)).collect();
    let total: usize = sizes.iter().sum();
    let bench_keys = total - PRE - TASKS * KEYS_PER_TASK;
    assert!(bench_keys <= 10_002, "duplicated keys: sizes {sizes:?}");
    assert!(
        sizes[3] > total / 8 && sizes[3] < total * 3 / 8,
        "new node holds {} of {total} keys",
        sizes[3]
    );
    let status = redis_cli(nodes[0].port(), &["info", "cluster"]);
    assert!(field(&status, "rebalance_completed") != "0", "{status}");
}

#[test]
fn shutdown_hands_slots_over_under_load() {
    let mut nodes = start_cluster(3, &[]);
    const PRE: usize = 10_000;
    preload(nodes[0].port(), PRE, 0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    // The clients use the nodes that stay.
    let ports: Vec<u16> = nodes[..2].iter().map(|n| n.port()).collect();
    let checker = start_checker(&rt, ports.clone(), stop.clone());
    let bench = start_benchmark(nodes[0].port());
    std::thread::sleep(Duration::from_millis(500));

    let mut leaving = nodes.pop().expect("third node");
    let leaving_slots = slots_of(leaving.port()).len();
    assert!(leaving_slots > 0);
    let _ = redis_cli(leaving.port(), &["shutdown"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Ok(Some(s)) = leaving.proc.child.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "leaving node did not exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "leaving node exited with {status}");
    wait_converged(&nodes, 2);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let checked = rt.block_on(checker).expect("checker");
    finish_benchmark(bench);
    assert!(
        checked.errors.is_empty(),
        "checker errors: {:?}",
        checked.errors
    );
    verify_all(&ports, (PRE, 0), &checked);
    let served: usize = ports.iter().map(|&p| slots_of(p).len()).sum();
    assert_eq!(served, 16384);
    drop(leaving);
}

#[test]
fn migrate_batch_is_refused_outside_peer_connections() {
    let nodes = start_cluster(1, &[]);
    let out = redis_cli(
        nodes[0].port(),
        &["cluster", "migrate-batch", "x", "1", "copy", "1", ""],
    );
    assert_eq!(
        out.trim(),
        "NOPERM this command is accepted only on an authenticated cluster peer link"
    );
    let status = redis_cli(nodes[0].port(), &["cluster", "rebalance-status"]);
    assert_eq!(field(&status, "rebalance_in_progress"), "0", "{status}");
    assert_eq!(field(&status, "rebalance_slots_pending"), "0", "{status}");
}

#[test]
fn forgetting_an_alive_node_moves_its_data_first() {
    let nodes = start_cluster(3, &[]);
    const PRE: usize = 5_000;
    preload(nodes[0].port(), PRE, 0);
    let id = redis_cli(nodes[2].port(), &["cluster", "myid"])
        .trim()
        .to_string();
    assert!(!slots_of(nodes[2].port()).is_empty());
    assert_eq!(
        redis_cli(nodes[0].port(), &["cluster", "forget", &id]).trim(),
        "OK"
    );
    let stay = &nodes[..2];
    wait_converged(stay, 2);
    wait_rebalanced(&stay.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    // The forgotten node handed everything over and serves nothing.
    assert!(common::eventually(Duration::from_secs(5), || dbsize(
        nodes[2].port()
    ) == 0));
    let checked = Checked {
        errors: Vec::new(),
        last: Vec::new(),
        ops: 0,
    };
    let ports: Vec<u16> = stay.iter().map(|n| n.port()).collect();
    verify_all(&ports, (PRE, 0), &checked);
    assert_eq!(dbsize(ports[0]) + dbsize(ports[1]), PRE);
    assert!(!redis_cli(ports[0], &["cluster", "nodes"]).contains(&id));
}

/// With `cluster-redirect yes`, redis-py RedisCluster and `redis-cli -c`
/// keep working while a node joins (CLUSTER SLOTS reports effective owners,
/// nodes answer -MOVED to where a slot is served right now).
#[test]
fn cluster_clients_follow_moving_slots() {
    let nodes = start_cluster(3, &["--cluster-redirect", "yes"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/rebalance_cluster_client.py"
    );
    let child = std::process::Command::new("python3")
        .args([script, &nodes[0].port().to_string(), "6"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::thread::sleep(Duration::from_millis(1500));
    let seed = format!("127.0.0.1:{}", nodes[0].port());
    let fourth = start_node(
        tmp(),
        common::free_port(),
        &["--cluster-redirect", "yes", "--join", seed.as_str()],
    );
    let mut nodes = nodes;
    nodes.push(fourth);
    wait_converged(&nodes, 4);
    for i in 0..20 {
        let k = format!("cli{i}");
        assert_eq!(
            redis_cli(nodes[1].port(), &["-c", "set", &k, "x"]).trim(),
            "OK"
        );
    }
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(20));
    for n in &nodes {
        for i in 0..20 {
            let k = format!("cli{i}");
            assert_eq!(redis_cli(n.port(), &["-c", "get", &k]).trim(), "x");
        }
    }
}

/// The checker running through the nodes of a preloaded cluster while its
/// membership changes.
struct Load {
    rt: tokio::runtime::Runtime,
    stop: Arc<AtomicBool>,
    checker: tokio::task::JoinHandle<Checked>,
}

impl Load {
    fn start(ports: Vec<u16>) -> Load {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let stop = Arc::new(AtomicBool::new(false));
        let checker = start_checker(&rt, ports, stop.clone());
        std::thread::sleep(Duration::from_millis(300));
        Load { rt, stop, checker }
    }

    /// Stops the checker; it must have seen no error and made progress.
    fn finish(self) -> Checked {
        self.stop.store(true, Ordering::Relaxed);
        let checked = self.rt.block_on(self.checker).expect("checker");
        assert!(
            checked.errors.is_empty(),
            "checker errors: {:?}",
            checked.errors
        );
        assert!(checked.ops > 300, "checker ops {}", checked.ops);
        checked
    }
}

/// Starts a node joining the cluster of `seed_port`.
fn join(seed_port: u16) -> common::cluster::Node {
    let seed = format!("127.0.0.1:{seed_port}");
    start_node(tmp(), common::free_port(), &["--join", seed.as_str()])
}

/// Waits until the node on `port` imports slots and has received keys: a
/// membership change now overlaps its rebalance.
fn wait_importing(port: u16) {
    assert!(
        common::eventually(Duration::from_secs(20), || {
            let s = redis_cli(port, &["cluster", "rebalance-status"]);
            field(&s, "rebalance_slots_importing").parse().unwrap_or(0) > 0
                && field(&s, "rebalance_keys_received").parse().unwrap_or(0) > 0
        }),
        "node {port} never imported"
    );
}

/// Preloaded keys per overlap test (enough that a rebalance takes a while).
const OVERLAP_PRE: usize = 40_000;
/// Bytes added to each preloaded value in the overlap tests.
const OVERLAP_PAD: usize = 1_000;

/// Every slot is served once and every key is stored once: no node kept a
/// copy of a slot it neither serves nor moves (e.g. a dropped import's).
fn assert_no_stray_copies(ports: &[u16]) {
    let served: usize = ports.iter().map(|&p| slots_of(p).len()).sum();
    assert_eq!(served, 16384);
    let sizes: Vec<usize> = ports.iter().map(|&p| dbsize(p)).collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        OVERLAP_PRE + TASKS * KEYS_PER_TASK,
        "keys per node {sizes:?}"
    );
}

#[test]
fn overlapping_joins_under_load_lose_nothing() {
    let mut nodes = start_cluster(3, &[]);
    preload(nodes[0].port(), OVERLAP_PRE, OVERLAP_PAD);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    let load = Load::start(ports);
    nodes.push(join(nodes[0].port()));
    // The fifth joins at once: raft admits it right after the fourth, while
    // slots still move to the fourth.
    nodes.push(join(nodes[1].port()));
    assert!(common::eventually(Duration::from_secs(20), || field(
        &redis_cli(nodes[3].port(), &["cluster", "info"]),
        "cluster_size"
    ) == "5"));
    let s = redis_cli(nodes[3].port(), &["cluster", "rebalance-status"]);
    eprintln!(
        "fifth node admitted while the fourth imports {} slots",
        field(&s, "rebalance_slots_importing")
    );
    wait_converged(&nodes, 5);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    let checked = load.finish();
    let all: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    verify_all(&all, (OVERLAP_PRE, OVERLAP_PAD), &checked);
    assert_no_stray_copies(&all);
}

/// A node that joined leaves (`shutdown`) or is forgotten while it still
/// imports: what it took over is handed on, what it was still importing goes
/// from the node that holds it to the new owner.
fn newcomer_leaves_while_importing(shutdown: bool) {
    let nodes = start_cluster(3, &[]);
    preload(nodes[0].port(), OVERLAP_PRE, OVERLAP_PAD);
    let ports: Vec<u16> = nodes.iter().map(|n| n.port()).collect();
    let load = Load::start(ports.clone());
    let mut fourth = join(nodes[0].port());
    wait_importing(fourth.port());
    if shutdown {
        let _ = redis_cli(fourth.port(), &["shutdown"]);
    } else {
        let id = redis_cli(fourth.port(), &["cluster", "myid"]);
        assert_eq!(
            redis_cli(nodes[0].port(), &["cluster", "forget", id.trim()]).trim(),
            "OK"
        );
    }
    wait_converged(&nodes, 3);
    wait_rebalanced(&nodes.iter().collect::<Vec<_>>(), Duration::from_secs(60));
    if shutdown {
        assert!(
            common::eventually(Duration::from_secs(40), || matches!(
                fourth.proc.child.try_wait(),
                Ok(Some(_))
            )),
            "leaving node did not exit"
        );
    } else {
        // Handed everything on, kept no copy of an import it dropped.
        assert!(common::eventually(Duration::from_secs(10), || dbsize(
            fourth.port()
        ) == 0));
    }
    std::thread::sleep(Duration::from_millis(300));
    let checked = load.finish();
    verify_all(&ports, (OVERLAP_PRE, OVERLAP_PAD), &checked);
    assert_no_stray_copies(&ports);
}

#[test]
fn forgetting_a_newcomer_while_it_imports_loses_nothing() {
    newcomer_leaves_while_importing(false);
}

#[test]
fn shutting_down_a_newcomer_while_it_imports_loses_nothing() {
    newcomer_leaves_while_importing(true);
}
