//! The source's side of a migration, without network I/O: what the migration task
//! (`server/migrate_task.rs`) does to the store and the slot states while it
//! copies groups of slots to their new owners ([`OutgoingSlots`]: snapshot
//! and dirty-key payloads, the flip's pause, settling the slots after a move
//! with [`after_flip`]), the slots it gives up or takes over, and the
//! graceful leave of a stopping node ([`leave`]).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::plan::{after_flip, SlotState};
use crate::cluster::{dump, gossip, route, Cluster, View};
use crate::node::Node;
use crate::store::now_ms;

/// A leaving node still in the membership after this long exits: nobody is
/// left to take its slots (the coordinator acts within a gossip round or two).
const NO_TAKER: Duration = Duration::from_secs(5);

/// A group of slots this node copies to one target.
#[derive(Debug)]
pub struct OutgoingSlots<'a> {
    shared: &'a Node,
    c: &'a Cluster,
    /// The target's node id.
    to: &'a str,
    slots: Vec<u16>,
}

impl<'a> OutgoingSlots<'a> {
    /// The group of `slots` going to node `to`.
    pub fn new(shared: &'a Node, c: &'a Cluster, to: &'a str, slots: &[u16]) -> Self {
        OutgoingSlots {
            shared,
            c,
            to,
            slots: slots.to_vec(),
        }
    }

    /// The slots of the group.
    pub fn slots(&self) -> &[u16] {
        &self.slots
    }

    /// Turns on dirty-key tracking for slot `s` and appends every live key
    /// of it to `payload`; returns the number of keys.
    pub fn snapshot_slot(&self, s: u16, payload: &mut Vec<u8>) -> usize {
        let now = now_ms();
        let mut l = self.shared.store.lock_slot(0, s, now);
        let t = l.table();
        t.track_dirty(true);
        let mut n = 0;
        for e in t.iter().filter(|e| !e.is_expired(now)) {
            dump::encode_entry(payload, e);
            n += 1;
        }
        n
    }

    /// Encodes the keys changed since the last call (value or tombstone).
    pub fn dirty_payload(&self) -> (Vec<u8>, usize) {
        let now = now_ms();
        let mut payload = Vec::new();
        let mut n = 0;
        for &s in &self.slots {
            let mut l = self.shared.store.lock_slot(0, s, now);
            let keys = l.table().take_dirty();
            for k in keys {
                let key = self.shared.store.key(&k);
                match l.get(&key) {
                    Some(e) => dump::encode_entry(&mut payload, e),
                    None => dump::encode_tombstone(&mut payload, &k),
                }
                n += 1;
            }
        }
        self.c.progress.sent(n, 0);
        (payload, n)
    }

    /// The flip's first step: marks the migrating slots paused (their
    /// requests wait until the slots are settled).
    pub fn pause(&self) {
        self.c.update_states(|_, st| {
            for s in &self.slots {
                if st.get(s) == Some(&SlotState::Migrating) {
                    st.insert(*s, SlotState::Paused);
                }
            }
        });
    }

    /// The target took the slots: frees the local copies and settles the
    /// slots against the newest map.
    pub fn handed_over(&self) {
        // Emptied while still paused: once settled, the slots may be
        // imported back from the target, and its `begin` must find
        // nothing left to wipe later. Freed after settling (the slow part).
        let now = now_ms();
        let copies: Vec<_> = self
            .slots
            .iter()
            .map(|&s| {
                let mut l = self.shared.store.lock_slot(0, s, now);
                l.table().track_dirty(false);
                l.drop_all()
            })
            .collect();
        self.settle(true);
        drop_moved_shard_channels(self.shared, self.c);
        drop(copies);
        self.c.progress.handed(self.slots.len());
    }

    /// The move failed: stops tracking changes and settles the slots a
    /// flip had paused (the others stay migrating, retried later).
    pub fn kept(&self) {
        let now = now_ms();
        for &s in &self.slots {
            self.shared
                .store
                .lock_slot(0, s, now)
                .table()
                .track_dirty(false);
        }
        self.settle(false);
    }

