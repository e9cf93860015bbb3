//! Prometheus export via the `metrics` crate.
//!
//! The request path only bumps the node's own atomics (and, when export is on,
//! one histogram sample per command); a once-a-second task copies the
//! counters into the `metrics` registry, which `metrics-exporter-prometheus`
//! serves as Prometheus text on `--metrics-port`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::cmd::command;
use crate::cmd::dispatch_mc::mc_command_stats;
use crate::cmd::Shared;

/// Starts the HTTP exporter on `addr:port` and the publishing task.
pub fn start(shared: &Arc<Shared>, host: &str, port: u16) -> Result<(), String> {
    let addr: std::net::SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| format!("bad metrics address {host}:{port}: {e}"))?;
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(&[
            0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 1.0,
        ])
        .map_err(|e| e.to_string())?
        .install()
        .map_err(|e| e.to_string())?;
    crate::node::stats::export_latency(histogram!("ringcache_command_duration_seconds"));
    let sh = shared.clone();
    tokio::spawn(async move {
        let mut stop = sh.shutdown.subscribe();
        loop {
            publish(&sh);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    });
    Ok(())
}

/// Copies the node's counters into the metrics registry.
pub fn publish(sh: &Shared) {
    let table_stats = command::all_commands()
        .iter()
        .zip(sh.cmd_stats.iter())
        .map(|(c, s)| (c.name, s));
    for (name, s) in table_stats.chain(mc_command_stats(&sh.node)) {
        let calls = s.calls.load(Ordering::Relaxed);
        if calls > 0 {
            counter!("ringcache_commands_total", "cmd" => name).absolute(calls);
            counter!("ringcache_command_errors_total", "cmd" => name)
                .absolute(s.failed.load(Ordering::Relaxed) + s.rejected.load(Ordering::Relaxed));
        }
    }
    let st = &sh.stats;
    counter!("ringcache_connections_received_total")
        .absolute(st.connections_received.load(Ordering::Relaxed));
    counter!("ringcache_rejected_connections_total")
        .absolute(st.rejected_connections.load(Ordering::Relaxed));
    counter!("ringcache_net_input_bytes_total")
        .absolute(st.net_input_bytes.load(Ordering::Relaxed));
    counter!("ringcache_net_output_bytes_total")
        .absolute(st.net_output_bytes.load(Ordering::Relaxed));
    gauge!("ringcache_connected_clients").set(sh.clients.len() as f64);
    let ks = &sh.store.stats;
    counter!("ringcache_expired_keys_total").absolute(ks.expired_keys.load(Ordering::Relaxed));
    counter!("ringcache_evicted_keys_total").absolute(ks.evicted_keys.load(Ordering::Relaxed));
    counter!("ringcache_keyspace_hits_total").absolute(ks.keyspace_hits.load(Ordering::Relaxed));
    counter!("ringcache_keyspace_misses_total")
        .absolute(ks.keyspace_misses.load(Ordering::Relaxed));
    gauge!("ringcache_used_memory_bytes").set(crate::alloc::used_memory() as f64);
    gauge!("ringcache_rss_bytes").set(crate::alloc::rss_bytes() as f64);
    for (db, keys, _) in sh.store.keyspace() {
        gauge!("ringcache_keys", "db" => db.to_string()).set(keys as f64);
    }
}
