//! The majority lease: a node serves keys only while a majority of the raft
//! voters recently confirmed that it is a member of their committed
//! membership, checked against the monotonic clock at request time (not a
//! flag a background task sets).
//!
//! Why: a node that was paused, partitioned or starved may have been removed
//! by the others, who then serve its slots; answering from its stale view
//! would acknowledge writes that are lost when it comes back. Sans-I/O: this
//! file keeps the grants and computes until when the lease holds; the task
//! that asks the voters is `server/lease_task.rs`, the voter's side of
//! `CLUSTER LEASE` is [`grants`].
//!
//! The rule (D = `cluster-node-timeout`):
//!
//! - every D/4 a node asks every voter and learner `CLUSTER LEASE <id>
//!   <epoch>` over an authenticated peer link, recording the monotonic send
//!   time (a learner's grant counts only once it is a voter: when a learner
//!   is promoted the lease holds on without a gap; safe because a learner is
//!   promoted only once caught up, and a node that learns of a promotion
//!   committed after its own removal has applied that removal first);
//! - a voter grants when the requester is a member of its committed
//!   membership (or announces a graceful leave: it still hands its slots
//!   over) and answers its committed epoch either way;
//! - a grant counts only while this node's installed membership is at least
//!   as new as the grant's epoch (a node must catch up before it serves);
//! - a denial withdraws nothing (a voter that has not applied this node's
//!   join yet denies; safety never rests on denials, a grant expires by its
//!   send time alone);
//! - the node holds the lease until the send time of the majority-th newest
//!   counting grant + [`validity`] (D − max(D/10, 50 ms): a node cut off
//!   has stopped serving, and its last replies have reached their clients,
//!   by D after its last request went out), itself counting as a voter that
//!   always grants, if it is one and a member; a single voter that is this
//!   node holds it forever, a node that knows no voter never.
//!
//! A node that gains slots because their owner was removed waits
//! D + [`takeover_margin`] after installing the removal before serving them:
//! by then the removed node's lease has expired (its last grant was sent
//! before the voters applied the removal).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// `until` value: the lease holds forever (a single-voter cluster).
const ALWAYS: u64 = u64::MAX;
/// `until` value: no lease.
const NEVER: u64 = 0;

/// The extra wait of a takeover beyond D: max(D/10, 50 ms), for the skew
/// between the voters applying a removal.
pub fn takeover_margin(d: Duration) -> Duration {
    (d / 10).max(Duration::from_millis(50))
}

/// How long after its send time a grant keeps the lease: D minus the
/// takeover margin (see the module docs).
pub fn validity(d: Duration) -> Duration {
    d.saturating_sub(takeover_margin(d))
}

/// A voter's answer to `CLUSTER LEASE`, as sent on the wire
/// (`+GRANTED <epoch>` / `+DENIED <epoch>`).
pub fn reply_line(granted: bool, epoch: u64) -> String {
    format!("{} {epoch}", if granted { "GRANTED" } else { "DENIED" })
}

/// Reads a voter's raw reply: whether it granted and its committed epoch.
pub fn parse_reply(reply: &[u8]) -> Option<(bool, u64)> {
    let line = std::str::from_utf8(reply).ok()?.trim_end();
    let (word, epoch) = line.strip_prefix('+')?.split_once(' ')?;
    let granted = match word {
        "GRANTED" => true,
        "DENIED" => false,
        _ => return None,
    };
    Some((granted, epoch.parse().ok()?))
}

/// The voter's rule: grant when the requester is a member of the committed
/// membership, or a node handing its slots over on a graceful leave.
pub fn grants(is_member: bool, is_leaving: bool) -> bool {
    is_member || is_leaving
}

