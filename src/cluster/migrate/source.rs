//! The source's side of a migration: the task that copies every migrating
//! slot to its new owner ([`run`]: snapshot, dirty rounds, flip, see
//! [`Mover`]), gives up slots it cannot hand over, and the graceful leave
//! of a node that stops ([`leave`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};

use super::plan::{after_flip, Mover, SlotState, Step};
use super::progress::slot_counts;
use super::target::{discard, parse_slots, Phase};
use crate::cluster::{dump, gossip, route, Cluster, View};
use crate::node::Node;
use crate::store::now_ms;

/// Slots per copy group (one write pause and one gate pass per group).
const GROUP: usize = 256;
/// Payload bytes per `MIGRATE-BATCH` request.
const BATCH_BYTES: usize = 1 << 20;
/// A leaving node still in the membership after this long exits: nobody is
/// left to take its slots (the coordinator acts within a gossip round or two).
const NO_TAKER: Duration = Duration::from_secs(5);
/// Refusals of a live target before the source gives the slots up.
const MAX_REFUSALS: u32 = 100;

/// A group of slots moving to one target.
struct Group<'a> {
    shared: &'a Arc<Node>,
    c: &'a Arc<Cluster>,
    /// The target's node id and address.
    to: &'a str,
    target: SocketAddr,
    epoch: Bytes,
    slots: Vec<u16>,
    slot_list: Bytes,
}

