//! Membership agreement: which nodes are ring members at which epoch.
//!
//! [`Membership`] is the agreed state, [`Observation`] what gossip tells a node
//! about its peers, and [`Agreement`] the seam between the gossip loop and the
//! consensus that turns observations into committed memberships: a Raft group
//! (`raft_core.rs`, held by `raft_agreement.rs`), where every committed change
//! bumps the epoch, so an epoch names one membership on every node.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One agreed membership: the ring's input besides `vnodes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Bumped by every change.
    pub epoch: u64,
    /// Member id → weight.
    pub members: BTreeMap<String, u32>,
    /// The leader that proposed this membership.
    pub by: String,
    /// The members (id → weight) of the membership this one replaced: a node
    /// that joins with this membership as its first one computes the slots'
    /// previous owners from it (it never saw the previous map itself).
    #[serde(default)]
    pub previous: BTreeMap<String, u32>,
    /// The committed owner of every slot (an index into `members` in key
    /// order), computed when the change is applied from the previous owners
    /// (`ring::balance`); empty: the plain ring of `members`.
    #[serde(default)]
    pub slots: Vec<u16>,
    /// `slots` of the membership this one replaced (indexes into `previous`).
    #[serde(default)]
    pub previous_slots: Vec<u16>,
    /// Member id → the epoch of the change that added it. A node that finds
    /// its own entry newer than in the membership it served was removed and
    /// added again meanwhile: what it still holds is stale (`Cluster::install`).
    #[serde(default)]
    pub joined: BTreeMap<String, u64>,
}

impl Membership {
    /// The epoch at which member `id` was added (0: before this was recorded).
    pub fn joined_at(&self, id: &str) -> u64 {
        self.joined.get(id).copied().unwrap_or(0)
    }

    /// The membership that replaces this one when the agreed member set
    /// becomes `members`: next epoch, committed slot owners balanced from
    /// this one's.
    pub fn next(&mut self, members: BTreeMap<String, u32>, by: String) -> Membership {
        let old_ids: Vec<&str> = self.members.keys().map(String::as_str).collect();
        let prev = |s: u16| {
            let i = *self.slots.get(s as usize)?;
            old_ids.get(i as usize).copied()
        };
        let slots = super::ring::balance(&super::ring::active(&members), prev);
        let epoch = self.epoch + 1;
        let joined = members
            .keys()
            .map(|id| {
                let at = if self.members.contains_key(id) {
                    self.joined.get(id).copied().unwrap_or(0)
                } else {
                    epoch
                };
                (id.clone(), at)
            })
            .collect();
        Membership {
            epoch,
            joined,
            previous: std::mem::take(&mut self.members),
            previous_slots: std::mem::take(&mut self.slots),
            slots,
            members,
            by,
        }
    }
}

/// What one node sees of the cluster at one moment (from gossip).
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// This node's id.
    pub me: String,
    /// Alive nodes (this one included) and their weights.
    pub alive: BTreeMap<String, u32>,
    /// Raft group announced by each known node ("" while it is in none).
    pub groups: BTreeMap<String, String>,
    /// Ids removed with CLUSTER FORGET.
    pub forgotten: BTreeSet<String>,
    /// Ids that announce they are leaving the cluster (gossip key `leaving`).
    pub leaving: BTreeSet<String>,
}

/// A way of agreeing on one membership from gossip observations.
pub trait Agreement {
    /// The agreed (committed and applied) membership.
    fn current(&self) -> Membership;
    /// Feeds one observation.
    fn observe(&self, obs: Observation);
}
