//! Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats),
//! recorded by the dispatcher while `latency-tracking` is `yes`.
//!
//! Not the `hdrhistogram` crate (it is not in the offline registry, and its
//! histograms are not atomic: every worker thread would take a lock per
//! command): a small lock-free histogram with the layout of the HdrHistogram
//! that Redis 7.0 uses (`hdr_init(1, 1e12, 2)`: values in nanoseconds,
//! 2 significant digits, 128 linear sub-buckets per power of two), so the
//! bucket bounds, percentiles and LATENCY HISTOGRAM's power-of-two report
//! are the numbers Redis computes from the same durations. Recording is one
//! relaxed atomic increment; the counters (34 KiB) are allocated at a
//! command's first call, as Redis allocates its histograms.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// `latency-tracking` (Redis' default: yes).
static TRACKING: AtomicBool = AtomicBool::new(true);

/// Publishes `latency-tracking` to the command path.
pub fn set_tracking(on: bool) {
    TRACKING.store(on, Ordering::Relaxed);
}

/// True while per-command latencies are recorded.
#[inline]
pub fn tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// log2 of the sub-buckets of half a power of two (2 significant digits).
const SUB_HALF_MAGNITUDE: u32 = 7;
/// Sub-buckets in half a power of two.
const SUB_HALF: usize = 1 << SUB_HALF_MAGNITUDE;
/// Redis' `LATENCY_HISTOGRAM_MAX_VALUE` (ns): longer durations count as it.
const MAX_NS: u64 = 1_000_000_000_000;
/// Counters needed to reach `MAX_NS` (Redis' `counts_len`).
const COUNTS: usize = (bucket_of(MAX_NS) as usize + 2) * SUB_HALF;
/// LATENCY HISTOGRAM's first reported bucket (ns): buckets double from it.
const FIRST_REPORT_NS: u64 = 1024;

/// The power-of-two bucket a value falls in.
const fn bucket_of(v: u64) -> u32 {
    let pow2ceiling = 64 - (v | (2 * SUB_HALF as u64 - 1)).leading_zeros();
    pow2ceiling - (SUB_HALF_MAGNITUDE + 1)
}

/// The counter index of a value (ns).
fn index_of(v: u64) -> usize {
    let b = bucket_of(v);
    let sub = (v >> b) as usize;
    (((b as usize) + 1) << SUB_HALF_MAGNITUDE) + sub - SUB_HALF
}

/// The lowest value of a counter index.
fn value_at(index: usize) -> u64 {
    let mut bucket = (index >> SUB_HALF_MAGNITUDE) as i32 - 1;
    let mut sub = (index & (SUB_HALF - 1)) + SUB_HALF;
    if bucket < 0 {
        sub -= SUB_HALF;
        bucket = 0;
    }
    (sub as u64) << bucket
}

/// The highest value equivalent to `v` at this precision.
fn highest_equivalent(v: u64) -> u64 {
    let b = bucket_of(v);
    let lowest = (v >> b) << b;
    lowest + (1u64 << b) - 1
}

/// One command's latency distribution.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: OnceLock<Box<[AtomicU64]>>,
}

impl LatencyHistogram {
    /// Records one execution that took `micros` microseconds (Redis records
    /// `duration * 1000` ns, at least 1 ns).
    #[inline]
    pub fn record(&self, micros: u64) {
        let ns = micros.saturating_mul(1000).clamp(1, MAX_NS);
        let counts = self
            .counts
            .get_or_init(|| (0..COUNTS).map(|_| AtomicU64::new(0)).collect());
        counts[index_of(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets every sample (CONFIG RESETSTAT): the command then has no
    /// histogram until its next call, as in Redis.
    pub fn reset(&self) {
        for c in self.counts.get().into_iter().flat_map(|c| c.iter()) {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// A copy of the counters; None when nothing was recorded since the
    /// start or the last reset.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let counts: Vec<u64> = self
            .counts
            .get()?
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total = counts.iter().sum();
        (total > 0).then_some(Snapshot { counts, total })
    }
}

/// A consistent copy of one histogram.
#[derive(Debug, Clone)]
pub struct Snapshot {
    counts: Vec<u64>,
    /// Samples recorded (LATENCY HISTOGRAM's `calls`).
    pub total: u64,
}

impl Snapshot {
    /// The value (ns) at `percentile` (0..=100), as `hdr_value_at_percentile`
    /// computes it: the highest value equivalent to the sample reached.
    pub fn value_at_percentile(&self, percentile: f64) -> u64 {
        let wanted = ((percentile.min(100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= wanted {
                let v = value_at(i);
                return if percentile == 0.0 {
                    v
                } else {
                    highest_equivalent(v)
                };
            }
        }
        0
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: (bucket bound in µs, samples
    /// at or below it), for the power-of-two buckets from 1024 ns that add
    /// samples (Redis' `hdr_iter_log_init(.., 1024, 2)` walk).
    pub fn log_buckets(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let (mut cumulative, mut i, mut previous) = (0u64, 0usize, 0u64);
        let mut level = FIRST_REPORT_NS;
        while cumulative < self.total {
            let bound = highest_equivalent(level);
            while i < self.counts.len() && value_at(i) <= bound {
                cumulative += self.counts[i];
                i += 1;
            }
            if cumulative > previous {
                out.push((bound / 1000, cumulative));
            }
            previous = cumulative;
            level *= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_percentiles_match_redis() {
        let h = LatencyHistogram::default();
        assert!(h.snapshot().is_none());
        // Redis 7.0.15 after 45 SETs of 1 µs, 2 of 2 µs, 2 of 4 µs and one
        // of 528 µs: histogram_usec 1 45 2 47 4 49 528 50; p50=1.003.
        for _ in 0..45 {
            h.record(1);
        }
        for us in [2, 2, 4, 4, 528] {
            h.record(us);
        }
        let s = h.snapshot().expect("recorded");
        assert_eq!(s.total, 50);
        assert_eq!(s.log_buckets(), vec![(1, 45), (2, 47), (4, 49), (528, 50)]);
        assert_eq!(s.value_at_percentile(50.0), 1003);
        assert_eq!(s.value_at_percentile(100.0), highest_equivalent(528_000));
        // 132 µs is reported in the 132 bucket (131072 ns + its range).
        let h = LatencyHistogram::default();
        h.record(132);
        assert_eq!(
            h.snapshot().expect("recorded").log_buckets(),
            vec![(132, 1)]
        );
        // 0 µs counts as 1 ns; the maximum is clamped.
        h.record(0);
        h.record(u64::MAX);
        let s = h.snapshot().expect("recorded");
        assert_eq!(s.log_buckets()[0], (1, 1));
        assert_eq!(s.total, 3);
        h.reset();
        assert!(h.snapshot().is_none());
    }

    #[test]
    fn index_and_value_round_trip() {
        for v in [1u64, 255, 256, 1000, 1024, 65_536, 999_999_999, MAX_NS] {
            let i = index_of(v);
            assert!(i < COUNTS);
            assert!(
                value_at(i) <= v && v <= highest_equivalent(value_at(i)),
                "{v}"
            );
        }
    }
}
