//! The target's side of a migration: `CLUSTER MIGRATE-BATCH` arguments
//! ([`Phase`], [`parse_slots`]), applying a batch of records to the store
//! ([`apply_batch`]) and deleting the copies of a dropped import ([`discard`]).

use std::time::{Duration, Instant};

use super::plan::SlotState;
use crate::cluster::{dump, Cluster, View};
use crate::error::CmdError;
use crate::node::Node;
use crate::store::now_ms;

/// Phases of `CLUSTER MIGRATE-BATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Clear the slots on the target (a previous attempt may have left keys).
    Begin,
    /// Apply records.
    Copy,
    /// Apply records, then own the slots.
    Final,
}

impl Phase {
    /// The phase argument as sent.
    pub fn name(self) -> &'static [u8] {
        match self {
            Phase::Begin => b"begin",
            Phase::Copy => b"copy",
            Phase::Final => b"final",
        }
    }

    /// Parses a phase argument.
    pub fn parse(b: &[u8]) -> Option<Phase> {
        [Phase::Begin, Phase::Copy, Phase::Final]
            .into_iter()
            .find(|p| b.eq_ignore_ascii_case(p.name()))
    }
}

/// Parses a comma-separated slot list.
pub fn parse_slots(b: &[u8]) -> Option<Vec<u16>> {
    std::str::from_utf8(b)
        .ok()?
        .split(',')
        .map(|s| {
            s.parse::<u16>()
                .ok()
                .filter(|&n| (n as usize) < crate::store::SLOTS)
        })
        .collect()
}

/// The target's side of `CLUSTER MIGRATE-BATCH src epoch phase slots payload`.
/// A slot this node owns outright (it took it while the source was thought
/// gone) is refused with an error like any slot it does not import: the
/// source keeps its copy and retries (no node drops data because another
/// one claims it). Except a `begin` at this node's epoch for a slot taken
/// from a removed owner and not served yet ([`unserved`]): the slot is
/// then imported from that source.
pub fn apply_batch(
    shared: &Node,
    c: &Cluster,
    src: &str,
    epoch: u64,
    phase: Phase,
    slots: &[u16],
    payload: &[u8],
) -> Result<(), CmdError> {
    let view = c.view();
    if view.membership.epoch < epoch {
        return Err(CmdError::Other(format!(
            "TRYAGAIN membership epoch {} is older than the source's {epoch}",
            view.membership.epoch
        )));
    }
    let from = SlotState::Importing(src.to_string());
    let mut adopt = Vec::new();
    for &s in slots {
        match view.states.get(&s) {
            Some(st) if *st == from => {}
            // Mid-flip here (the slot may come back from the target right
            // after): the source retries once this node settled the slot.
            Some(SlotState::Paused) => {
                return Err(CmdError::Other(format!(
                    "TRYAGAIN slot {s} is still being handed over by this node"
                )))
            }
            // A node that joined together with others guessed the previous
            // owner (`Cluster::install`); the node that holds the data corrects it.
            Some(SlotState::Importing(_)) if phase == Phase::Begin => adopt.push(s),
            // Taken from a removed owner and not served yet: a holder
            // (migrating it to that owner when it vanished) claims it.
            None if phase == Phase::Begin
                && epoch == view.membership.epoch
                && unserved(&view, &c.id, s) =>
            {
                adopt.push(s)
            }
            _ => {
                return Err(CmdError::err(format!(
                    "slot {s} is not being imported from {src}"
                )))
            }
        }
    }
    if !adopt.is_empty() {
        let me = c.id.as_str();
        let late = c.update_states(|v, st| {
            let late = adopt.iter().find(|s| {
                !matches!(st.get(s), Some(SlotState::Importing(_))) && !unserved(v, me, **s)
            });
            if late.is_none() {
                for s in &adopt {
                    st.insert(*s, from.clone());
                }
            }
            late.copied()
        });
        if let Some(s) = late {
            return Err(CmdError::err(format!(
                "slot {s} is not being imported from {src}"
            )));
        }
    }
    let now = now_ms();
    if phase == Phase::Begin {
        for &s in slots {
            drop(shared.store.lock_slot(0, s, now).drop_all());
        }
        return Ok(());
    }
    let lim = dump::DumpLimits::of(&shared.config.read());
    let mut buf = payload;
    let mut n = 0u64;
    while let Some(rec) = dump::decode(&mut buf, &lim).map_err(|e| CmdError::err(e.to_string()))? {
        let key = shared.store.key(&rec.key);
        if !slots.contains(&key.slot) {
            return Err(CmdError::err(format!(
                "key of slot {} in a batch for other slots",
                key.slot
            )));
        }
        let mut l = shared.store.lock(0, &key, now);
        match rec.value {
            Some((value, expire, flags)) => {
                let mut e =
                    crate::store::Entry::new(&rec.key, value, crate::store::evict::new_stamp(now))
                        .with_expire(expire);
                e.set_mc_flags(flags);
                l.insert_entry(&key, e);
            }
            None => {
                l.remove(&key);
            }
        }
        n += 1;
    }
    c.progress.received(n);
    // A newer membership may have dropped the import while the records were
    // applied (the slot went to a third node): then this node must not keep
    // them, and the source must not count the slots as handed over (it
    // migrates them to their new owner instead). Checked and, for `final`,
    // taken over atomically with membership changes (`Cluster::install`).
    let lost = c.update_states(|_, st| {
        let lost: Vec<u16> = slots
            .iter()
            .copied()
            .filter(|s| st.get(s) != Some(&from))
            .collect();
        if lost.is_empty() && phase == Phase::Final {
            for s in slots {
                st.remove(s);
            }
        }
        lost
    });
    if let Some(s) = lost.first() {
        discard(shared, c, &lost);
        return Err(CmdError::err(format!(
            "slot {s} is no longer imported from {src}"
        )));
    }
    Ok(())
}

