//! MEMORY STATS/DOCTOR/MALLOC-STATS/PURGE, LATENCY DOCTOR/GRAPH/HISTOGRAM,
//! INFO latencystats, LOLWUT and CLUSTER COUNT-FAILURE-REPORTS/LINKS/
//! SAVECONFIG: formats checked against a real redis-server 7.0, values
//! checked against what the node really holds.

mod common;

use std::time::Duration;

use common::cluster::{start_cluster, wait_converged};
use common::*;
use redis_protocol::resp2::types::OwnedFrame;

/// Decodes one RESP2 reply.
fn frame(reply: &[u8]) -> OwnedFrame {
    redis_protocol::resp2::decode::decode(reply)
        .expect("valid RESP2")
        .expect("complete reply")
        .0
}

/// A RESP2 flat map (`[k, v, k, v, ...]`) as (key, value) pairs.
fn pairs(f: OwnedFrame) -> Vec<(String, OwnedFrame)> {
    let OwnedFrame::Array(items) = f else {
        panic!("not an array: {f:?}");
    };
    let mut out = Vec::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let OwnedFrame::BulkString(k) = k else {
            panic!("map key is not a bulk string: {k:?}");
        };
        out.push((String::from_utf8_lossy(&k).into_owned(), v));
    }
    out
}

