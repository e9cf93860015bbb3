//! The pure half of live migration: the per-slot states ([`SlotState`]),
//! how a slot-map change moves them on ([`transition`], [`after_flip`]) and
//! the source's group-move state machine ([`Mover`]). No I/O, no locks:
//! unit-tested without sockets.

use std::collections::HashMap;

/// Migration state of one slot on this node (absent: owned per the map, or not ours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// The map gives the slot to this node, but node `.0` still holds the data:
    /// requests are forwarded there until the copy flips.
    Importing(String),
    /// This node holds the data, the map gives the slot to another node:
    /// served here while being copied to the map owner.
    Migrating,
    /// Flip in progress: requests wait (milliseconds).
    Paused,
    /// Handed over: even proxied requests are forwarded to the map owner.
    Moved,
    /// This node was importing the slot from `.0` when a newer map gave it
    /// to a third node: requests still go to `.0`, which holds the data until
    /// it hands the slot to the new owner (the new owner may guess this node
    /// as its source until then; going there instead would bounce). Lasts
    /// until the next membership change; if that one gives the slot back,
    /// it is imported from its old owner, never from `.0` again (`.0` may
    /// have handed it over meanwhile and would forward it back here).
    Dropped(String),
}

/// Dirty rounds stop when fewer keys than this changed in the last round.
const FLIP_AT: usize = 256;
/// Most dirty rounds before flipping anyway.
const MAX_ROUNDS: u32 = 4;

/// Computes the slot states after the slot map changed from `old` to `new`
/// (owner ids per slot). Pure: unit-tested without sockets.
///
/// - This node holds a slot's data when it owned it (and was not importing
///   it) or was migrating it. If the new owner is someone else, it migrates
///   the slot to them; if it is this node again, it simply owns it.
/// - A slot gained from a live node is imported from that node; one gained
///   from a dead node (or nobody) is owned at once, empty. "From" is the old
///   owner, also for a slot whose import this node had dropped (its source
///   may have handed it to that owner since); only an import still in
///   progress keeps its source.
/// - `Moved` stays (proxied requests keep following the map); an import whose
///   slot went to a third node is dropped (the source migrates it there; a
///   flip to this node that races the change is refused by
///   [`apply_batch`](super::target::apply_batch))
///   and marked [`SlotState::Dropped`] until the next change.
/// - `Paused` stays whatever the new owner: the flip in progress decides
///   where the slot ends up ([`after_flip`]); serving it here meanwhile could
///   lose writes made after the final batch was built.
pub fn transition<'a>(
    me: &str,
    old: impl Fn(u16) -> Option<&'a str>,
    new: impl Fn(u16) -> Option<&'a str>,
    prior: &HashMap<u16, SlotState>,
    alive: impl Fn(&str) -> bool,
) -> HashMap<u16, SlotState> {
    let mut out = HashMap::new();
    for s in 0..crate::store::SLOTS as u16 {
        let st = prior.get(&s);
        if st == Some(&SlotState::Paused) {
            out.insert(s, SlotState::Paused);
            continue;
        }
        let holds = match st {
            Some(SlotState::Migrating | SlotState::Paused) => true,
            Some(SlotState::Importing(_) | SlotState::Moved | SlotState::Dropped(_)) => false,
            None => old(s) == Some(me),
        };
        let next = match new(s) {
            Some(owner) if owner == me => {
                if holds {
                    None
                } else if let Some(SlotState::Importing(src)) = st {
                    alive(src).then(|| SlotState::Importing(src.clone()))
                } else {
                    // Also a dropped import: its source was handing the slot
                    // to the old owner and may have done so since (it is
                    // then `Moved` and forwards here: importing from it
                    // again would bounce forever). The old owner holds it
                    // or imports it from that source, whose `begin`
                    // corrects the guess while it still holds it.
                    old(s)
                        .filter(|src| *src != me && alive(src))
                        .map(|src| SlotState::Importing(src.to_string()))
                }
            }
            Some(_) if holds => Some(SlotState::Migrating),
            Some(_) => match st {
                Some(SlotState::Importing(src)) if alive(src) => {
                    Some(SlotState::Dropped(src.clone()))
                }
                Some(SlotState::Moved) => Some(SlotState::Moved),
                _ => None,
            },
            _ if st == Some(&SlotState::Moved) => Some(SlotState::Moved),
            _ => None,
        };
        if let Some(n) = next {
            out.insert(s, n);
        }
    }
    out
}