    /// Decides the slots' states against the newest map ([`after_flip`]): a
    /// membership change during the move may have given them to another
    /// node or back to this one.
    fn settle(&self, handed: bool) {
        self.c.update_states(|v, st| {
            for s in &self.slots {
                if !handed && st.get(s) != Some(&SlotState::Paused) {
                    continue;
                }
                let me = self.c.id.as_str();
                match after_flip(me, v.map.owner_id(*s), self.to, handed, |id| v.may_hold(id)) {
                    Some(n) => st.insert(*s, n),
                    None => st.remove(s),
                };
            }
        });
        self.c.wake.notify_one();
    }
}

/// Imports whose source died mid-copy (`Cluster::source_gone`: reported
/// dead for a node timeout, or removed without a graceful leave): takes
/// their slots (missing keys are cache misses). A source that is alive, or
/// a leaving one that was reported down only briefly, keeps its imports.
pub fn take_orphaned_imports(c: &Cluster, view: &View) {
    let now = now_ms();
    let orphaned: Vec<(u16, String)> = view
        .states
        .iter()
        .filter_map(|(s, st)| match st {
            SlotState::Importing(src) if c.source_gone(view, src, now) => Some((*s, src.clone())),
            _ => None,
        })
        .collect();
    if !orphaned.is_empty() {
        warn!(
            source = %orphaned[0].1,
            slots = orphaned.len(),
            "migration source disappeared mid-copy: taking its slots, keys not yet copied are lost (cache misses)"
        );
        c.update_states(|_, st| {
            for (s, src) in &orphaned {
                if st.get(s) == Some(&SlotState::Importing(src.clone())) {
                    st.remove(s);
                }
            }
        });
    }
}

/// The slots this node migrates, by target node id.
pub fn migrating_by_target(view: &View) -> BTreeMap<String, Vec<u16>> {
    let mut by_target: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    for (s, st) in view.states.iter() {
        if *st == SlotState::Migrating {
            if let Some(owner) = view.map.owner_id(*s) {
                by_target.entry(owner.to_string()).or_default().push(*s);
            }
        }
    }
    by_target
}

/// Drops the shard-channel subscriptions whose slot this node no longer
/// serves (Redis Cluster sends their subscribers `sunsubscribe`, so they
/// subscribe again at the new owner, where SPUBLISH now goes).
pub fn drop_moved_shard_channels(shared: &Node, c: &Cluster) {
    if shared.pubsub.count(crate::node::pubsub::Kind::Shard) == 0 {
        return;
    }
    let view = c.view();
    let n = shared.pubsub.drop_shard_channels(shared, |channel| {
        let slot = crate::store::key_slot(channel);
        !matches!(
            route::slot_route(&view, slot, false),
            route::SlotRoute::Remote(..)
        )
    });
    if n > 0 {
        info!(
            channels = n,
            "unsubscribed shard channels whose slots moved away"
        );
    }
}

/// Stops holding `slots` without handing them over: marks them moved and
/// drops the local keys (the owner serves them; missing keys are misses).
pub fn give_up(shared: &Node, c: &Cluster, slots: &[u16]) {
    c.update_states(|_, st| {
        for s in slots {
            st.insert(*s, SlotState::Moved);
        }
    });
    let now = now_ms();
    for &s in slots {
        let mut l = shared.store.lock_slot(0, s, now);
        l.table().track_dirty(false);
        let dropped = l.drop_all();
        drop(l);
        drop(dropped);
    }
}

/// True when `v` leaves this node nothing to hand over: it is no member and
/// holds no slot's data.
fn handed_all(v: &View, me: &str) -> bool {
    !v.is_member(me)
        && !v
            .states
            .values()
            .any(|s| matches!(s, SlotState::Migrating | SlotState::Paused))
}

