//! Membership agreement: which nodes are ring members at which epoch.
//!
//! The [`Agreement`] trait is the seam where a replicated log (Raft) belongs.
//! What is implemented today is an **interim, deterministic rule**
//! ([`LowestIdRule`]), not consensus:
//!
//! 1. Every node publishes (by gossip) the membership it has adopted.
//! 2. A node adopts any published membership that is newer than its own:
//!    higher epoch wins; on equal epochs the one published by the lower node id
//!    wins. So all nodes that see the same publications adopt the same one.
//! 3. The *coordinator* is the alive node with the lowest id in the local gossip
//!    view. When the alive, non-forgotten set (with weights) differs from the
//!    adopted membership, the coordinator publishes it at `epoch + 1`.
//!
//! Consequences, stated plainly: during a partition each side has its own
//! coordinator and both sides serve their own ring (split brain); after the
//! partition heals the higher epoch wins everywhere. Raft (openraft) would
//! replace rule 3 with a committed log entry and refuse writes on a minority.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// One agreed membership: the ring's input besides `vnodes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Bumped by every change.
    pub epoch: u64,
    /// Member id → weight.
    pub members: BTreeMap<String, u32>,
    /// Who published this membership (tie-break on equal epochs).
    pub by: String,
}

impl Membership {
    /// True when `self` must be replaced by `other` (see the module rules).
    pub fn is_superseded_by(&self, other: &Membership) -> bool {
        other.epoch > self.epoch || (other.epoch == self.epoch && other.by < self.by)
    }
}

/// What one node sees of the cluster at one moment (from gossip).
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// This node's id.
    pub me: String,
    /// Alive nodes (this one included) and their weights.
    pub alive: BTreeMap<String, u32>,
    /// Memberships published by known nodes (alive or not).
    pub published: Vec<Membership>,
    /// Ids removed with CLUSTER FORGET.
    pub forgotten: BTreeSet<String>,
    /// Alive nodes announcing a graceful leave (SHUTDOWN): excluded from the
    /// membership so their slots move to the others before they exit.
    pub leaving: BTreeSet<String>,
}

/// A way of agreeing on one membership; Raft would be another implementation.
pub trait Agreement {
    /// The adopted membership.
    fn current(&self) -> &Membership;
    /// Feeds one observation; returns true when the adopted membership changed.
    fn observe(&mut self, obs: &Observation) -> bool;
}

/// The interim rule described in the module documentation.
#[derive(Clone, Debug, Default)]
pub struct LowestIdRule {
    current: Membership,
}

impl LowestIdRule {
    /// Starts from a persisted membership (or the default, epoch 0, empty).
    pub fn new(current: Membership) -> Self {
        LowestIdRule { current }
    }
}

impl Agreement for LowestIdRule {
    fn current(&self) -> &Membership {
        &self.current
    }

