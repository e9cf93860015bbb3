//! CLIENT PAUSE / UNPAUSE: while a pause is on, client commands wait (all of
//! them, or only those that may write: WRITE mode) until it ends or its
//! deadline passes, as in Redis 7.0. Waiting happens on the connection's
//! task (`server::conn`); this holds the state and wakes the waiters.

use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write (write, may-replicate, EXEC of such).
    Write,
    /// Every command.
    All,
}

/// The node's pause.
#[derive(Debug, Default)]
pub struct ClientPause {
    state: Mutex<Option<(Instant, PauseMode)>>,
    released: Notify,
}

impl ClientPause {
    /// Pauses until `until` in `mode`. Like Redis, an ongoing pause is not
    /// shortened and an ALL pause is not weakened to WRITE by a later one.
    pub fn pause(&self, until: Instant, mode: PauseMode) {
        let mut st = self.state.lock();
        let now = Instant::now();
        *st = match *st {
            Some((end, m)) if end > now => Some((end.max(until), m.max(mode))),
            _ => Some((until, mode)),
        };
    }

    /// Ends the pause and wakes every waiting connection.
    pub fn unpause(&self) {
        *self.state.lock() = None;
        self.released.notify_waiters();
    }

    /// Until when a command must wait (`may_write`: it may write), None when
    /// it may run now.
    pub fn holds(&self, may_write: bool) -> Option<Instant> {
        let st = *self.state.lock();
        match st {
            Some((end, mode)) if end > Instant::now() && (may_write || mode == PauseMode::All) => {
                Some(end)
            }
            _ => None,
        }
    }

    /// Waits until the current pause ends (its deadline, or UNPAUSE); the
    /// caller then asks [`ClientPause::holds`] again (a new pause may have
    /// started).
    pub async fn wait_for_release(&self) {
        let released = self.released.notified();
        let end = self.state.lock().map(|(end, _)| end);
        let Some(end) = end.filter(|e| *e > Instant::now()) else {
            return;
        };
        tokio::select! {
            _ = released => {}
            _ = tokio::time::sleep_until(end.into()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn later_pauses_extend_and_never_weaken() {
        let p = ClientPause::default();
        let now = Instant::now();
        assert_eq!(p.holds(true), None);
        p.pause(now + Duration::from_secs(10), PauseMode::All);
        p.pause(now + Duration::from_secs(1), PauseMode::Write);
        assert_eq!(p.holds(false), Some(now + Duration::from_secs(10)));
        p.unpause();
        assert_eq!(p.holds(true), None);
        p.pause(now + Duration::from_secs(10), PauseMode::Write);
        assert_eq!(p.holds(false), None);
        assert!(p.holds(true).is_some());
    }
}
