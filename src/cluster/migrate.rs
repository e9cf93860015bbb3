//! Live slot migration: when the agreed membership changes, every slot whose
//! owner changed is copied from the node holding its data (the *source*) to
//! its new owner (the *target*) while both keep serving it, then ownership
//! flips after a write pause of milliseconds. See docs/CLUSTER.md
//! ("Rebalancing") for the protocol; in short:
//!
//! 1. [`transition`] (pure) turns a slot-map change into per-slot states: the
//!    source marks a slot [`SlotState::Migrating`] (serves it locally), the
//!    target [`SlotState::Importing`] (forwards its requests to the source).
//! 2. The source's migration task ([`run`]) copies groups of slots: turns on
//!    exact dirty-key tracking in the slot tables, sends every key
//!    (`CLUSTER MIGRATE-BATCH ... copy`), then re-sends changed keys in rounds
//!    ([`Mover`] decides when to flip).
//! 3. Flip: the source marks the group [`SlotState::Paused`] (requests wait),
//!    waits for running commands to finish (one pass over the exclusive gate),
//!    sends the last changed keys (`final`); the target applies them and owns
//!    the slots; the source marks them [`SlotState::Moved`] (forwards even
//!    proxied requests to the owner) and deletes its copy.
//!
//! A target refusing a batch (it has not adopted the membership yet) is
//! retried; a target or source that dies mid-copy is logged and the survivor
//! keeps or takes the slot (missing keys are cache misses). A membership
//! change during a move re-plans from the current states; a flip racing it
//! is made safe by the target's check after applying a batch and by
//! [`after_flip`] on the source (docs/CLUSTER.md, "Overlapping changes").

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};

use super::dump;
use super::{Cluster, View};
use crate::error::CmdError;
use crate::node::Node;
use crate::store::now_ms;

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
    /// until the next membership change.
    Dropped(String),
}

/// Slots per copy group (one write pause and one gate pass per group).
const GROUP: usize = 256;
/// Payload bytes per `MIGRATE-BATCH` request.
const BATCH_BYTES: usize = 1 << 20;
/// Dirty rounds stop when fewer keys than this changed in the last round.
const FLIP_AT: usize = 256;
/// Most dirty rounds before flipping anyway.
const MAX_ROUNDS: u32 = 4;
/// A leaving node still in the membership after this long exits: nobody is
/// left to take its slots (the coordinator acts within a gossip round or two).
const NO_TAKER: Duration = Duration::from_secs(5);
/// Refusals of a live target before the source gives the slots up.
const MAX_REFUSALS: u32 = 100;