/// The grants a node holds and what it knows of itself (pure state).
#[derive(Debug, Default)]
pub struct LeaseState {
    me: String,
    /// Current raft voters (node ids).
    voters: Vec<String>,
    /// Current raft learners (asked too: their grants count once promoted).
    learners: Vec<String>,
    /// Epoch of this node's installed membership.
    epoch: u64,
    /// This node may count itself: a member of its installed membership,
    /// or leaving gracefully.
    self_ok: bool,
    /// Per voter or learner, the send time of its newest grant at an epoch
    /// no newer than this node's.
    grants: BTreeMap<String, Instant>,
}

/// Until when a lease holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Forever (this node is the only voter).
    Always,
    /// Up to this instant (exclusive).
    At(Instant),
    /// Not held.
    Never,
}

impl LeaseState {
    /// Fresh state of node `me`.
    pub fn new(me: &str) -> LeaseState {
        LeaseState {
            me: me.to_string(),
            ..LeaseState::default()
        }
    }

    /// Sets the raft configuration; grants of nodes that are in it no more
    /// are dropped.
    pub fn set_configuration(&mut self, voters: Vec<String>, learners: Vec<String>) {
        self.grants
            .retain(|id, _| voters.contains(id) || learners.contains(id));
        self.voters = voters;
        self.learners = learners;
    }

    /// Sets the installed membership's epoch and whether this node counts itself.
    pub fn set_epoch(&mut self, epoch: u64, self_ok: bool) {
        self.epoch = epoch;
        self.self_ok = self_ok;
    }

    /// The installed epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The voters and learners other than this node (whom to ask).
    pub fn others(&self) -> Vec<String> {
        self.voters
            .iter()
            .chain(&self.learners)
            .filter(|v| **v != self.me)
            .cloned()
            .collect()
    }

    /// Records `voter`'s answer to the request sent at `sent`: a grant at
    /// `epoch` counts only if this node's membership is at least as new (a
    /// node must catch up before it serves); a denial changes nothing (see
    /// the module docs).
    pub fn answer(&mut self, voter: &str, sent: Instant, granted: bool, epoch: u64) {
        let known = self.voters.iter().chain(&self.learners).any(|v| v == voter);
        if !known || !granted || epoch > self.epoch {
            return;
        }
        let t = self.grants.entry(voter.to_string()).or_insert(sent);
        *t = (*t).max(sent);
    }

    /// Until when the lease holds with node timeout `d` (a grant counts for
    /// [`validity`]`(d)` after its send time).
    pub fn until(&self, d: Duration) -> Until {
        let me_voter = self.voters.contains(&self.me);
        if self.voters.is_empty() || !self.self_ok {
            return Until::Never;
        }
        let majority = self.voters.len() / 2 + 1;
        let needed = majority - usize::from(me_voter);
        if needed == 0 {
            return Until::Always;
        }
        let mut sent: Vec<Instant> = self
            .grants
            .iter()
            .filter(|(id, _)| **id != self.me && self.voters.contains(id))
            .map(|(_, t)| *t)
            .collect();
        if sent.len() < needed {
            return Until::Never;
        }
        sent.sort_unstable_by(|a, b| b.cmp(a));
        Until::At(sent[needed - 1] + validity(d))
    }
}

/// This node's lease: the state behind a lock and the deadline request
/// paths compare with the monotonic clock without locking.
#[derive(Debug)]
pub struct Lease {
    state: Mutex<LeaseState>,
    base: Instant,
    /// Nanoseconds after `base` until which the lease holds ([`ALWAYS`],
    /// [`NEVER`]).
    until: AtomicU64,
    /// D in ms.
    timeout_ms: AtomicU64,
    /// Wakes the lease task when the installed epoch or D changed (a node
    /// that just joined or caught up asks at once, a shorter D is refreshed
    /// at its own pace).
    wake: tokio::sync::Notify,
}

