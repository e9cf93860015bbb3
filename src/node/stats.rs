//! The node's counters: per-command (INFO commandstats), server-wide (INFO
//! stats, errorstats) and the optional latency histogram export.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

use metrics::Histogram;

/// Per-command counters (INFO commandstats).
#[derive(Debug, Default)]
pub struct CmdStat {
    /// Executions.
    pub calls: AtomicU64,
    /// Total microseconds.
    pub usec: AtomicU64,
    /// Rejected before execution (arity, OOM, auth...).
    pub rejected: AtomicU64,
    /// Executed but answered an error.
    pub failed: AtomicU64,
    /// Latency distribution (LATENCY HISTOGRAM, INFO latencystats).
    pub latency: super::latency_histogram::LatencyHistogram,
}

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Accepted connections.
    pub connections_received: AtomicU64,
    /// Commands executed.
    pub commands_processed: AtomicU64,
    /// Connections refused (maxclients, protected mode).
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Clients closed for output buffer overrun.
    pub client_output_limit_disconnections: AtomicU64,
    /// Clients closed for query buffer overrun.
    pub client_query_buffer_limit_disconnections: AtomicU64,
    /// Error replies by code (`ERR`, `WRONGTYPE`, ...) for INFO errorstats.
    pub error_codes: parking_lot::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl ServerStats {
    /// Counts one error reply under its code, the text's first word (Redis'
    /// `afterErrorReply`; at most 128 distinct codes are tracked).
    pub fn count_error(&self, text: &[u8]) {
        self.error_replies.fetch_add(1, Ordering::Relaxed);
        let head = &text[..text.len().min(32)];
        let code = match head.iter().position(|&b| b == b' ') {
            Some(n) => &head[..n],
            None => b"ERR".as_slice(),
        };
        let code = String::from_utf8_lossy(code);
        let mut m = self.error_codes.lock();
        if let Some(n) = m.get_mut(code.as_ref()) {
            *n += 1;
        } else if m.len() < 128 {
            m.insert(code.into_owned(), 1);
        }
    }
}

static LATENCY_EXPORT: AtomicBool = AtomicBool::new(false);
static LATENCY: OnceLock<Histogram> = OnceLock::new();

/// Records one command's latency when Prometheus export is on.
#[inline]
pub fn observe_command(micros: u64) {
    if LATENCY_EXPORT.load(Ordering::Relaxed) {
        if let Some(h) = LATENCY.get() {
            h.record(micros as f64 / 1e6);
        }
    }
}

/// Turns the per-command latency histogram on (the exporter started).
pub fn export_latency(h: Histogram) {
    let _ = LATENCY.set(h);
    LATENCY_EXPORT.store(true, Ordering::Relaxed);
}