    fn observe(&mut self, obs: &Observation) -> bool {
        let mut changed = false;
        for p in &obs.published {
            if self.current.is_superseded_by(p) {
                self.current = p.clone();
                changed = true;
            }
        }
        let eligible = |id: &String| !obs.forgotten.contains(id) && !obs.leaving.contains(id);
        let coordinator = obs.alive.keys().find(|id| eligible(id));
        if coordinator == Some(&obs.me) {
            let desired: BTreeMap<String, u32> = obs
                .alive
                .iter()
                .filter(|(id, _)| eligible(id))
                .map(|(id, w)| (id.clone(), *w))
                .collect();
            if desired != self.current.members {
                self.current = Membership {
                    epoch: self.current.epoch + 1,
                    members: desired,
                    by: obs.me.clone(),
                };
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(me: &str, alive: &[&str], published: &[Membership]) -> Observation {
        Observation {
            me: me.into(),
            alive: alive.iter().map(|a| (a.to_string(), 1)).collect(),
            published: published.to_vec(),
            forgotten: BTreeSet::new(),
            leaving: BTreeSet::new(),
        }
    }

    #[test]
    fn coordinator_publishes_and_others_adopt() {
        let mut a = LowestIdRule::default();
        let mut b = LowestIdRule::default();
        // b is not the coordinator: it waits for a.
        assert!(!b.observe(&obs("b", &["a", "b"], &[])));
        assert!(a.observe(&obs("a", &["a", "b"], &[])));
        assert_eq!(a.current().epoch, 1);
        assert!(b.observe(&obs("b", &["a", "b"], &[a.current().clone()])));
        assert_eq!(a.current(), b.current());
        // Stable: nothing changes without a change in the view.
        assert!(!a.observe(&obs("a", &["a", "b"], &[b.current().clone()])));
    }

    #[test]
    fn failure_and_forget() {
        let mut b = LowestIdRule::new(Membership {
            epoch: 4,
            members: [("a".to_string(), 1), ("b".to_string(), 1)].into(),
            by: "a".into(),
        });
        // a died: b is now the lowest alive id and removes it.
        assert!(b.observe(&obs("b", &["b", "c"], &[])));
        assert_eq!(b.current().epoch, 5);
        assert_eq!(
            b.current().members.keys().collect::<Vec<_>>(),
            vec!["b", "c"]
        );
        let mut o = obs("b", &["b", "c"], &[]);
        o.forgotten.insert("c".into());
        assert!(b.observe(&o));
        assert_eq!(b.current().members.keys().collect::<Vec<_>>(), vec!["b"]);
    }

    #[test]
    fn leaving_nodes_are_excluded() {
        let mut a = LowestIdRule::default();
        assert!(a.observe(&obs("a", &["a", "b", "c"], &[])));
        let mut o = obs("a", &["a", "b", "c"], &[]);
        o.leaving.insert("b".into());
        assert!(a.observe(&o));
        assert_eq!(
            a.current().members.keys().collect::<Vec<_>>(),
            vec!["a", "c"]
        );
        // A leaving coordinator hands the role to the next lowest id.
        let mut c = LowestIdRule::new(a.current().clone());
        let mut o = obs("c", &["a", "c"], &[]);
        o.leaving.insert("a".into());
        assert!(c.observe(&o));
        assert_eq!(c.current().members.keys().collect::<Vec<_>>(), vec!["c"]);
    }

    #[test]
    fn equal_epochs_resolve_to_lowest_publisher() {
        let x = Membership {
            epoch: 3,
            members: BTreeMap::new(),
            by: "b".into(),
        };
        let y = Membership {
            by: "a".into(),
            ..x.clone()
        };
        assert!(x.is_superseded_by(&y));
        assert!(!y.is_superseded_by(&x));
    }

    /// Simulated network: five nodes, 30% message loss, a partition that
    /// later heals. Each side agrees on its own membership while split (the
    /// documented split brain of the interim rule); after healing every node
    /// converges to one membership holding all five.
    #[test]
    fn converges_after_partition_under_loss() {
        use rand::{Rng, SeedableRng};
        for seed in 0..20u64 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let ids = ["a", "b", "c", "d", "e"];
            let mut rules: Vec<LowestIdRule> =
                ids.iter().map(|_| LowestIdRule::default()).collect();
            let side = |i: usize| usize::from(i >= 2);
            let round = |rules: &mut Vec<LowestIdRule>,
                         split: bool,
                         rng: &mut rand::rngs::SmallRng| {
                let snapshot: Vec<Membership> = rules.iter().map(|r| r.current().clone()).collect();
                for (i, rule) in rules.iter_mut().enumerate() {
                    let reach: Vec<usize> = (0..ids.len())
                        .filter(|&j| !split || side(i) == side(j))
                        .collect();
                    let published = reach
                        .iter()
                        .filter(|&&j| j == i || rng.random_bool(0.7))
                        .map(|&j| snapshot[j].clone())
                        .collect::<Vec<_>>();
                    rule.observe(&obs(
                        ids[i],
                        &reach.iter().map(|&j| ids[j]).collect::<Vec<_>>(),
                        &published,
                    ));
                }
            };
            for _ in 0..30 {
                round(&mut rules, true, &mut rng);
            }
            assert_eq!(rules[0].current(), rules[1].current());
            assert_eq!(rules[2].current(), rules[4].current());
            assert_eq!(rules[2].current().members.len(), 3);
            for _ in 0..60 {
                round(&mut rules, false, &mut rng);
            }
            for r in &rules {
                assert_eq!(r.current(), rules[0].current(), "seed {seed}");
            }
            assert_eq!(rules[0].current().members.len(), 5);
        }
    }
}
