//! SLOWLOG: the most recent commands that ran longer than the threshold.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;

static THRESHOLD_US: AtomicI64 = AtomicI64::new(10_000);

/// Publishes `slowlog-log-slower-than` to the command path (start-up and CONFIG SET).
pub fn apply_settings(s: &crate::config::Settings) {
    THRESHOLD_US.store(s.slowlog_log_slower_than, Ordering::Relaxed);
}

/// True when a command that ran `micros` must be logged.
#[inline]
pub fn is_slow(micros: u64) -> bool {
    let t = THRESHOLD_US.load(Ordering::Relaxed);
    t >= 0 && micros as i64 >= t
}

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    /// Sequential id.
    pub id: u64,
    /// Unix time in seconds.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Arguments (at most 32, long ones truncated as Redis does).
    pub args: Vec<Bytes>,
    /// Client address.
    pub addr: String,
    /// Client name.
    pub name: String,
}

/// The log, newest first.
#[derive(Debug, Default)]
pub struct SlowLog {
    /// Entries, newest at the front.
    pub entries: VecDeque<SlowEntry>,
    next_id: u64,
}

impl SlowLog {
    /// Records a command, trimming to `max_len`.
    pub fn push(&mut self, mut entry: SlowEntry, max_len: usize) {
        entry.id = self.next_id;
        self.next_id += 1;
        if entry.args.len() > 32 {
            let more = entry.args.len() - 31;
            entry.args.truncate(31);
            entry
                .args
                .push(Bytes::from(format!("... ({more} more arguments)")));
        }
        for a in entry.args.iter_mut() {
            if a.len() > 128 {
                let more = a.len() - 128;
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
                *a = Bytes::from(v);
            } else {
                // A slice would keep the client's whole read buffer alive.
                *a = Bytes::copy_from_slice(a);
            }
        }
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }

    /// Clears the log.
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}