/// Whether the source of an import that gossip reports down is gone (its
/// slots are then taken outright), from whether it is a `member`, announces
/// a graceful leave (`leaving`), and how long it has been down (`down`, ms;
/// `None`: gossip does not know it): a member once it has been down for
/// `limit` (twice the node timeout: reported dead for a node timeout), a
/// removed leaving node likewise (or once gossip forgot it), a removed node
/// that never announced a leave (it died) at once. Pure, like [`transition`].
pub fn source_gone(member: bool, leaving: bool, down: Option<u64>, limit: u64) -> bool {
    match (member, leaving) {
        (true, _) => down.is_some_and(|d| d >= limit),
        (false, true) => down.is_none_or(|d| d >= limit),
        (false, false) => true,
    }
}

/// The state of a slot whose flip just ended, against the newest map
/// (`owner`, which may have changed during the flip): when `handed` the
/// target holds the data now, else this node still does. Pure, like
/// [`transition`].
///
/// - Handed over: if the slot is ours again, import it back from the target
///   (own it empty if the target is gone); else forward to the map owner.
/// - Kept: own it if it is ours, else migrate it to the (new) owner.
pub fn after_flip(
    me: &str,
    owner: Option<&str>,
    target: &str,
    handed: bool,
    alive: impl Fn(&str) -> bool,
) -> Option<SlotState> {
    let mine = owner == Some(me);
    match (handed, mine) {
        (true, true) => alive(target).then(|| SlotState::Importing(target.to_string())),
        (true, false) => Some(SlotState::Moved),
        (false, true) => None,
        (false, false) => Some(SlotState::Migrating),
    }
}

/// Steps of moving one group of slots (the source's side), sans I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask the target to clear and accept the slots.
    Begin,
    /// Turn on dirty tracking and send every key.
    Snapshot,
    /// Send the keys changed since the last round.
    Dirty,
    /// Pause the slots, send the last changes, target takes ownership.
    Flip,
    /// Handed over: mark moved, delete the local copy.
    Done,
    /// Failed: resume serving the slots here, retry later.
    Abort,
}

/// The group-move state machine: feed it the outcome of each step.
#[derive(Debug)]
pub struct Mover {
    step: Step,
    rounds: u32,
}

impl Default for Mover {
    fn default() -> Self {
        Mover {
            step: Step::Begin,
            rounds: 0,
        }
    }
}

impl Mover {
    /// The step to perform now.
    pub fn step(&self) -> Step {
        self.step
    }