impl Lease {
    /// The lease of node `me` with duration `timeout_ms` (not held yet).
    pub fn new(me: &str, timeout_ms: u64) -> Lease {
        Lease {
            state: Mutex::new(LeaseState::new(me)),
            base: Instant::now(),
            until: AtomicU64::new(NEVER),
            timeout_ms: AtomicU64::new(timeout_ms),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Waits until the installed epoch or the lease duration changes.
    pub async fn changed(&self) {
        self.wake.notified().await
    }

    /// True when this node holds the lease at `now`.
    pub fn holds_at(&self, now: Instant) -> bool {
        match self.until.load(Ordering::Acquire) {
            ALWAYS => true,
            NEVER => false,
            u => (now.saturating_duration_since(self.base).as_nanos() as u64) < u,
        }
    }

    /// True when this node holds the lease now (the request-time check).
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    /// The lease duration D.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// Sets the lease duration (`cluster-node-timeout`, ms).
    pub fn set_timeout(&self, ms: u64) {
        let old = self.timeout_ms.swap(ms, Ordering::Relaxed);
        self.update(|_| ());
        if old != ms {
            self.wake.notify_one();
        }
    }

    /// Sets the raft configuration (the lease task, every round).
    pub fn set_configuration(&self, voters: Vec<String>, learners: Vec<String>) {
        self.update(|s| s.set_configuration(voters, learners));
    }

    /// Sets the installed epoch (`Cluster::install`, after any rejoin cleanup).
    pub fn set_epoch(&self, epoch: u64, self_ok: bool) {
        let mut changed = false;
        self.update(|s| {
            changed = s.epoch() != epoch;
            s.set_epoch(epoch, self_ok)
        });
        if changed {
            self.wake.notify_one();
        }
    }

    /// The installed epoch and the voters to ask.
    pub fn request(&self) -> (u64, Vec<String>) {
        let s = self.state.lock();
        (s.epoch(), s.others())
    }

    /// Records a voter's answer (see [`LeaseState::answer`]).
    pub fn answer(&self, voter: &str, sent: Instant, granted: bool, epoch: u64) {
        self.update(|s| s.answer(voter, sent, granted, epoch));
    }

    fn update(&self, f: impl FnOnce(&mut LeaseState)) {
        let mut s = self.state.lock();
        f(&mut s);
        let until = match s.until(self.timeout()) {
            Until::Always => ALWAYS,
            Until::Never => NEVER,
            Until::At(t) => (t.saturating_duration_since(self.base).as_nanos() as u64).max(1),
        };
        self.until.store(until, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_millis(1000);
    /// How long a grant counts at D: 900 ms.
    const V: Duration = Duration::from_millis(900);

    fn state(me: &str, voters: &[&str], epoch: u64) -> LeaseState {
        let mut s = LeaseState::new(me);
        s.set_configuration(voters.iter().map(|v| v.to_string()).collect(), Vec::new());
        s.set_epoch(epoch, true);
        s
    }

    /// A voter needs one other voter's grant of three; a learner two; the
    /// lease ends D after the send time of the majority-th newest grant.
    #[test]
    fn majority_of_voters() {
        let t0 = Instant::now();
        let mut a = state("a", &["a", "b", "c"], 3);
        assert_eq!(a.until(D), Until::Never);
        a.answer("b", t0, true, 3);
        assert_eq!(a.until(D), Until::At(t0 + V));
        let mut l = state("l", &["a", "b", "c"], 3);
        l.answer("a", t0, true, 3);
        assert_eq!(l.until(D), Until::Never, "a learner counts no self-grant");
        l.answer("c", t0 + D / 2, true, 3);
        assert_eq!(l.until(D), Until::At(t0 + V));
        l.answer("b", t0 + D / 4, true, 3);
        assert_eq!(l.until(D), Until::At(t0 + D / 4 + V));
        // A node that is no voter's grant counts nothing.
        l.answer("x", t0 + D, true, 3);
        assert_eq!(l.until(D), Until::At(t0 + D / 4 + V));
        // A single voter that is this node; no voter at all.
        assert_eq!(state("a", &["a"], 1).until(D), Until::Always);
        assert_eq!(state("a", &[], 1).until(D), Until::Never);
        // Not a member of its own membership (and not leaving): never.
        let mut gone = state("a", &["a"], 4);
        gone.set_epoch(4, false);
        assert_eq!(gone.until(D), Until::Never);
    }

    /// The lease expires D after the send time, however late the reply
    /// came; a denial withdraws nothing (a voter that has not applied this
    /// node's join yet, a forgotten node still handing over).
    #[test]
    fn expiry_and_denial() {
        let base = Instant::now();
        let abc = || vec!["a".to_string(), "b".into(), "c".into()];
        let lease = Lease::new("a", 1000);
        lease.set_configuration(abc(), Vec::new());
        lease.set_epoch(2, true);
        assert!(!lease.holds_at(base));
        lease.answer("b", base, true, 2);
        assert!(lease.holds_at(base + V - Duration::from_millis(1)));
        assert!(!lease.holds_at(base + V));
        // A paused node resumes: its old grants are stale.
        assert!(!lease.holds_at(base + 3 * D));
        lease.answer("c", base + D / 2, true, 2);
        assert!(lease.holds_at(base + V));
        lease.answer("c", base + D, false, 3);
        lease.answer("b", base + D, false, 2);
        assert!(lease.holds_at(base + V), "denials withdraw nothing");
        assert!(!lease.holds_at(base + D / 2 + V), "the grant expires");
        // A shorter node timeout shortens the lease at once.
        let lease = Lease::new("a", 1000);
        lease.set_configuration(abc(), Vec::new());
        lease.set_epoch(2, true);
        lease.answer("b", base, true, 2);
        lease.set_timeout(100);
        assert!(!lease.holds_at(base + Duration::from_millis(50)));
        assert_eq!(validity(D), V);
    }

    /// A learner is asked too; its grant counts once it is promoted, so a
    /// single voter that gains a second one keeps its lease; a grant of a
    /// node that left the configuration is dropped.
    #[test]
    fn promotion_keeps_the_lease() {
        let t0 = Instant::now();
        let mut a = LeaseState::new("a");
        a.set_configuration(vec!["a".into()], vec!["b".into(), "c".into()]);
        a.set_epoch(3, true);
        assert_eq!(a.until(D), Until::Always);
        assert_eq!(a.others(), vec!["b".to_string(), "c".into()]);
        a.answer("b", t0, true, 3);
        assert_eq!(a.until(D), Until::Always);
        a.set_configuration(vec!["a".into(), "b".into()], vec!["c".into()]);
        assert_eq!(
            a.until(D),
            Until::At(t0 + V),
            "b's grant as a learner counts"
        );
        a.set_configuration(vec!["a".into(), "c".into()], Vec::new());
        assert_eq!(a.until(D), Until::Never, "b left the configuration");
        a.answer("b", t0, true, 3);
        assert_eq!(a.until(D), Until::Never, "no grant from outside it");
    }

    /// A grant from a voter whose committed membership is newer than this
    /// node's installed one is ignored until this node caught up.
    #[test]
    fn stale_epoch_grant_ignored() {
        let t0 = Instant::now();
        let mut a = state("a", &["a", "b", "c"], 2);
        a.answer("b", t0, true, 4);
        assert_eq!(a.until(D), Until::Never);
        a.set_epoch(4, true);
        a.answer("b", t0, true, 4);
        assert_eq!(a.until(D), Until::At(t0 + V));
        assert_eq!(parse_reply(b"+GRANTED 4\r\n"), Some((true, 4)));
        assert_eq!(parse_reply(reply_line(false, 7).as_bytes()), None);
        assert_eq!(
            parse_reply(format!("+{}\r\n", reply_line(false, 7)).as_bytes()),
            Some((false, 7))
        );
        assert_eq!(parse_reply(b"-NOPERM x\r\n"), None);
        assert!(grants(true, false) && grants(false, true) && !grants(false, false));
        assert_eq!(takeover_margin(D), Duration::from_millis(100));
        assert_eq!(takeover_margin(D / 10), Duration::from_millis(50));
    }
}
