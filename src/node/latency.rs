//! The latency monitor (LATENCY LATEST / HISTORY / RESET): per event, one
//! sample per second of the last 160 seconds in which something took at
//! least `latency-monitor-threshold` milliseconds, and the worst ever, kept
//! the way Redis' `latency.c` keeps them (`latencyAddSample`). Off while
//! the threshold is 0 (the default): then the command path pays one atomic
//! load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// `latency-monitor-threshold` in milliseconds (0: off).
static THRESHOLD_MS: AtomicU64 = AtomicU64::new(0);

/// Samples kept per event (Redis' `LATENCY_TS_LEN`).
const SERIES_LEN: usize = 160;

/// Publishes `latency-monitor-threshold` and `latency-tracking` to the
/// command path.
pub fn apply_settings(s: &crate::config::Settings) {
    THRESHOLD_MS.store(s.latency_monitor_threshold.max(0) as u64, Ordering::Relaxed);
    super::latency_histogram::set_tracking(s.stored_value("latency-tracking") == "yes");
}

/// `latency-monitor-threshold` in milliseconds (0: off).
pub fn threshold_ms() -> u64 {
    THRESHOLD_MS.load(Ordering::Relaxed)
}

/// The latency in milliseconds of something that took `micros`, when the
/// monitor is on and it reaches the threshold.
#[inline]
pub fn over_threshold(micros: u64) -> Option<u64> {
    let t = THRESHOLD_MS.load(Ordering::Relaxed);
    let ms = micros / 1000;
    (t > 0 && ms >= t).then_some(ms)
}

/// One second's worst latency.
#[derive(Debug, Clone, Copy, Default)]
struct LatencySample {
    /// Unix time in seconds (0: unused slot).
    time: u64,
    /// Milliseconds.
    latency: u64,
}

/// One event's samples, a ring of `SERIES_LEN`.
#[derive(Debug)]
struct LatencySeries {
    samples: [LatencySample; SERIES_LEN],
    /// Where the next sample goes.
    next: usize,
    /// Worst latency since the last reset.
    max: u64,
}

/// What LATENCY LATEST shows of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestSample {
    /// Event name (`command`, `fast-command`, ...).
    pub event: String,
    /// Unix time of the latest sample.
    pub time: u64,
    /// Its latency in milliseconds.
    pub latency: u64,
    /// The worst latency since the event's last reset.
    pub max: u64,
}

/// One event's figures for LATENCY DOCTOR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStats {
    /// Event name.
    pub event: String,
    /// Samples kept.
    pub samples: u64,
    /// Their average (ms).
    pub avg: u64,
    /// Their mean absolute deviation from the average (ms).
    pub mad: u64,
    /// Seconds since the oldest sample (at least 1 when there are samples).
    pub period: u64,
    /// Worst latency since the last reset (ms).
    pub all_time_high: u64,
}

/// Every event's samples.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: HashMap<String, LatencySeries>,
}

impl LatencyMonitor {
    /// Records `latency` ms for `event` at unix second `now`: a second
    /// keeps its worst sample.
    pub fn add_sample(&mut self, event: &str, now: u64, latency: u64) {
        let series = self
            .events
            .entry(event.to_string())
            .or_insert_with(|| LatencySeries {
                samples: [LatencySample::default(); SERIES_LEN],
                next: 0,
                max: 0,
            });
        series.max = series.max.max(latency);
        let prev = (series.next + SERIES_LEN - 1) % SERIES_LEN;
        if series.samples[prev].time == now {
            let s = &mut series.samples[prev];
            s.latency = s.latency.max(latency);
            return;
        }
        series.samples[series.next] = LatencySample { time: now, latency };
        series.next = (series.next + 1) % SERIES_LEN;
    }

    /// The latest sample and the worst of every event.
    pub fn latest(&self) -> Vec<LatestSample> {
        self.events
            .iter()
            .map(|(event, s)| {
                let last = s.samples[(s.next + SERIES_LEN - 1) % SERIES_LEN];
                LatestSample {
                    event: event.clone(),
                    time: last.time,
                    latency: last.latency,
                    max: s.max,
                }
            })
            .collect()
    }

    /// An event's samples, oldest first, as (unix time, milliseconds).
    pub fn history(&self, event: &str) -> Vec<(u64, u64)> {
        let Some(s) = self.events.get(event) else {
            return Vec::new();
        };
        (0..SERIES_LEN)
            .map(|i| s.samples[(s.next + i) % SERIES_LEN])
            .filter(|x| x.time != 0)
            .map(|x| (x.time, x.latency))
            .collect()
    }

    /// True when no event was ever recorded (or all were reset).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// LATENCY DOCTOR's figures for every event (Redis'
    /// `analyzeLatencyForEvent`) at unix second `now`.
    pub fn analyze(&self, now: u64) -> Vec<EventStats> {
        self.events
            .iter()
            .map(|(event, s)| {
                let samples: Vec<LatencySample> =
                    s.samples.iter().copied().filter(|x| x.time != 0).collect();
                let n = samples.len() as u64;
                let avg = samples.iter().map(|x| x.latency).sum::<u64>() / n.max(1);
                let mad = samples.iter().map(|x| x.latency.abs_diff(avg)).sum::<u64>() / n.max(1);
                let oldest = samples.iter().map(|x| x.time).min().unwrap_or(now);
                EventStats {
                    event: event.clone(),
                    samples: n,
                    avg,
                    mad,
                    period: if n > 0 {
                        now.saturating_sub(oldest).max(1)
                    } else {
                        0
                    },
                    all_time_high: s.max,
                }
            })
            .collect()
    }

    /// The worst latency of an event since its last reset; None for an
    /// event never recorded.
    pub fn max_of(&self, event: &str) -> Option<u64> {
        self.events.get(event).map(|s| s.max)
    }

    /// Forgets the named events (all when `events` is empty); how many
    /// existed.
    pub fn reset(&mut self, events: &[String]) -> usize {
        if events.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        events
            .iter()
            .filter(|e| self.events.remove(e.as_str()).is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_worst_kept_ring_of_160() {
        let mut m = LatencyMonitor::default();
        m.add_sample("command", 100, 5);
        m.add_sample("command", 100, 9);
        m.add_sample("command", 100, 7);
        m.add_sample("command", 101, 3);
        assert_eq!(m.history("command"), vec![(100, 9), (101, 3)]);
        let latest = m.latest();
        assert_eq!(latest[0].latency, 3);
        assert_eq!(latest[0].max, 9);
        for t in 0..200 {
            m.add_sample("command", 1000 + t, t);
        }
        let h = m.history("command");
        assert_eq!(h.len(), SERIES_LEN);
        assert_eq!(h[0], (1040, 40));
        let a = &m.analyze(1200)[0];
        assert_eq!((a.samples, a.all_time_high), (160, 199));
        assert_eq!((a.avg, a.period), ((40..200).sum::<u64>() / 160, 160));
        assert_eq!(m.max_of("command"), Some(199));
        assert_eq!(m.reset(&["nosuch".into()]), 0);
        assert_eq!(m.reset(&[]), 1);
        assert!(m.latest().is_empty());
    }
}