/// Computes the slot states after the slot map changed from `old` to `new`
/// (owner ids per slot). Pure: unit-tested without sockets.
///
/// - This node holds a slot's data when it owned it (and was not importing
///   it) or was migrating it. If the new owner is someone else, it migrates
///   the slot to them; if it is this node again, it simply owns it.
/// - A slot gained from a live node is imported from that node; one gained
///   from a dead node (or nobody) is owned at once, empty.
/// - `Moved` stays (proxied requests keep following the map); an import whose
///   slot went to a third node is dropped (the source migrates it there; a
///   flip to this node that races the change is refused by [`apply_batch`])
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
                } else if let Some(SlotState::Importing(src) | SlotState::Dropped(src)) = st {
                    alive(src).then(|| SlotState::Importing(src.clone()))
                } else {
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

/// Rebalance counters of this node (as a source, and keys received as a target).
#[derive(Debug, Default)]
pub struct Progress {
    /// Unix ms the current rebalance started (0: idle).
    started_ms: AtomicU64,
    /// Slots handed over in the current (or last) rebalance.
    slots_done: AtomicU64,
    /// Keys sent (snapshot and dirty rounds).
    keys: AtomicU64,
    /// Payload bytes sent.
    bytes: AtomicU64,
    /// Keys received from sources.
    keys_in: AtomicU64,
    /// Rebalances completed since start.
    completed: AtomicU64,
}

impl Progress {
    fn add(&self, keys: usize, bytes: usize) {
        self.keys.fetch_add(keys as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Counts of this node's slots by state: (migrating incl. paused, importing).
fn counts(c: &Cluster) -> (usize, usize) {
    let v = c.view();
    let mig = v
        .states
        .values()
        .filter(|s| matches!(s, SlotState::Migrating | SlotState::Paused))
        .count();
    let imp = v
        .states
        .values()
        .filter(|s| matches!(s, SlotState::Importing(_)))
        .count();
    (mig, imp)
}

/// `name:value` lines for INFO cluster and CLUSTER REBALANCE-STATUS.
pub fn status(c: &Cluster) -> String {
    let p = &c.progress;
    let (pending, importing) = counts(c);
    let started = p.started_ms.load(Ordering::Relaxed);
    let done = p.slots_done.load(Ordering::Relaxed);
    let keys = p.keys.load(Ordering::Relaxed);
    let secs = if started == 0 {
        0.0
    } else {
        now_ms().saturating_sub(started) as f64 / 1000.0
    };
    let rate = if secs > 0.0 { keys as f64 / secs } else { 0.0 };
    let eta = if pending == 0 {
        0
    } else if done == 0 {
        -1
    } else {
        (secs / done as f64 * pending as f64).ceil() as i64
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "rebalance_in_progress:{}\r\nrebalance_slots_pending:{pending}\r\nrebalance_slots_importing:{importing}\r\nrebalance_slots_done:{done}\r\nrebalance_keys_moved:{keys}\r\nrebalance_bytes_moved:{}\r\nrebalance_keys_received:{}\r\nrebalance_keys_per_sec:{:.0}\r\nrebalance_eta_seconds:{eta}\r\nrebalance_completed:{}\r\ncluster_leaving:{}\r\n",
        u8::from(pending + importing > 0),
        p.bytes.load(Ordering::Relaxed),
        p.keys_in.load(Ordering::Relaxed),
        rate,
        p.completed.load(Ordering::Relaxed),
        u8::from(c.leaving.load(Ordering::Relaxed)),
    );
    out
}

/// Encoding limits of this node's configuration.
fn limits(shared: &Node) -> dump::Limits {
    let c = shared.config.read();
    dump::Limits {
        hash: crate::store::hash::HashLimits {
            entries: c.hash_max_listpack_entries as usize,
            value: c.hash_max_listpack_value as usize,
        },
        zset: crate::store::zset::Limits {
            entries: c.zset_max_listpack_entries as usize,
            value: c.zset_max_listpack_value as usize,
        },
        max_intset: c.set_max_intset_entries as usize,
    }
}

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
    fn name(self) -> &'static [u8] {
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
/// Returns the slots refused by a `begin`: slots this node owns outright
/// (it took them while the source was thought dead, and may have served
/// writes since), which the source must give up.
pub fn apply_batch(
    shared: &Node,
    c: &Cluster,
    src: &str,
    epoch: u64,
    phase: Phase,
    slots: &[u16],
    payload: &[u8],
) -> Result<Vec<u16>, CmdError> {
    let view = c.view();
    if view.membership.epoch < epoch {
        return Err(CmdError::Other(format!(
            "TRYAGAIN membership epoch {} is older than the source's {epoch}",
            view.membership.epoch
        )));
    }
    let from = SlotState::Importing(src.to_string());
    let mut adopt = Vec::new();
    let mut refused = Vec::new();
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
            _ if phase == Phase::Begin && view.map.owner_id(s) == Some(c.id.as_str()) => {
                refused.push(s)
            }
            _ => {
                return Err(CmdError::err(format!(
                    "slot {s} is not being imported from {src}"
                )))
            }
        }
    }
    if !adopt.is_empty() {
        c.update_states(|_, st| {
            for s in &adopt {
                if matches!(st.get(s), Some(SlotState::Importing(_))) {
                    st.insert(*s, from.clone());
                }
            }
        });
    }
    let now = now_ms();
    if phase == Phase::Begin {
        for &s in slots.iter().filter(|s| !refused.contains(s)) {
            drop(shared.store.lock_slot(0, s, now).drop_all());
        }
        return Ok(refused);
    }
    let lim = limits(shared);
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
    c.progress.keys_in.fetch_add(n, Ordering::Relaxed);
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
    Ok(Vec::new())
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
                self.c.progress.add(0, payload.len());
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
        self.c.progress.add(n, 0);
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
        self.c.progress.add(n, 0);
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
                    l.drop_all()
                })
                .collect();
            settle(true);
            drop_moved_shard_channels(g.shared, g.c);
            drop(copies);
            g.c.progress
                .slots_done
                .fetch_add(g.slots.len() as u64, Ordering::Relaxed);
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
            super::route::slot_route(&view, slot, false),
            super::route::SlotRoute::Remote(..)
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
        let dropped = l.drop_all();
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
        let (pending, importing) = counts(&c);
        if pending + importing > 0 && !active {
            active = true;
            let p = &c.progress;
            p.started_ms.store(now_ms(), Ordering::Relaxed);
            for a in [&p.slots_done, &p.keys, &p.bytes, &p.keys_in] {
                a.store(0, Ordering::Relaxed);
            }
            info!(
                epoch = view.membership.epoch,
                slots_out = pending,
                slots_in = importing,
                "rebalance started"
            );
        } else if pending + importing == 0 && active {
            active = false;
            let p = &c.progress;
            p.completed.fetch_add(1, Ordering::Relaxed);
            info!(
                slots_out = p.slots_done.load(Ordering::Relaxed),
                keys_out = p.keys.load(Ordering::Relaxed),
                bytes_out = p.bytes.load(Ordering::Relaxed),
                keys_in = p.keys_in.load(Ordering::Relaxed),
                secs =
                    now_ms().saturating_sub(p.started_ms.load(Ordering::Relaxed)) as f64 / 1000.0,
                "rebalance finished"
            );
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
            tokio::time::sleep(super::gossip::GOSSIP_INTERVAL * 3).await;
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
        // ...until the next change (or the slot comes back: import from a).
        assert_eq!(transition(N, &new, &new, &st, all).get(&2), None);
        let back = transition(N, &new, &old, &st, all);
        assert_eq!(back.get(&2), Some(&Importing(A.into())));
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

    #[test]
    fn phases_and_slot_lists() {
        assert_eq!(Phase::parse(b"FINAL"), Some(Phase::Final));
        assert_eq!(Phase::parse(b"x"), None);
        assert_eq!(parse_slots(b"1,2,16383"), Some(vec![1, 2, 16383]));
        assert_eq!(parse_slots(b"16384"), None);
        assert_eq!(parse_slots(b"1,,2"), None);
    }
}