    /// Records the outcome of the current step: `Ok(n)` with the number of
    /// keys it sent, `Err(())` when the target refused or was unreachable.
    pub fn on(&mut self, outcome: Result<usize, ()>) -> Step {
        self.step = match (self.step, outcome) {
            (Step::Done | Step::Abort, _) => self.step,
            (_, Err(())) => Step::Abort,
            (Step::Begin, Ok(_)) => Step::Snapshot,
            (Step::Snapshot, Ok(_)) => Step::Dirty,
            (Step::Dirty, Ok(n)) => {
                self.rounds += 1;
                if n < FLIP_AT || self.rounds >= MAX_ROUNDS {
                    Step::Flip
                } else {
                    Step::Dirty
                }
            }
            (Step::Flip, Ok(_)) => Step::Done,
        };
        self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a";
    const B: &str = "b";
    const N: &str = "n";

    /// Owner function from a small per-slot table (slot % len).
    fn owners(ids: &'static [&'static str]) -> impl Fn(u16) -> Option<&'static str> {
        move |s| ids.get(s as usize % ids.len()).copied()
    }

    #[test]
    fn join_marks_import_and_migration() {
        let old = owners(&[A, B]);
        let new = owners(&[A, B, N, N]);
        // Slot 2: a -> n, slot 3: b -> n.
        let at_n = transition(N, &old, &new, &HashMap::new(), |_| true);
        assert_eq!(at_n.get(&2), Some(&SlotState::Importing(A.into())));
        assert_eq!(at_n.get(&3), Some(&SlotState::Importing(B.into())));
        assert_eq!(at_n.get(&0), None);
        let at_a = transition(A, &old, &new, &HashMap::new(), |_| true);
        assert_eq!(at_a.get(&2), Some(&SlotState::Migrating));
        assert_eq!(at_a.get(&3), None);
        assert_eq!(at_a.get(&0), None);
        // A dead source: the new owner takes the slot empty.
        let at_n = transition(N, &old, &new, &HashMap::new(), |id| id != A);
        assert_eq!(at_n.get(&2), None);
        assert_eq!(at_n.get(&3), Some(&SlotState::Importing(B.into())));
    }

    #[test]
    fn chained_changes() {
        // a was migrating slot 2 to n; now slot 2 goes back to a: a owns it.
        let mut prior = HashMap::new();
        prior.insert(2u16, SlotState::Migrating);
        let st = transition(A, owners(&[A, B, N, N]), owners(&[A, B]), &prior, |_| true);
        assert_eq!(st.get(&2), None);
        // ...or to a third node b: a migrates to b instead.
        let st = transition(A, owners(&[A, B, N, N]), owners(&[B]), &prior, |_| true);
        assert_eq!(st.get(&2), Some(&SlotState::Migrating));
        // A node that handed slot 2 over and gets it back imports it again.
        let mut prior = HashMap::new();
        prior.insert(2u16, SlotState::Moved);
        let st = transition(A, owners(&[A, B, N, N]), owners(&[A]), &prior, |_| true);
        assert_eq!(st.get(&2), Some(&SlotState::Importing(N.into())));
        // Moved stays while the slot is elsewhere.
        let st = transition(A, owners(&[A, B, N, N]), owners(&[B, N]), &prior, |_| true);
        assert_eq!(st.get(&2), Some(&SlotState::Moved));
        // An import whose source died is dropped; the slot is owned.
        let mut prior = HashMap::new();
        prior.insert(2u16, SlotState::Importing(A.into()));
        let st = transition(N, owners(&[A, B, N, N]), owners(&[B, N, N]), &prior, |id| {
            id != A
        });
        assert_eq!(st.get(&2), None);
    }

    #[test]
    fn overlapping_change_during_a_flip() {
        use SlotState::{Dropped, Importing, Migrating, Moved, Paused};
        // a is flipping slot 2 to n when a newer map gives slot 2 to b, or
        // back to a: the slot stays paused until the flip ends.
        let mut prior = HashMap::new();
        prior.insert(2u16, Paused);
        for new in [owners(&[B]), owners(&[A])] {
            let st = transition(A, owners(&[A, B, N, N]), new, &prior, |_| true);
            assert_eq!(st.get(&2), Some(&Paused));
        }
        // The flip ends; the newest map's owner decides.
        let all = |_: &str| true;
        assert_eq!(after_flip(A, Some(B), N, true, all), Some(Moved));
        assert_eq!(
            after_flip(A, Some(A), N, true, all),
            Some(Importing(N.into()))
        );
        assert_eq!(after_flip(A, Some(A), N, true, |id| id != N), None);
        assert_eq!(after_flip(A, Some(A), N, false, all), None);
        assert_eq!(after_flip(A, Some(B), N, false, all), Some(Migrating));
        assert_eq!(after_flip(A, Some(N), N, false, all), Some(Migrating));
        // n, importing slot 2 from a, drops the import when slot 2 goes to b
        // (apply_batch then refuses a's late batches); a keeps migrating it,
        // now to b, which guesses n as the source until a's `begin`.
        let (old, new) = (owners(&[A, B, N, N]), owners(&[A, B, B]));
        let mut prior = HashMap::new();
        prior.insert(2u16, Importing(A.into()));
        let st = transition(N, &old, &new, &prior, all);
        assert_eq!(st.get(&2), Some(&Dropped(A.into())));
        // ...until the next change. When the slot comes back, n imports it
        // from b, its owner meanwhile: b holds it, or imports it from a,
        // which then still holds it and corrects n's guess with its `begin`.
        assert_eq!(transition(N, &new, &new, &st, all).get(&2), None);
        let back = transition(N, &new, &old, &st, all);
        assert_eq!(back.get(&2), Some(&Importing(B.into())));
        // A dead source: nothing to follow.
        assert_eq!(
            transition(N, &old, &new, &prior, |id| id != A).get(&2),
            None
        );
        let mut prior = HashMap::new();
        prior.insert(2u16, Migrating);
        assert_eq!(
            transition(A, &old, &new, &prior, all).get(&2),
            Some(&Migrating)
        );
        let st = transition(B, &old, &new, &HashMap::new(), all);
        assert_eq!(st.get(&2), Some(&Importing(N.into())));
    }

    /// Issue 14: a survivor importing from a killed source takes the slots
    /// once the source is removed or dead for a node timeout (it stayed
    /// importing for over a minute); a target never takes them from a
    /// leaving source that was reported down only briefly (a rolling
    /// restart lost writes that way), nor from a member not gossiped yet.
    #[test]
    fn orphaned_imports_only_from_gone_sources() {
        let limit = 2000;
        assert!(source_gone(false, false, Some(10), limit), "removed, died");
        assert!(source_gone(false, false, None, limit));
        assert!(
            source_gone(true, false, Some(limit), limit),
            "dead a timeout"
        );
        assert!(!source_gone(true, false, Some(limit - 1), limit));
        assert!(!source_gone(true, false, None, limit), "not gossiped yet");
        assert!(
            !source_gone(false, true, Some(300), limit),
            "leaving, flapped"
        );
        assert!(source_gone(false, true, Some(limit), limit));
        assert!(source_gone(false, true, None, limit));
    }

    /// Where a request for slot 0 entering at `from` ends up, following
    /// each node's state as the router does (importing/dropped: to the
    /// source; moved or not ours: to the map `owner`), at most 4 hops:
    /// the node that serves it, or `None` when it bounces.
    fn served_by<'a>(
        from: &'a str,
        owner: &'a str,
        nodes: &[(&'a str, &'a HashMap<u16, SlotState>)],
    ) -> Option<&'a str> {
        let mut at = from;
        for _ in 0..4 {
            let st = nodes.iter().find(|(id, _)| *id == at)?.1.get(&0);
            at = match st {
                Some(SlotState::Migrating | SlotState::Paused) => return Some(at),
                None if at == owner => return Some(at),
                Some(SlotState::Importing(src) | SlotState::Dropped(src)) => src,
                Some(SlotState::Moved) | None => owner,
            };
        }
        None
    }

    /// Issue 14, chaos `pause` on 5 nodes: n imports slot 0 from a when p
    /// joins and takes it (n drops the import: `Dropped(a)`), a hands it to
    /// p (`Moved`), then p is paused and removed and the slot comes back
    /// to n. Before: n imported it again from a, which no longer held it
    /// and forwarded to n (requests bounced, `-TRYAGAIN`, forever); when p
    /// was added again and imported the slot from n, n dropped it once
    /// more and nobody handed it over. Now n owns it (the data was only on
    /// p) and hands it to p when p comes back.
    #[test]
    fn a_dropped_import_whose_slot_came_back_after_the_holder_died() {
        use SlotState::{Dropped, Importing, Migrating, Moved};
        let to = |id: &'static str| move |_: u16| Some(id);
        let all = |_: &str| true;
        let none = HashMap::new();
        // Epoch 2: a migrates slot 0 to n.
        let mut a = HashMap::from([(0u16, Migrating)]);
        let n = HashMap::from([(0u16, Importing(A.into()))]);
        // Epoch 3: p joins and gets slot 0.
        a = transition(A, to(A), to(N), &a, all);
        let n = transition(N, to(N), to("p"), &n, all);
        assert_eq!(n.get(&0), Some(&Dropped(A.into())));
        let p = transition("p", to(N), to("p"), &none, all);
        assert_eq!(p.get(&0), Some(&Importing(N.into())), "p's guess");
        // a's `begin` corrects p's guess, the flip hands the slot to p.
        a = transition(A, to(N), to("p"), &a, all);
        assert_eq!(a.get(&0), Some(&Migrating));
        let st = after_flip(A, Some("p"), "p", true, all);
        a = st.into_iter().map(|st| (0u16, st)).collect();
        assert_eq!(a.get(&0), Some(&Moved));
        // Epoch 4: p (paused) is removed; slot 0 goes back to n.
        let alive = |id: &str| id != "p";
        let a4 = transition(A, to("p"), to(N), &a, alive);
        let n4 = transition(N, to("p"), to(N), &n, alive);
        let nodes = [(A, &a4), (N, &n4)];
        assert_eq!(served_by(A, N, &nodes), Some(N), "{nodes:?}");
        assert_eq!(served_by(N, N, &nodes), Some(N), "{nodes:?}");
        // Epoch 5: p, back and emptied, is added again and imports slot 0
        // from its epoch-4 owner (its guess): n hands it over.
        let a5 = transition(A, to(N), to("p"), &a4, all);
        let n5 = transition(N, to(N), to("p"), &n4, all);
        let p5 = transition("p", to(N), to("p"), &none, all);
        assert_eq!(n5.get(&0), Some(&Migrating));
        let nodes = [(A, &a5), (N, &n5), ("p", &p5)];
        for from in [A, N, "p"] {
            assert_eq!(served_by(from, "p", &nodes), Some(N), "{nodes:?}");
        }
    }

    #[test]
    fn leaving_node_migrates_everything() {
        let st = transition(A, owners(&[A, B]), owners(&[B]), &HashMap::new(), |_| true);
        assert_eq!(st.len(), crate::store::SLOTS / 2);
        assert!(st.values().all(|s| *s == SlotState::Migrating));
    }

    #[test]
    fn mover_rounds_then_flip() {
        let mut m = Mover::default();
        assert_eq!(m.step(), Step::Begin);
        assert_eq!(m.on(Ok(0)), Step::Snapshot);
        assert_eq!(m.on(Ok(10_000)), Step::Dirty);
        assert_eq!(m.on(Ok(5_000)), Step::Dirty);
        assert_eq!(m.on(Ok(FLIP_AT - 1)), Step::Flip);
        assert_eq!(m.on(Ok(3)), Step::Done);
        assert_eq!(m.on(Err(())), Step::Done);
        // Busy slots flip after MAX_ROUNDS anyway.
        let mut m = Mover::default();
        m.on(Ok(0));
        m.on(Ok(1));
        for _ in 0..MAX_ROUNDS - 1 {
            assert_eq!(m.on(Ok(1_000_000)), Step::Dirty);
        }
        assert_eq!(m.on(Ok(1_000_000)), Step::Flip);
        assert_eq!(m.on(Err(())), Step::Abort);
        assert_eq!(m.on(Ok(0)), Step::Abort);
    }
}