fn int(f: &OwnedFrame) -> i64 {
    match f {
        OwnedFrame::Integer(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(f: &OwnedFrame) -> String {
    match f {
        OwnedFrame::BulkString(b) | OwnedFrame::SimpleString(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        other => panic!("not a string: {other:?}"),
    }
}

/// Field names of MEMORY STATS, with the db sub-maps' own names.
fn memory_stats_names(c: &mut RawConn) -> Vec<String> {
    pairs(frame(&c.cmd(&[b"MEMORY", b"STATS"])))
        .into_iter()
        .flat_map(|(k, v)| {
            let mut names = vec![k.clone()];
            if k.starts_with("db.") {
                names.extend(pairs(v).into_iter().map(|(n, _)| format!("{k}/{n}")));
            }
            names
        })
        .collect()
}

/// MEMORY STATS as a name → value map (top level).
fn memory_stats(c: &mut RawConn) -> std::collections::HashMap<String, OwnedFrame> {
    pairs(frame(&c.cmd(&[b"MEMORY", b"STATS"])))
        .into_iter()
        .collect()
}

/// A MEMORY STATS float field (a RESP2 bulk string).
fn float(f: &OwnedFrame) -> f64 {
    text(f).parse().expect("float")
}

/// The reply's text with every run of digits replaced by `N`.
fn mask_digits(s: &str) -> String {
    let mut out = String::new();
    let mut in_digits = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            if !in_digits {
                out.push('N');
            }
            in_digits = true;
        } else {
            out.push(ch);
            in_digits = false;
        }
    }
    out
}

#[test]
fn memory_stats_has_redis_fields_in_redis_order() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    let setup = script("SET a 1\nSET b 2 EX 100\nSELECT 3\nSET c 3\nSELECT 0");
    let (mut r, mut o) = (RawConn::connect(redis.port), RawConn::connect(rc.port));
    for cmd in &setup {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        r.cmd(&args);
        o.cmd(&args);
    }
    let names = memory_stats_names(&mut o);
    assert_eq!(names, memory_stats_names(&mut r));
    assert!(
        names.contains(&"db.3/overhead.hashtable.main".to_string()),
        "{names:?}"
    );
    // RESP3: the same kinds (`:` integers, `,` doubles, `%` maps) at the same
    // places.
    let kinds = |port: u16| {
        let mut c = resp3_conn(port);
        let reply = c.cmd(&[b"MEMORY", b"STATS"]);
        String::from_utf8_lossy(&reply)
            .split("\r\n")
            .filter_map(|l| l.chars().next())
            .filter(|k| ":,%".contains(*k))
            .collect::<String>()
    };
    assert_eq!(kinds(rc.port), kinds(redis.port));
}

#[test]
fn memory_stats_values_follow_the_dataset() {
    let rc = start_ringcache(&[]);
    let mut c = RawConn::connect(rc.port);
    let before = memory_stats(&mut c);
    assert_eq!(int(&before["keys.count"]), 0);
    assert!(int(&before["startup.allocated"]) > 0);
    assert!(
        int(&before["clients.normal"]) > 0,
        "this client's own buffers"
    );
    for k in [
        "replication.backlog",
        "clients.slaves",
        "aof.buffer",
        "cluster.links",
    ] {
        assert_eq!(int(&before[k]), 0, "{k}");
    }
    // 20,000 keys of 200 bytes in two databases.
    let value = vec![b'v'; 200];
    let mut pipeline = Vec::new();
    for i in 0..20_000 {
        pipeline.extend(encode(&[b"SET", format!("key:{i}").as_bytes(), &value]));
    }
    pipeline.extend(encode(&[b"SELECT", b"5"]));
    for i in 0..1_000 {
        pipeline.extend(encode(&[b"SET", format!("other:{i}").as_bytes(), b"x"]));
    }
    pipeline.extend(encode(&[b"SELECT", b"0"]));
    c.send_raw(&pipeline);
    for _ in 0..21_002 {
        c.read_reply();
    }
    let after = memory_stats(&mut c);
    let dbsize = |c: &mut RawConn, db: &[u8]| {
        c.cmd(&[b"SELECT", db]);
        int(&frame(&c.cmd(&[b"DBSIZE"])))
    };
    let keys = dbsize(&mut c, b"0") + dbsize(&mut c, b"5");
    c.cmd(&[b"SELECT", b"0"]);
    assert_eq!(keys, 21_000);
    assert_eq!(int(&after["keys.count"]), keys);
    let dataset_growth = int(&after["dataset.bytes"]) - int(&before["dataset.bytes"]);
    assert!(
        dataset_growth > 20_000 * 200,
        "dataset grew by {dataset_growth}"
    );
    let total = int(&after["total.allocated"]);
    assert!(total >= int(&after["overhead.total"]) + int(&after["dataset.bytes"]) - 1);
    let net = total - int(&after["startup.allocated"]);
    assert_eq!(int(&after["keys.bytes-per-key"]), net / 21_000);
    let used: i64 = info_field(rc.port, "memory", "used_memory")
        .expect("used_memory")
        .parse()
        .expect("int");
    assert!(
        (used - total).abs() < total / 10,
        "INFO {used} vs STATS {total}"
    );
    assert!(int(&after["peak.allocated"]) >= total);
    let db5 = pairs(after["db.5"].clone());
    assert!(int(&db5[0].1) > 0, "db.5 table overhead: {db5:?}");
    let perc = float(&after["dataset.percentage"]);
    assert!(perc > 0.0 && perc <= 100.0, "{perc}");
    assert!(int(&after["allocator.allocated"]) > 20_000 * 200);
    assert!(float(&after["fragmentation"]) > 0.0);
    // Flushing gives the dataset back.
    c.cmd(&[b"FLUSHALL"]);
    let flushed = memory_stats(&mut c);
    assert_eq!(int(&flushed["keys.count"]), 0);
    assert!(int(&flushed["dataset.bytes"]) < int(&after["dataset.bytes"]));
}

#[test]
fn memory_doctor_help_purge_and_malloc_stats() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    // Both fresh: the "empty instance" text, byte for byte; HELP too.
    assert_same_replies(
        redis.port,
        rc.port,
        &script("MEMORY DOCTOR\nMEMORY HELP\nMEMORY PURGE\nMEMORY STATS extra\nMEMORY NOSUCH"),
    );
    assert_same_resp3_replies(redis.port, rc.port, &script("MEMORY DOCTOR"));
    // A loaded node runs the checks instead.
    let mut c = RawConn::connect(rc.port);
    let value = vec![b'v'; 1000];
    let mut pipeline = Vec::new();
    for i in 0..10_000 {
        pipeline.extend(encode(&[b"SET", format!("k{i}").as_bytes(), &value]));
    }
    c.send_raw(&pipeline);
    for _ in 0..10_000 {
        c.read_reply();
    }
    let report = String::from_utf8_lossy(&c.cmd(&[b"MEMORY", b"DOCTOR"])).into_owned();
    assert!(
        report.contains("Hi Sam, I can't find any memory issue in your instance.")
            || report
                .contains("Sam, I detected a few issues in this Redis instance memory implants:"),
        "{report}"
    );
    // PURGE hands freed pages back: after FLUSHALL, RSS falls well below
    // what the 10 MB dataset needed, and PURGE never raises it (1 MiB of
    // slack for the buffers INFO itself allocates).
    let rss = |c: &mut RawConn| -> u64 {
        let info = String::from_utf8_lossy(&c.cmd(&[b"INFO", b"memory"])).into_owned();
        parse_info(&info)
            .into_iter()
            .find(|(_, k, _)| k == "used_memory_rss")
            .expect("used_memory_rss")
            .2
            .parse()
            .expect("int")
    };
    let loaded = rss(&mut c);
    c.cmd(&[b"FLUSHALL"]);
    let before = rss(&mut c);
    assert_eq!(c.cmd(&[b"MEMORY", b"PURGE"]), b"+OK\r\n");
    let after = rss(&mut c);
    assert!(after <= before + (1 << 20), "RSS {before} -> {after}");
    assert!(
        after + (5 << 20) < loaded,
        "RSS {loaded} loaded, {after} purged"
    );
    // glibc's malloc_info report, as a verbatim string in RESP3.
    let stats = String::from_utf8_lossy(&c.cmd(&[b"MEMORY", b"MALLOC-STATS"])).into_owned();
    assert!(stats.contains("<malloc version="), "{stats}");
    let mut c3 = resp3_conn(rc.port);
    assert!(c3.cmd(&[b"MEMORY", b"MALLOC-STATS"]).starts_with(b"="));
}

