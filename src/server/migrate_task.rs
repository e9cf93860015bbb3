//! The migration task: copies every slot this node migrates to its new
//! owner, group by group (`CLUSTER MIGRATE-BATCH` over the peer pool:
//! `begin`, a snapshot and dirty rounds as `copy`, the flip's `final`; see
//! `cluster/migrate/mod.rs`), retries refused groups and gives up slots a
//! target keeps refusing. The store and slot-state work it does between
//! requests is `cluster/migrate/source.rs`; the step order is
//! `cluster::migrate::plan::Mover`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::warn;

use crate::cluster::migrate::plan::{Mover, Step};
use crate::cluster::migrate::progress::slot_counts;
use crate::cluster::migrate::source::{
    drop_moved_shard_channels, give_up, migrating_by_target, take_orphaned_imports, OutgoingSlots,
};
use crate::cluster::migrate::target::{discard, Phase};
use crate::cluster::Cluster;
use crate::node::Node;

/// Slots per copy group (one write pause and one gate pass per group).
const GROUP: usize = 256;
/// Payload bytes per `MIGRATE-BATCH` request.
const BATCH_BYTES: usize = 1 << 20;
/// Refusals of a live target before the source gives the slots up.
const MAX_REFUSALS: u32 = 100;

/// One group of slots being copied to one target.
struct GroupCopy<'a> {
    shared: &'a Arc<Node>,
    c: &'a Cluster,
    slots: OutgoingSlots<'a>,
    /// The target's RESP address.
    target: SocketAddr,
    epoch: Bytes,
    slot_list: Bytes,
}

impl<'a> GroupCopy<'a> {
    fn new(
        shared: &'a Arc<Node>,
        c: &'a Cluster,
        epoch: &Bytes,
        to: &'a str,
        target: SocketAddr,
        slots: &[u16],
    ) -> Self {
        let list: Vec<String> = slots.iter().map(|s| s.to_string()).collect();
        GroupCopy {
            shared,
            c,
            slots: OutgoingSlots::new(shared, c, to, slots),
            target,
            epoch: epoch.clone(),
            slot_list: Bytes::from(list.join(",")),
        }
    }

    /// Sends one batch.
    async fn send(&self, phase: Phase, payload: &[u8]) -> Result<(), String> {
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
                Ok(())
            }
            Ok(r) => Err(String::from_utf8_lossy(&r).trim_end().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends every key of the slots (tracking changes from now on).
    async fn snapshot(&self) -> Result<usize, String> {
        let mut payload = Vec::new();
        let mut n = 0;
        for &s in self.slots.slots() {
            n += self.slots.snapshot_slot(s, &mut payload);
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

    /// Sends the keys changed since the last round.
    async fn dirty_round(&self) -> Result<usize, String> {
        let (payload, n) = self.slots.dirty_payload();
        if n > 0 {
            self.send(Phase::Copy, &payload).await?;
        }
        Ok(n)
    }

    /// Pauses the slots, drains running commands, sends the last changes.
    async fn flip(&self) -> Result<usize, String> {
        self.slots.pause();
        // Commands decide their route and run under a shared hold of the gate
        // without awaiting in between: one exclusive pass means every command
        // routed here before the pause has finished.
        let sh = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || sh.gate.drain()).await;
        let (payload, n) = self.slots.dirty_payload();
        self.send(Phase::Final, &payload).await?;
        Ok(n)
    }

    /// Runs the state machine until the slots are handed over or a step fails.
    async fn run(&self) -> Result<(), String> {
        let mut m = Mover::default();
        loop {
            let r = match m.step() {
                Step::Begin => self.send(Phase::Begin, b"").await.map(|()| 0),
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

    /// Moves the group; on success frees the local copy. Either way the
    /// slots' states are settled against the newest map.
    async fn move_slots(&self) -> Result<(), String> {
        let result = self.run().await;
        match &result {
            Ok(()) => self.slots.handed_over(),
            Err(_) => self.slots.kept(),
        }
        result
    }
}

/// The migration task: copies migrating slots to their owners, drops imports
/// whose source died, logs the start and end of every rebalance.
pub async fn run_migration(shared: Arc<Node>, c: Arc<Cluster>) {
    let mut stop = shared.shutdown.subscribe();
    let mut active = false;
    let mut refusals: HashMap<u16, u32> = HashMap::new();
    loop {
        drop_moved_shard_channels(&shared, &c);
        let view = c.view();
        take_orphaned_imports(&c, &view);
        let dropped = std::mem::take(&mut *c.dropped.lock());
        if !dropped.is_empty() {
            discard(&shared, &c, &dropped);
        }
        let by_target = migrating_by_target(&view);
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
        // Claim every pending slot at every target first: each target then
        // forwards their requests here even if it guessed another previous
        // owner, before any copy starts (a copy to one target takes a while).
        let mut claimed = Vec::new();
        for (target, mut slots) in by_target {
            let Some((_, addr)) = view.addr_of(&target).filter(|_| view.is_alive(&target)) else {
                continue;
            };
            slots.sort_unstable();
            match GroupCopy::new(&shared, &c, &epoch, &target, addr, &slots)
                .send(Phase::Begin, b"")
                .await
            {
                Ok(()) => {}
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
                let g = GroupCopy::new(&shared, &c, &epoch, target, *addr, chunk);
                if let Err(e) = g.move_slots().await {
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