impl Group<'_> {
    /// Sends one batch; returns the slots the target refused (`begin` only).
    async fn send(&self, phase: Phase, payload: &[u8]) -> Result<Vec<u16>, String> {
        let args: [&[u8]; 7] = [
            b"CLUSTER",
            b"MIGRATE-BATCH",
            self.c.id.as_bytes(),
            &self.epoch,
            phase.name(),
            &self.slot_list,
            payload,
        ];
        match self
            .c
            .pool
            .request_control(self.shared, self.target, &args)
            .await
        {
            Ok(r) if r.starts_with(b"+OK") => {
                self.c.progress.sent(0, payload.len());
                Ok(Vec::new())
            }
            Ok(r) if r.starts_with(b"+REFUSED ") => {
                Ok(parse_slots(r[9..].trim_ascii_end()).unwrap_or_default())
            }
            Ok(r) => Err(String::from_utf8_lossy(&r).trim_end().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends every key of the slots (tracking changes from now on).
    async fn snapshot(&self) -> Result<usize, String> {
        let now = now_ms();
        let mut payload = Vec::new();
        let mut n = 0;
        for &s in &self.slots {
            {
                let mut l = self.shared.store.lock_slot(0, s, now);
                let t = l.table();
                t.track_dirty(true);
                for e in t.iter().filter(|e| !e.is_expired(now)) {
                    dump::encode_entry(&mut payload, e);
                    n += 1;
                }
            }
            if payload.len() >= BATCH_BYTES {
                self.send(Phase::Copy, &payload).await?;
                payload.clear();
            }
        }
        if !payload.is_empty() {
            self.send(Phase::Copy, &payload).await?;
        }
        self.c.progress.sent(n, 0);
        Ok(n)
    }

    /// Encodes the keys changed since the last call (value or tombstone).
    fn dirty_payload(&self) -> (Vec<u8>, usize) {
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

    async fn dirty_round(&self) -> Result<usize, String> {
        let (payload, n) = self.dirty_payload();
        if n > 0 {
            self.send(Phase::Copy, &payload).await?;
        }
        Ok(n)
    }

    /// Pauses the slots, drains running commands, sends the last changes.
    async fn flip(&self) -> Result<usize, String> {
        self.c.update_states(|_, st| {
            for s in &self.slots {
                if st.get(s) == Some(&SlotState::Migrating) {
                    st.insert(*s, SlotState::Paused);
                }
            }
        });
        // Commands decide their route and run under a shared hold of the gate
        // without awaiting in between: one exclusive pass means every command
        // routed here before the pause has finished.
        let sh = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || sh.gate.drain()).await;
        let (payload, n) = self.dirty_payload();
        self.send(Phase::Final, &payload).await?;
        Ok(n)
    }

    fn stop_tracking(&self) {
        let now = now_ms();
        for &s in &self.slots {
            self.shared
                .store
                .lock_slot(0, s, now)
                .table()
                .track_dirty(false);
        }
    }

    /// Runs the state machine until the slots are handed over or a step fails.
    async fn run(&self) -> Result<(), String> {
        let mut m = Mover::default();
        loop {
            let r = match m.step() {
                Step::Begin => match self.send(Phase::Begin, b"").await {
                    Ok(refused) if refused.is_empty() => Ok(0),
                    Ok(_) => Err("target refused slots".to_string()),
                    Err(e) => Err(e),
                },
                Step::Snapshot => self.snapshot().await,
                Step::Dirty => self.dirty_round().await,
                Step::Flip => self.flip().await,
                Step::Done => return Ok(()),
                Step::Abort => return Err("migration aborted".into()),
            };
            match r {
                Ok(n) => {
                    m.on(Ok(n));
                }
                Err(e) => {
                    m.on(Err(()));
                    return Err(e);
                }
            }
        }
    }
}

/// Moves one group; on success frees the local copy. Either way the slots'
/// states are decided against the newest map ([`after_flip`]): a membership
/// change during the move may have given them to another node or back to
/// this one.
async fn move_group(g: &Group<'_>) -> Result<(), String> {
    let result = g.run().await;
    let settle = |handed: bool| {
        g.c.update_states(|v, st| {
            for s in &g.slots {
                if !handed && st.get(s) != Some(&SlotState::Paused) {
                    continue;
                }
                let me = g.c.id.as_str();
                match after_flip(me, v.map.owner_id(*s), g.to, handed, |id| v.may_hold(id)) {
                    Some(n) => st.insert(*s, n),
                    None => st.remove(s),
                };
            }
        });
        g.c.wake.notify_one();
    };
    match &result {
        Ok(()) => {
            // Emptied while still paused: once settled, the slots may be
            // imported back from the target, and its `begin` must find
            // nothing left to wipe later. Freed after settling (the slow part).
            let now = now_ms();
            let copies: Vec<_> = g
                .slots
                .iter()
                .map(|&s| {
                    let mut l = g.shared.store.lock_slot(0, s, now);
                    l.table().track_dirty(false);
                    l.table().take_all()
                })
                .collect();
            settle(true);
            drop_moved_shard_channels(g.shared, g.c);
            drop(copies);
            g.c.progress.handed(g.slots.len());
        }
        Err(_) => {
            g.stop_tracking();
            settle(false);
        }
    }
    result
}

/// Drops the shard-channel subscriptions whose slot this node no longer
/// serves (Redis Cluster sends their subscribers `sunsubscribe`, so they
/// subscribe again at the new owner, where SPUBLISH now goes).
fn drop_moved_shard_channels(shared: &Node, c: &Cluster) {
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
fn give_up(shared: &Node, c: &Cluster, slots: &[u16]) {
    c.update_states(|_, st| {
        for s in slots {
            st.insert(*s, SlotState::Moved);
        }
    });
    let now = now_ms();
    for &s in slots {
        let mut l = shared.store.lock_slot(0, s, now);
        l.table().track_dirty(false);
        let dropped = l.table().take_all();
        drop(l);
        drop(dropped);
    }
}

/// The migration task: copies migrating slots to their owners, drops imports
/// whose source died, logs the start and end of every rebalance.
pub async fn run(shared: Arc<Node>, c: Arc<Cluster>) {
    let mut stop = shared.shutdown.subscribe();
    let mut active = false;
    let mut refusals: HashMap<u16, u32> = HashMap::new();
    loop {
        drop_moved_shard_channels(&shared, &c);
        let view = c.view();
        // A source that died mid-copy (not alive, dropped from the membership):
        // take its slots (missing keys are cache misses).
        let orphaned: Vec<(u16, String)> = view
            .states
            .iter()
            .filter_map(|(s, st)| match st {
                SlotState::Importing(src) if !view.is_alive(src) && !view.is_member(src) => {
                    Some((*s, src.clone()))
                }
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
        let dropped = std::mem::take(&mut *c.dropped.lock());
        if !dropped.is_empty() {
            discard(&shared, &c, &dropped);
        }
        let mut by_target: BTreeMap<String, Vec<u16>> = BTreeMap::new();
        for (s, st) in view.states.iter() {
            if *st == SlotState::Migrating {
                if let Some(owner) = view.map.owner_id(*s) {
                    by_target.entry(owner.to_string()).or_default().push(*s);
                }
            }
        }
        let (pending, importing) = slot_counts(&c);
        if pending + importing > 0 && !active {
            active = true;
            c.progress.start(view.membership.epoch, pending, importing);
        } else if pending + importing == 0 && active {
            active = false;
            c.progress.finish();
        }
        let mut failed = false;
        let epoch = Bytes::from(view.membership.epoch.to_string());
        fn group<'a>(
            shared: &'a Arc<Node>,
            c: &'a Arc<Cluster>,
            epoch: &Bytes,
            to: &'a str,
            target: SocketAddr,
            chunk: &[u16],
        ) -> Group<'a> {
            let list: Vec<String> = chunk.iter().map(|s| s.to_string()).collect();
            Group {
                shared,
                c,
                to,
                target,
                epoch: epoch.clone(),
                slots: chunk.to_vec(),
                slot_list: Bytes::from(list.join(",")),
            }
        }
        // Claim every pending slot at every target first: each target then
        // forwards their requests here even if it guessed another previous
        // owner, before any copy starts (a copy to one target takes a while).
        let mut claimed = Vec::new();
        for (target, mut slots) in by_target {
            let Some((_, addr)) = view.addr_of(&target).filter(|_| view.is_alive(&target)) else {
                continue;
            };
            slots.sort_unstable();
            match group(&shared, &c, &epoch, &target, addr, &slots)
                .send(Phase::Begin, b"")
                .await
            {
                Ok(refused) if refused.is_empty() => {}
                Ok(refused) => {
                    warn!(target = %target, slots = refused.len(), "the target already owns slots this node still held (it took them while this node was thought down): dropping the local copies");
                    give_up(&shared, &c, &refused);
                    slots.retain(|s| !refused.contains(s));
                }
                Err(e) => {
                    failed = true;
                    if !e.starts_with("-TRYAGAIN") {
                        warn!(target = %target, slots = slots.len(), "migration target refused the slots (will retry): {e}");
                    }
                    continue;
                }
            }
            claimed.push((target, addr, slots));
        }
        'targets: for (target, addr, slots) in &claimed {
            for chunk in slots.chunks(GROUP) {
                let g = group(&shared, &c, &epoch, target, *addr, chunk);
                if let Err(e) = move_group(&g).await {
                    failed = true;
                    let n = chunk
                        .iter()
                        .map(|s| {
                            let r = refusals.entry(*s).or_default();
                            *r += 1;
                            *r
                        })
                        .max()
                        .unwrap_or(0);
                    if n == 1 || n % 20 == 0 {
                        warn!(target = %target, slots = chunk.len(), "slot migration attempt failed (will retry): {e}");
                    }
                    if n >= MAX_REFUSALS {
                        warn!(target = %target, slots = chunk.len(), "giving slots up after {n} failed attempts: their keys are dropped");
                        give_up(&shared, &c, chunk);
                        for s in chunk {
                            refusals.remove(s);
                        }
                    }
                    break;
                }
                for s in chunk {
                    refusals.remove(s);
                }
                // A newer membership may have changed the plan.
                if !Arc::ptr_eq(&c.view().map, &view.map) {
                    break 'targets;
                }
            }
        }
        let pause = if failed {
            Duration::from_millis(100)
        } else if active {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(500)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = c.wake.notified() => {}
            _ = stop.changed() => break,
        }
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
        drop(store.lock_slot(0, slot, 10).table().take_all());
        assert_eq!(dirty(&store), vec![b"a".to_vec()]);
        store.lock_slot(0, slot, 10).table().track_dirty(false);
        store.lock(0, &k, 10).set(&k, val(), false, 0);
        assert!(dirty(&store).is_empty());
    }
}