/// Sends `count` times `args` pipelined and reads the replies.
fn repeat(c: &mut RawConn, count: usize, args: &[&[u8]]) {
    let one = encode(args);
    c.send_raw(&one.repeat(count));
    for _ in 0..count {
        c.read_reply();
    }
}

/// One LATENCY HISTOGRAM entry: command, calls, (bucket µs, cumulative count)s.
type Histogram = (String, i64, Vec<(i64, i64)>);

/// A LATENCY HISTOGRAM reply, entry by entry.
fn histograms(c: &mut RawConn, args: &[&[u8]]) -> Vec<Histogram> {
    let mut cmd: Vec<&[u8]> = vec![b"LATENCY", b"HISTOGRAM"];
    cmd.extend_from_slice(args);
    pairs(frame(&c.cmd(&cmd)))
        .into_iter()
        .map(|(name, v)| {
            let fields = pairs(v);
            assert_eq!(fields[0].0, "calls");
            assert_eq!(fields[1].0, "histogram_usec");
            let OwnedFrame::Array(b) = fields[1].1.clone() else {
                panic!("histogram_usec is not a map");
            };
            let buckets = b.chunks(2).map(|p| (int(&p[0]), int(&p[1]))).collect();
            (name, int(&fields[0].1), buckets)
        })
        .collect()
}

#[test]
fn latency_histogram_counts_the_commands_sent() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    for port in [redis.port, rc.port] {
        let mut c = RawConn::connect(port);
        repeat(&mut c, 37, &[b"SET", b"k", b"v"]);
        repeat(&mut c, 5, &[b"GET", b"k"]);
        c.cmd(&[b"CONFIG", b"GET", b"maxmemory"]);
        let h = histograms(
            &mut c,
            &[b"set", b"GET", b"nosuch", b"config|get", b"CONFIG"],
        );
        let names: Vec<&str> = h.iter().map(|x| x.0.as_str()).collect();
        // CONFIG names the container: its subcommands with samples follow.
        assert_eq!(
            names,
            ["set", "get", "config|get", "config|get"],
            "port {port}"
        );
        let calls: Vec<i64> = h.iter().map(|x| x.1).collect();
        assert_eq!(calls, [37, 5, 1, 1]);
        for (name, calls, buckets) in &h {
            assert_eq!(buckets.last().map(|b| b.1), Some(*calls), "{name}");
            assert!(buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
            // Power-of-two buckets from 1024 ns, in µs, as Redis reports them.
            let bounds: Vec<i64> = (0..40).map(|k| ((1032i64 << k) - 1) / 1000).collect();
            assert!(buckets.iter().all(|b| bounds.contains(&b.0)), "{buckets:?}");
        }
        // latency-tracking no: nothing more is recorded.
        c.cmd(&[b"CONFIG", b"SET", b"latency-tracking", b"no"]);
        repeat(&mut c, 3, &[b"SET", b"k", b"v"]);
        assert_eq!(histograms(&mut c, &[b"set"])[0].1, 37);
        c.cmd(&[b"CONFIG", b"SET", b"latency-tracking", b"yes"]);
        repeat(&mut c, 3, &[b"SET", b"k", b"v"]);
        assert_eq!(histograms(&mut c, &[b"set"])[0].1, 40);
        // CONFIG RESETSTAT forgets them.
        c.cmd(&[b"CONFIG", b"RESETSTAT"]);
        assert!(histograms(&mut c, &[b"set"]).is_empty());
    }
    assert_same_replies(
        redis.port,
        rc.port,
        &script("LATENCY HISTOGRAM nosuch\nLATENCY HELP"),
    );
    // RESP3: a map of maps, `histogram_usec` a map too (one SET: one bucket).
    let resp3 = |port| {
        let mut c = resp3_conn(port);
        c.cmd(&[b"CONFIG", b"RESETSTAT"]);
        c.cmd(&[b"SET", b"k", b"v"]);
        mask_digits(&String::from_utf8_lossy(&c.cmd(&[
            b"LATENCY",
            b"HISTOGRAM",
            b"set",
        ])))
    };
    assert_eq!(resp3(rc.port), resp3(redis.port));
}

