//! The README "Patterns" (distributed lock with fencing token, rate limiter,
//! reliable queue, delayed jobs)
//! driven by python3 + redis-py against a started ringcache node, and against
//! a real redis-server as a reference for the scripts themselves.

mod common;

use std::process::Command;

use common::*;

fn run_python(script: &str, port: u16) {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(&path)
        .arg(port.to_string())
        .output()
        .expect("python3 is required (with the redis package)");
    assert!(
        out.status.success(),
        "{script} failed on port {port}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lock_contention_never_double_acquires() {
    let redis = require_redis(&[]);
    run_python("lock_contention.py", redis.port);
    let rc = start_ringcache(&[]);
    run_python("lock_contention.py", rc.port);
}

#[test]
fn rate_limiter_counts_exactly() {
    let redis = require_redis(&[]);
    run_python("rate_limit.py", redis.port);
    let rc = start_ringcache(&[]);
    run_python("rate_limit.py", rc.port);
}

#[test]
fn reliable_and_delayed_queues_handle_each_job_once() {
    let redis = require_redis(&[]);
    run_python("queues.py", redis.port);
    let rc = start_ringcache(&[]);
    run_python("queues.py", rc.port);
}
