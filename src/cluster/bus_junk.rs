//! Rate limit of the cluster bus's per-datagram warnings.
//!
//! chitchat's UDP transport writes one WARN line for every datagram it cannot
//! decode, so junk sent to the bus port would flood the log (20,000
//! datagrams, 20,000 lines). [`filter`] lets at most one of those lines
//! through per [`REPORT_INTERVAL`] and counts the others; the gossip task
//! reports the count ([`take_suppressed`]) once per interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tracing::{Level, Metadata};

/// Shortest time between two log lines about undecodable bus datagrams.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// The modules whose warnings are rate limited: chitchat's transport (an
/// undecodable datagram) and ringcache's MAC'd one (a wrong MAC).
const TRANSPORT_TARGETS: [&str; 2] = ["chitchat::transport", "ringcache::server::gossip_transport"];

/// Warnings held back since the last report.
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
/// When a transport warning was last let through.
static LAST_PASSED: Mutex<Option<Instant>> = Mutex::new(None);

/// Whether a log event may be written: everything but chitchat transport
/// warnings, and of those one per [`REPORT_INTERVAL`] (the rest are counted).
pub fn filter(meta: &Metadata<'_>) -> bool {
    let transport = TRANSPORT_TARGETS
        .iter()
        .any(|t| meta.target().starts_with(t));
    if *meta.level() != Level::WARN || !transport {
        return true;
    }
    admit(&mut LAST_PASSED.lock(), Instant::now())
}

/// One transport warning at `now`: let through when the last one is old
/// enough, else counted in [`SUPPRESSED`].
fn admit(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < REPORT_INTERVAL) {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    *last = Some(now);
    true
}

/// The number of transport warnings held back since the last call.
pub fn take_suppressed() -> u64 {
    SUPPRESSED.swap(0, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_interval_the_rest_counted() {
        let mut last = None;
        let t0 = Instant::now();
        let before = SUPPRESSED.load(Ordering::Relaxed);
        assert!(admit(&mut last, t0));
        for i in 1..=1000 {
            assert!(!admit(&mut last, t0 + Duration::from_millis(i)));
        }
        assert!(SUPPRESSED.load(Ordering::Relaxed) >= before + 1000);
        assert!(admit(&mut last, t0 + REPORT_INTERVAL));
    }
}