#[test]
fn info_latencystats_percentiles() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    for port in [redis.port, rc.port] {
        let mut c = RawConn::connect(port);
        repeat(&mut c, 20, &[b"SET", b"k", b"v"]);
        let line = |port| {
            redis_cli(port, &["INFO", "latencystats"])
                .lines()
                .find(|l| l.starts_with("latency_percentiles_usec_set:"))
                .map(str::to_string)
        };
        let l = line(port).expect("latencystats line for set");
        assert_eq!(
            mask_digits(&l),
            "latency_percentiles_usec_set:pN=N.N,pN=N.N,pN.N=N.N",
            "port {port}"
        );
        c.cmd(&[
            b"CONFIG",
            b"SET",
            b"latency-tracking-info-percentiles",
            b"50.5 100 0",
        ]);
        let l = line(port).expect("line");
        assert!(l.starts_with("latency_percentiles_usec_set:p50.5="), "{l}");
        assert!(l.contains(",p100=") && l.contains(",p0="), "{l}");
        // Not in the default INFO; in INFO all, between Errorstats and Cluster.
        assert!(!redis_cli(port, &["INFO"]).contains("# Latencystats"));
        let all = redis_cli(port, &["INFO", "all"]);
        let at = |s: &str| all.find(s).unwrap_or_else(|| panic!("{s} missing"));
        assert!(at("# Errorstats") < at("# Latencystats"));
        assert!(at("# Latencystats") < at("# Cluster"));
    }
}

#[test]
fn latency_doctor_and_graph() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    // Monitoring off: Redis' refusal text.
    assert_same_replies(
        redis.port,
        rc.port,
        &script("LATENCY DOCTOR\nLATENCY GRAPH command\nLATENCY GRAPH\nLATENCY RESET"),
    );
    // A slow command (a script busy for well over a millisecond) with the
    // monitor on: the same report and graph, but for the numbers.
    let busy = "local i = 0 while i < 3000000 do i = i + 1 end return i";
    let reports: Vec<(String, String)> = [redis.port, rc.port]
        .iter()
        .map(|&port| {
            let mut c = RawConn::connect(port);
            c.cmd(&[b"CONFIG", b"SET", b"latency-monitor-threshold", b"1"]);
            c.cmd(&[b"EVAL", busy.as_bytes(), b"0"]);
            // The graph first: the doctor's own run may be a sample too.
            let graph =
                String::from_utf8_lossy(&c.cmd(&[b"LATENCY", b"GRAPH", b"command"])).into_owned();
            let doctor = String::from_utf8_lossy(&c.cmd(&[b"LATENCY", b"DOCTOR"])).into_owned();
            // Redis turns transparent huge pages off for itself; a node on a
            // host with THP "always" gets the extra advice: not compared.
            let doctor = doctor
                .split_inclusive('\n')
                .filter(|l| {
                    !l.starts_with("- I detected a non zero amount of anonymous huge pages")
                })
                .collect::<String>();
            (mask_digits(&doctor), mask_digits(&graph))
        })
        .collect();
    assert!(
        reports[1]
            .0
            .contains("N. command: N latency spikes (average Nms"),
        "{}",
        reports[1].0
    );
    assert_eq!(reports[1], reports[0]);
}

