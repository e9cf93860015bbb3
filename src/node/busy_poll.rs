//! The activity signal between connection tasks and the adaptive busy
//! poller (`server::busypoll`): connections count reads that brought data,
//! the poller spins while they keep coming and parks otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

/// Activity signal between the connection tasks and the poller.
#[derive(Debug, Default)]
pub struct BusyPoll {
    /// Reads with data, counted by the connection tasks.
    pub(crate) activity: AtomicU64,
    /// The poller sleeps; the next activity must wake it.
    pub(crate) parked: AtomicBool,
    pub(crate) wake: Notify,
}

impl BusyPoll {
    /// Called by a connection task when a read brought data.
    #[inline]
    pub fn note_activity(&self) {
        self.activity.fetch_add(1, Ordering::Relaxed);
        if self.parked.load(Ordering::Relaxed) && self.parked.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn activity_wakes_a_parked_poller_once() {
        let p = BusyPoll::default();
        p.parked.store(true, Ordering::Release);
        p.note_activity();
        p.note_activity();
        assert!(!p.parked.load(Ordering::Acquire));
        assert_eq!(p.activity.load(Ordering::Relaxed), 2);
        // Exactly one permit was stored for the sleeping poller.
        tokio::time::timeout(Duration::from_millis(100), p.wake.notified())
            .await
            .expect("the poller is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), p.wake.notified())
                .await
                .is_err(),
            "no second permit"
        );
    }
}