/// Graceful leave (SHUTDOWN / SIGTERM of a cluster member): announce
/// `leaving`, wait (at most `limit`) until the other nodes adopted a
/// membership without this node and every slot was handed over, then stop.
pub async fn leave(shared: Arc<Node>, c: Arc<Cluster>, limit: Duration) {
    c.leaving.store(true, Ordering::Relaxed);
    info!("leaving the cluster: handing slots over before exiting");
    let start = std::time::Instant::now();
    loop {
        let v = c.view();
        let others = v.membership.members.keys().any(|id| *id != c.id);
        if handed_all(&v, &c.id) {
            // Nodes still on an older view may forward a request here; give
            // them a few gossip rounds to catch up.
            tokio::time::sleep(gossip::GOSSIP_INTERVAL * 3).await;
            // Checked again: a membership change adopted meanwhile (or a
            // flip that completed just before it) can leave this node
            // holding slots, or with new migration targets.
            let now = c.view();
            if now.membership.epoch == v.membership.epoch && handed_all(&now, &c.id) {
                info!(
                    secs = start.elapsed().as_secs_f64(),
                    "slots handed over, leaving"
                );
                break;
            }
            if start.elapsed() < limit {
                continue;
            }
        }
        if v.is_member(&c.id) && !others {
            info!("last member of the cluster: nothing to hand over");
            break;
        }
        // Nobody adopted a membership without this node: every other member
        // is leaving too (e.g. the whole cluster is being stopped).
        if v.is_member(&c.id) && start.elapsed() >= NO_TAKER {
            info!("no member took over within {NO_TAKER:?} (all leaving?): exiting");
            break;
        }
        if start.elapsed() >= limit {
            warn!(
                "graceful leave timed out after {:?}: exiting with slots not handed over",
                limit
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shared.request_shutdown();
}

#[cfg(test)]
mod tests {
    /// Every mutation path of a slot table records the key while tracking.
    #[test]
    fn dirty_tracking_sees_every_write() {
        use crate::store::{Store, StrValue, Value};
        let store = Store::new(1);
        let k = store.key(b"a");
        let slot = k.slot;
        let val = || Value::Str(StrValue::from_bytes(b"v"));
        let dirty = |store: &Store| -> Vec<Vec<u8>> {
            let mut v: Vec<Vec<u8>> = store
                .lock_slot(0, slot, 1)
                .table()
                .take_dirty()
                .into_iter()
                .map(|k| k.to_vec())
                .collect();
            v.sort();
            v
        };
        store.lock(0, &k, 1).set(&k, val(), false, 0);
        assert!(dirty(&store).is_empty(), "not tracking yet");
        store.lock_slot(0, slot, 1).table().track_dirty(true);
        let reads = store.lock(0, &k, 1).get(&k).is_some();
        assert!(reads && dirty(&store).is_empty(), "reads are not writes");
        store.lock(0, &k, 1).get_mut(&k);
        assert_eq!(dirty(&store), vec![b"a".to_vec()]);
        store.lock(0, &k, 1).set_expire(&k, Some(5));
        assert_eq!(dirty(&store), vec![b"a".to_vec()]);
        // Lazy expiry deletes: recorded.
        assert!(store.lock(0, &k, 10).get(&k).is_none());
        assert_eq!(dirty(&store), vec![b"a".to_vec()]);
        let k2 = store.key(b"{a}b");
        store.lock(0, &k2, 10).set(&k2, val(), false, 0);
        store.lock(0, &k2, 10).remove(&k2);
        store.lock(0, &k, 10).set(&k, val(), false, 0);
        assert_eq!(dirty(&store), vec![b"a".to_vec(), b"{a}b".to_vec()]);
        drop(store.lock_slot(0, slot, 10).drop_all());
        assert_eq!(dirty(&store), vec![b"a".to_vec()]);
        store.lock_slot(0, slot, 10).table().track_dirty(false);
        store.lock(0, &k, 10).set(&k, val(), false, 0);
        assert!(dirty(&store).is_empty());
    }
}
