//! Prometheus export: counters and the latency histogram are served over HTTP.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn prometheus_endpoint_reports_commands_keys_and_latency() {
    let mport = free_port();
    let node = start_ringcache(&["--metrics-port", &mport.to_string()]);
    let mut c = RawConn::connect(node.port);
    for i in 0..5 {
        c.cmd_str(&format!("SET k{i} v"));
    }
    c.cmd_str("GET k1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = scrape(mport);
        if body.contains("ringcache_commands_total{cmd=\"set\"} 5") {
            assert!(body.contains("ringcache_keys{db=\"0\"} 5"), "{body}");
            assert!(body.contains("ringcache_keyspace_hits_total 1"), "{body}");
            assert!(
                body.contains("ringcache_command_duration_seconds_count"),
                "{body}"
            );
            assert!(body.contains("ringcache_used_memory_bytes"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counters never published: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
