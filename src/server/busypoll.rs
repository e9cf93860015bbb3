//! Adaptive busy polling of the RESP event loop (`busy-poll-us`).
//!
//! A worker that runs out of work sleeps in `epoll_wait`; the next request
//! must then wake it, which costs the sending client an inter-processor
//! wake-up and the worker a context switch. With many clients at `-P 1` the
//! requests arrive a few microseconds apart, so the worker sleeps and wakes
//! tens of thousands of times a second (measured: the node slept after every
//! ~7th request of 50 clients, and the single-threaded client, the bottleneck,
//! paid for every wake-up). While requests keep arriving within the window, a
//! poller task keeps its worker awake, polling the reactor without blocking
//! (`yield_now` makes tokio poll the reactor with a zero timeout). It parks as
//! soon as a spin does not catch the next request, and [`Window`] halves the
//! next spin after each miss, so light or bursty loads pay at most a few
//! microseconds per request, and an idle node sleeps.
//!
//! Off by default (`busy-poll-us 0`): with 50 clients at `-P 1` the spin cost
//! more server CPU per request than it saved and did not raise throughput
//! (`scripts/bench-busypoll`). It pays where a core is spare and few
//! connections send back-to-back requests.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::cmd::Shared;

/// How long the next spin may last, learned from whether spins pay off
/// (sans-I/O, so the policy is unit-tested without a clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    us: u64,
}

/// Shortest spin worth trying after misses; below it the poller parks at once.
const MIN_SPIN_US: u64 = 2;

impl Window {
    /// Starts at the configured maximum.
    pub fn new(max_us: u64) -> Window {
        Window { us: max_us }
    }

    /// The next spin's length, capped by the current setting.
    pub fn current(&self, max_us: u64) -> u64 {
        self.us.min(max_us)
    }

    /// Learns from the last spin: a caught request doubles the window (up to
    /// the setting), a miss halves it.
    pub fn after(&mut self, caught: bool, max_us: u64) {
        self.us = if caught {
            (self.us.max(MIN_SPIN_US) * 2).min(max_us)
        } else {
            self.us / 2
        };
    }

    /// True when spinning is worth trying at all.
    pub fn worth_spinning(&self, max_us: u64) -> bool {
        self.current(max_us) >= MIN_SPIN_US
    }

    /// Learns from a sleep that ended after `slept_us`: a request that came
    /// within the setting would have been caught by a spin of about that
    /// length, so the window grows to twice the gap; longer gaps teach nothing.
    pub fn after_sleep(&mut self, slept_us: u64, max_us: u64) {
        if slept_us < max_us {
            self.us = self.us.max(slept_us.saturating_mul(2).max(MIN_SPIN_US));
        }
        self.us = self.us.min(max_us);
    }
}

/// The poller task: sleeps until a connection reads data, then spins while
/// requests keep coming within the window. Runs until the node stops.
pub async fn run(shared: Arc<Shared>) {
    let poll = &shared.busy_poll;
    let mut stop = shared.shutdown.subscribe();
    let mut window = Window::new(shared.config.read().busy_poll_us);
    loop {
        poll.parked.store(true, Ordering::Release);
        let parked_at = quanta::Instant::now();
        tokio::select! {
            _ = poll.wake.notified() => {}
            _ = stop.changed() => return,
        }
        let max_us = shared.config.read().busy_poll_us;
        window.after_sleep(parked_at.elapsed().as_micros() as u64, max_us);
        while window.worth_spinning(max_us) {
            let seen = poll.activity.load(Ordering::Relaxed);
            let start = quanta::Instant::now();
            let limit = Duration::from_micros(window.current(max_us));
            let caught = loop {
                tokio::task::yield_now().await;
                if poll.activity.load(Ordering::Relaxed) != seen {
                    break true;
                }
                if start.elapsed() >= limit {
                    break false;
                }
            };
            window.after(caught, max_us);
            if !caught {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_load_keeps_the_full_window() {
        let mut w = Window::new(50);
        for _ in 0..10 {
            w.after(true, 50);
        }
        assert_eq!(w.current(50), 50);
        assert!(w.worth_spinning(50));
    }

    #[test]
    fn misses_shrink_the_window_until_spinning_stops() {
        let mut w = Window::new(50);
        let mut spins = 0;
        while w.worth_spinning(50) {
            w.after(false, 50);
            spins += 1;
        }
        // 50, 25, 12, 6, 3 µs: at most ~100 µs wasted before giving up.
        assert_eq!(spins, 5);
        assert_eq!(w.current(50), 1);
    }

    #[test]
    fn short_sleeps_regrow_the_window_and_long_ones_do_not() {
        let mut w = Window::new(50);
        for _ in 0..8 {
            w.after(false, 50);
        }
        w.after_sleep(5_000, 50);
        assert!(!w.worth_spinning(50), "a quiet node keeps sleeping");
        w.after_sleep(12, 50);
        assert_eq!(w.current(50), 24, "twice the observed gap");
        w.after_sleep(40, 50);
        assert_eq!(w.current(50), 50, "capped by the setting");
    }

    #[test]
    fn zero_turns_polling_off() {
        let mut w = Window::new(0);
        w.after_sleep(0, 0);
        assert!(!w.worth_spinning(0));
        w.after(true, 0);
        assert!(!w.worth_spinning(0));
    }

    #[test]
    fn lowering_the_setting_caps_a_grown_window() {
        let mut w = Window::new(100);
        w.after(true, 100);
        assert_eq!(w.current(10), 10);
    }
}