/// How long before a taken slot would be served a holder's `begin` is still
/// accepted for it: a request that read the view just before the adoption
/// decides against that view's takeover instant.
const ADOPT_MARGIN: Duration = Duration::from_millis(100);

/// True when this node (`me`) owns `slot` outright in `v` but has not served
/// it yet: taken from a removed owner, still in the takeover wait
/// (`Cluster::install`) for at least [`ADOPT_MARGIN`]. A live node that
/// still holds the slot's data (it was migrating it to that removed owner
/// when the owner vanished) may then claim it with its `begin`: nothing was
/// served here that the copy would overwrite.
fn unserved(v: &View, me: &str, slot: u16) -> bool {
    v.map.owner_id(slot) == Some(me)
        && !v.states.contains_key(&slot)
        && v.takeover
            .as_ref()
            .is_some_and(|t| t.waits(slot, Instant::now() + ADOPT_MARGIN))
}

/// Deletes this node's keys of those `slots` it neither holds nor imports:
/// copies of an import that a membership change dropped (they would be
/// stale if the slot came back).
pub fn discard(shared: &Node, c: &Cluster, slots: &[u16]) {
    let now = now_ms();
    for &s in slots {
        let mut l = shared.store.lock_slot(0, s, now);
        // Decided under the slot's lock: a new import's `begin` cannot slip in.
        let v = c.view();
        let keep = match v.states.get(&s) {
            Some(SlotState::Moved | SlotState::Dropped(_)) => false,
            Some(_) => true,
            None => v.map.owner_id(s) == Some(c.id.as_str()),
        };
        if !keep {
            let dropped = l.drop_all();
            drop(l);
            drop(dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source's `begin` may claim a slot taken from a removed owner only
    /// while this node has not served it: its own, no state, and still in
    /// the takeover wait for more than [`ADOPT_MARGIN`].
    #[test]
    fn a_taken_slot_is_claimed_only_before_it_is_served() {
        use crate::cluster::membership::Membership;
        use crate::cluster::Takeover;
        use std::collections::{BTreeMap, HashMap};
        use std::sync::Arc;
        let members = BTreeMap::from([("me".to_string(), 1)]);
        let m = Membership::default().next(members, "me".into());
        let mut v = View::new("me", m, Vec::new(), None);
        let taken = |from| {
            Some(Arc::new(Takeover {
                from,
                slots: vec![true; crate::store::SLOTS],
            }))
        };
        let later = Instant::now() + Duration::from_secs(5);
        v.takeover = taken(later);
        assert!(unserved(&v, "me", 5));
        assert!(!unserved(&v, "other", 5), "not this node's");
        v.takeover = taken(Instant::now() + ADOPT_MARGIN / 2);
        assert!(!unserved(&v, "me", 5), "served any moment");
        v.takeover = None;
        assert!(!unserved(&v, "me", 5), "not taken");
        v.takeover = taken(later);
        v.states = Arc::new(HashMap::from([(5, SlotState::Migrating)]));
        assert!(!unserved(&v, "me", 5), "held here");
    }

    #[test]
    fn phases_and_slot_lists() {
        assert_eq!(Phase::parse(b"FINAL"), Some(Phase::Final));
        assert_eq!(Phase::parse(b"x"), None);
        assert_eq!(parse_slots(b"1,2,16383"), Some(vec![1, 2, 16383]));
        assert_eq!(parse_slots(b"16384"), None);
        assert_eq!(parse_slots(b"1,,2"), None);
    }
}
