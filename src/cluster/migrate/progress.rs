//! Rebalance progress: the counters a migration updates on both sides and
//! the `rebalance_*` lines INFO cluster and CLUSTER REBALANCE-STATUS print.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::info;

use super::plan::SlotState;
use crate::cluster::Cluster;
use crate::store::now_ms;

/// Rebalance counters of this node (as a source, and keys received as a target).
#[derive(Debug, Default)]
pub struct Progress {
    /// Unix ms the current rebalance started (0: idle).
    started_ms: AtomicU64,
    /// Slots handed over in the current (or last) rebalance.
    slots_done: AtomicU64,
    /// Keys sent (snapshot and dirty rounds).
    keys: AtomicU64,
    /// Payload bytes sent.
    bytes: AtomicU64,
    /// Keys received from sources.
    keys_in: AtomicU64,
    /// Rebalances completed since start.
    completed: AtomicU64,
}

impl Progress {
    /// Counts keys and payload bytes sent to a target.
    pub fn sent(&self, keys: usize, bytes: usize) {
        self.keys.fetch_add(keys as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts keys received from a source.
    pub fn received(&self, keys: u64) {
        self.keys_in.fetch_add(keys, Ordering::Relaxed);
    }

    /// Counts slots handed over to their new owner.
    pub fn handed(&self, slots: usize) {
        self.slots_done.fetch_add(slots as u64, Ordering::Relaxed);
    }

    /// A rebalance started: resets the counters and logs it.
    pub fn start(&self, epoch: u64, slots_out: usize, slots_in: usize) {
        self.started_ms.store(now_ms(), Ordering::Relaxed);
        for a in [&self.slots_done, &self.keys, &self.bytes, &self.keys_in] {
            a.store(0, Ordering::Relaxed);
        }
        info!(epoch, slots_out, slots_in, "rebalance started");
    }

    /// The rebalance ended: counts it and logs what moved.
    pub fn finish(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
        info!(
            slots_out = self.slots_done.load(Ordering::Relaxed),
            keys_out = self.keys.load(Ordering::Relaxed),
            bytes_out = self.bytes.load(Ordering::Relaxed),
            keys_in = self.keys_in.load(Ordering::Relaxed),
            secs = now_ms().saturating_sub(self.started_ms.load(Ordering::Relaxed)) as f64 / 1000.0,
            "rebalance finished"
        );
    }
}

/// Counts of this node's slots by state: (migrating incl. paused, importing).
pub fn slot_counts(c: &Cluster) -> (usize, usize) {
    let v = c.view();
    let mig = v
        .states
        .values()
        .filter(|s| matches!(s, SlotState::Migrating | SlotState::Paused))
        .count();
    let imp = v
        .states
        .values()
        .filter(|s| matches!(s, SlotState::Importing(_)))
        .count();
    (mig, imp)
}

/// `name:value` lines for INFO cluster and CLUSTER REBALANCE-STATUS.
pub fn status(c: &Cluster) -> String {
    let p = &c.progress;
    let (pending, importing) = slot_counts(c);
    let started = p.started_ms.load(Ordering::Relaxed);
    let done = p.slots_done.load(Ordering::Relaxed);
    let keys = p.keys.load(Ordering::Relaxed);
    let secs = if started == 0 {
        0.0
    } else {
        now_ms().saturating_sub(started) as f64 / 1000.0
    };
    let rate = if secs > 0.0 { keys as f64 / secs } else { 0.0 };
    let eta = if pending == 0 {
        0
    } else if done == 0 {
        -1
    } else {
        (secs / done as f64 * pending as f64).ceil() as i64
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "rebalance_in_progress:{}\r\nrebalance_slots_pending:{pending}\r\nrebalance_slots_importing:{importing}\r\nrebalance_slots_done:{done}\r\nrebalance_keys_moved:{keys}\r\nrebalance_bytes_moved:{}\r\nrebalance_keys_received:{}\r\nrebalance_keys_per_sec:{:.0}\r\nrebalance_eta_seconds:{eta}\r\nrebalance_completed:{}\r\ncluster_leaving:{}\r\n",
        u8::from(pending + importing > 0),
        p.bytes.load(Ordering::Relaxed),
        p.keys_in.load(Ordering::Relaxed),
        rate,
        p.completed.load(Ordering::Relaxed),
        u8::from(c.leaving.load(Ordering::Relaxed)),
    );
    out
}