#[test]
fn lolwut_like_redis() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    // The version line, the deterministic 1x1 schotter and the errors,
    // byte for byte.
    let s = script(
        "LOLWUT\nLOLWUT VERSION 7\nLOLWUT VERSION 5 1 1 1\nLOLWUT VERSION x\nLOLWUT VERSION 5 1 1 x\nLOLWUT foo bar\nLOLWUT VERSION 6 1 1 x",
    );
    assert_same_replies(redis.port, rc.port, &s);
    assert_same_resp3_replies(
        redis.port,
        rc.port,
        &script("LOLWUT\nLOLWUT VERSION 5 1 1 1"),
    );
    // The random art: same shape, same caption.
    for args in [
        &["LOLWUT", "VERSION", "5"][..],
        &["LOLWUT", "VERSION", "6", "40", "10"][..],
    ] {
        let ours = redis_cli(rc.port, args);
        let theirs = redis_cli(redis.port, args);
        assert_eq!(ours.lines().count(), theirs.lines().count(), "{args:?}");
        let tail = |t: &str| {
            t.lines()
                .rev()
                .take(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(tail(&ours), tail(&theirs), "{args:?}");
        let widths = |t: &str| t.lines().next().map(|l| l.chars().count());
        assert_eq!(widths(&ours), widths(&theirs), "{args:?}");
    }
}

/// A two-node redis-server cluster (its nodes' CLUSTER LINKS are up).
fn redis_pair() -> (Proc, Proc, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let (c1, c2) = (conf("nodes1.conf"), conf("nodes2.conf"));
    let a = require_redis(&["--cluster-enabled", "yes", "--cluster-config-file", &c1]);
    let b = require_redis(&["--cluster-enabled", "yes", "--cluster-config-file", &c2]);
    let mut c = RawConn::connect(a.port);
    c.cmd(&[
        b"CLUSTER",
        b"MEET",
        b"127.0.0.1",
        b.port.to_string().as_bytes(),
    ]);
    let linked = eventually(
        Duration::from_secs(10),
        || matches!(frame(&c.cmd(&[b"CLUSTER", b"LINKS"])), OwnedFrame::Array(l) if l.len() == 2),
    );
    assert!(linked, "redis cluster links did not come up");
    (a, b, dir)
}

/// CLUSTER LINKS as a list of field lists.
fn links(port: u16) -> Vec<Vec<(String, OwnedFrame)>> {
    let mut c = RawConn::connect(port);
    let OwnedFrame::Array(l) = frame(&c.cmd(&[b"CLUSTER", b"LINKS"])) else {
        panic!("CLUSTER LINKS is not an array");
    };
    l.into_iter().map(pairs).collect()
}

#[test]
fn cluster_links_failure_reports_and_saveconfig() {
    let (ra, rb, _rdir) = redis_pair();
    let nodes = start_cluster(2, &[]);
    wait_converged(&nodes, 2);
    let (a, b) = (nodes[0].port(), nodes[1].port());
    let id = |port| redis_cli(port, &["CLUSTER", "MYID"]).trim().to_string();
    let (id_a, id_b) = (id(a), id(b));
    // Traffic through node a for keys node b owns opens a's links to b.
    let mut c = RawConn::connect(a);
    for i in 0..200 {
        c.cmd(&[b"SET", format!("key{i}").as_bytes(), b"v"]);
    }
    let ok = eventually(Duration::from_secs(10), || {
        links(a)
            .iter()
            .any(|l| text(&l[0].1) == "to" && text(&l[1].1) == id_b)
    });
    assert!(ok, "no link from a to b: {:?}", links(a));
    assert!(links(b)
        .iter()
        .any(|l| text(&l[0].1) == "from" && text(&l[1].1) == id_a));
    // Redis' field names in Redis' order.
    let names = |l: &Vec<(String, OwnedFrame)>| l.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    let redis_names = names(&links(ra.port)[0]);
    for l in links(a).iter().chain(links(b).iter()) {
        assert_eq!(names(l), redis_names);
        let created = int(&l[2].1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        assert!(created > 0 && created <= now, "{created}");
        assert!(int(&l[5].1) <= int(&l[4].1));
    }
    // MEMORY STATS counts the links' buffers under cluster.links.
    let mut m = RawConn::connect(a);
    assert!(memory_stats(&mut m).contains_key("cluster.links"));
    // COUNT-FAILURE-REPORTS: Redis' error for an unknown node, 0 for a live one.
    let unknown = "0123456789012345678901234567890123456789";
    for port in [a, ra.port] {
        assert_eq!(
            redis_cli(port, &["CLUSTER", "COUNT-FAILURE-REPORTS", unknown]).trim(),
            format!("ERR Unknown node {unknown}")
        );
    }
    assert_eq!(
        redis_cli(a, &["CLUSTER", "COUNT-FAILURE-REPORTS", &id_b]).trim(),
        "0"
    );
    // SAVECONFIG writes the node's state file again.
    let file = nodes[0].dir.path().join("nodes.json");
    std::fs::remove_file(&file).expect("remove nodes.json");
    assert_eq!(redis_cli(a, &["CLUSTER", "SAVECONFIG"]).trim(), "OK");
    let saved = std::fs::read_to_string(&file).expect("nodes.json written");
    assert!(saved.contains(&id_a) && saved.contains(&id_b), "{saved}");
    drop(rb);
}

#[test]
fn cluster_introspection_refused_outside_cluster_mode() {
    let redis = require_redis(&[]);
    let rc = start_ringcache(&[]);
    assert_same_replies(
        redis.port,
        rc.port,
        &script("CLUSTER LINKS\nCLUSTER SAVECONFIG\nCLUSTER COUNT-FAILURE-REPORTS x"),
    );
}
