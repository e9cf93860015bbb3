//! Raft-agreed ring membership: a sans-I/O core around tikv's `raft`
//! [`RawNode`]. The caller feeds time ([`Core::tick`]), peer messages
//! ([`Core::step`]) and gossip observations ([`Core::observe`]), then takes the
//! output ([`Core::take_output`]): state to persist first, messages to send
//! after. The shell is `raft_agreement.rs` (driven by `server/raft_task.rs`);
//! the simulation tests drive the same core over a seeded in-memory network.
//!
//! Replicated state: one [`Membership`]. Every committed [`Proposal`] that
//! changes the member set or a weight bumps the epoch by one, so an epoch names
//! exactly one membership on every node.
//!
//! Rules the leader applies (one change in flight at a time):
//!
//! - ring members: alive gossip peers of this group (or not yet in any group)
//!   are added; members that CLUSTER FORGET named, that announce `leaving`, or
//!   that the failure detector has reported dead for longer than
//!   `cluster-node-timeout` (so about twice the timeout after they went
//!   silent) are removed. The leader never removes itself; when it is leaving
//!   it hands leadership to another voter first.
//! - raft configuration: every ring member is a learner or a voter, nothing
//!   else is. Voters are kept at the largest odd number ≤ min(5, alive
//!   members) (an even count tolerates no more failures than one less); a dead
//!   voter is replaced by promoting an alive learner.
//!
//! Groups: a node started without `--join` bootstraps a one-voter group (named
//! by its start time and id). A node that sees an alive peer of an *older*
//! group (lower name) drops its own raft state and waits, blank, until that
//! group's leader adds it, so two clusters joined by CLUSTER MEET merge into the
//! older one. A node started with `--join` never forms a group: it waits,
//! blank (its key commands refused, see below), until a group adds it, so
//! an unreachable seed cannot split the cluster; a node started without
//! `--join` that left its group for an older one forms a group of its own
//! again when it hears of no group for [`JOIN_GRACE_MS`]. A node whose data
//! directory holds raft state restarts into its group either way.
//!
//! Availability: [`Core::has_quorum`] is false once no leader has been heard
//! for longer than the node timeout (a minority side, checked by the
//! simulation tests); what decides whether a node serves keys is the
//! majority lease (`lease.rs`), whose voters are [`Core::voters`].

use std::collections::{BTreeMap, BTreeSet};

use raft::prelude::{ConfChange, ConfChangeType, Config, EntryType, Message, MessageType};
use raft::{RawNode, StateRole};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::membership::{Membership, Observation};
use super::raft_store::{FileState, RaftStorage, SnapData};

/// Interval between raft ticks.
pub const TICK_MS: u64 = 100;
/// How long a node started without seeds that left its group waits for
/// another group before forming its own again.
pub const JOIN_GRACE_MS: u64 = 5000;
/// `bootstrap_at` of a node that never forms a group (started with seeds).
const NEVER: u64 = u64::MAX;
/// Most voters in a group.
pub const MAX_VOTERS: usize = 5;

/// A committed membership change: the complete member set and who proposed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Member id → weight.
    pub members: BTreeMap<String, u32>,
    /// Proposing leader.
    pub by: String,
}

/// This node's place in the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Current leader.
    Leader,
    /// Voting member.
    Voter,
    /// Non-voting member (receives the log).
    Learner,
    /// Not in any raft configuration (blank or removed).
    None,
}

impl Role {
    /// Name shown in CLUSTER INFO.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Voter => "voter",
            Role::Learner => "learner",
            Role::None => "none",
        }
    }
}

/// Snapshot of the core's state for CLUSTER INFO and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This node's role.
    pub role: Role,
    /// Raft term.
    pub term: u64,
    /// Current leader's node id, when known.
    pub leader: Option<String>,
    /// Number of voters.
    pub voters: usize,
    /// Number of learners.
    pub learners: usize,
    /// Group name ("" while blank).
    pub group: String,
}

/// What the shell must do after a call: persist first, then send.
#[derive(Debug, Default)]
pub struct Output {
    /// New on-disk state, when it changed.
    pub persist: Option<FileState>,
    /// The sender's group, sent along with the messages.
    pub group: String,
    /// Messages with the destination's node id.
    pub messages: Vec<(String, Message)>,
}

/// Raft id of a node id: its first 16 hex digits (never 0).
pub fn raft_id(id: &str) -> u64 {
    id.get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(1)
        .max(1)
}

fn config(id: u64, applied: u64) -> Config {
    Config {
        id,
        election_tick: 10,
        heartbeat_tick: 2,
        applied,
        check_quorum: true,
        pre_vote: true,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 64,
        ..Config::default()
    }
}

/// Forwards raft-rs' log records to `tracing` (warnings as warnings, the
/// rest at debug/trace level).
struct TracingDrain;

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, r: &slog::Record<'_>, _: &slog::OwnedKVList) -> Result<(), slog::Never> {
        match r.level() {
            slog::Level::Critical | slog::Level::Error | slog::Level::Warning => {
                warn!(target: "raft", "{}", r.msg())
            }
            slog::Level::Info => tracing::debug!(target: "raft", "{}", r.msg()),
            _ => tracing::trace!(target: "raft", "{}", r.msg()),
        }
        Ok(())
    }
}

fn logger() -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!())
}

/// The consensus core of one node (see the module documentation).
pub struct Core {
    me: String,
    rid: u64,
    weight: u32,
    raw: RawNode<RaftStorage>,
    node_timeout: u64,
    now: u64,
    last_leader: u64,
    bootstrap_at: u64,
    /// Started with `--join` seeds: never forms a group of its own.
    joins: bool,
    obs: Observation,
    dead_since: BTreeMap<String, u64>,
    /// Snapshots sent (peer raft id → when), to retry lost ones.
    snap_sent: BTreeMap<u64, u64>,
    out: Vec<Message>,
    dirty: bool,
    /// Membership of the applied state, tracked to log changes.
    applied: Membership,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("me", &self.me)
            .field("status", &self.status())
            .finish()
    }
}

/// Errors building a core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// raft refused the configuration or the stored state.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
}

impl Core {
    /// A core for node `me` from its persisted (or blank) store.
    /// `seeds` tells whether the node was told whom to join: without seeds a
    /// blank node forms its own group at once, with seeds it waits for a
    /// peer's group however long it takes.
    pub fn new(
        me: &str,
        weight: u32,
        store: RaftStorage,
        seeds: bool,
        node_timeout: u64,
        now: u64,
    ) -> Result<Core, CoreError> {
        let rid = raft_id(me);
        let applied_ms = store.state().membership.clone();
        let raw = RawNode::new(&config(rid, store.applied()), store, &logger())?;
        let mut core = Core {
            me: me.to_string(),
            rid,
            weight,
            raw,
            node_timeout,
            now,
            last_leader: now,
            bootstrap_at: if seeds { NEVER } else { now },
            joins: seeds,
            obs: Observation::default(),
            dead_since: BTreeMap::new(),
            snap_sent: BTreeMap::new(),
            out: Vec::new(),
            dirty: false,
            applied: applied_ms,
        };
        core.maybe_bootstrap();
        Ok(core)
    }

    /// The applied membership.
    pub fn membership(&self) -> &Membership {
        &self.raw.store().state().membership
    }

    /// The group this node belongs to ("" while blank).
    pub fn group(&self) -> &str {
        &self.raw.store().state().group
    }

    /// Sets the node timeout (ms): `CONFIG SET cluster-node-timeout` applies
    /// to the removal rule and [`Core::has_quorum`] from the next call on.
    pub fn set_node_timeout(&mut self, ms: u64) {
        self.node_timeout = ms;
    }

    /// True while a leader was heard within the node timeout.
    pub fn has_quorum(&self) -> bool {
        !self.group().is_empty() && self.now.saturating_sub(self.last_leader) <= self.node_timeout
    }

    /// The node ids of the raft voters (a voter whose id is not known here
    /// is named by its raft id, so it still counts in a majority).
    pub fn voters(&self) -> Vec<String> {
        self.configuration().0
    }

    /// The raft configuration's node ids: voters, then learners.
    pub fn configuration(&self) -> (Vec<String>, Vec<String>) {
        let cs = self.raw.raft.prs().conf().to_conf_state();
        let names = |ids: &[u64]| -> Vec<String> {
            ids.iter()
                .map(|&r| self.name_of(r).unwrap_or_else(|| format!("raft:{r:016x}")))
                .collect()
        };
        (names(&cs.voters), names(&cs.learners))
    }

    /// Role, term, leader and configuration size.
    pub fn status(&self) -> Status {
        let cs = self.raw.raft.prs().conf().to_conf_state();
        let role = if self.raw.raft.state == StateRole::Leader {
            Role::Leader
        } else if cs.voters.contains(&self.rid) {
            Role::Voter
        } else if cs.learners.contains(&self.rid) {
            Role::Learner
        } else {
            Role::None
        };
        let leader = match self.raw.raft.leader_id {
            0 => None,
            l => self.name_of(l),
        };
        Status {
            role,
            term: self.raw.raft.term,
            leader,
            voters: cs.voters.len(),
            learners: cs.learners.len(),
            group: self.group().to_string(),
        }
    }

    fn name_of(&self, rid: u64) -> Option<String> {
        if rid == self.rid {
            return Some(self.me.clone());
        }
        self.membership()
            .members
            .keys()
            .chain(self.obs.alive.keys())
            .find(|id| raft_id(id) == rid)
            .cloned()
    }

    /// Advances time to `now` (ms) and ticks raft once per [`TICK_MS`] passed
    /// since the last call; the leader then proposes the changes it sees.
    pub fn tick(&mut self, now: u64, ticks: u32) {
        self.now = now;
        for _ in 0..ticks {
            self.raw.tick();
        }
        if self.raw.raft.state == StateRole::Leader {
            self.last_leader = now;
            self.retry_snapshots();
            self.lead();
        }
        self.maybe_bootstrap();
        self.drive();
    }

    /// Feeds one message from a peer of `group`. Messages between two
    /// different groups are dropped; a blank node ("" group) talks to any
    /// group (the one adding it).
    pub fn step(&mut self, group: &str, m: Message) {
        if !group.is_empty() && !self.group().is_empty() && group != self.group() {
            return;
        }
        let from_leader = m.from != 0
            && m.from == self.raw.raft.leader_id
            && matches!(
                m.get_msg_type(),
                MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
            );
        let snapshot_to_blank = m.get_msg_type() == MessageType::MsgSnapshot;
        if let Err(e) = self.raw.step(m) {
            warn!("raft: dropped a message: {e}");
        }
        if from_leader || (snapshot_to_blank && self.raw.raft.leader_id != 0) {
            self.last_leader = self.now;
        }
        self.drive();
    }

    /// Feeds the current gossip view (alive peers, groups, forget/leaving).
    pub fn observe(&mut self, obs: Observation, now: u64) {
        self.now = now;
        let members = self.membership().members.clone();
        for id in members.keys() {
            if obs.alive.contains_key(id) {
                self.dead_since.remove(id);
            } else {
                self.dead_since.entry(id.clone()).or_insert(now);
            }
        }
        self.dead_since.retain(|id, _| members.contains_key(id));
        self.obs = obs;
        let mine = self.group().to_string();
        let older = self
            .obs
            .groups
            .iter()
            .filter(|(id, g)| **id != self.me && self.obs.alive.contains_key(*id) && !g.is_empty())
            .map(|(id, g)| (g.clone(), id.clone()))
            .min();
        match older {
            Some((g, peer)) if !mine.is_empty() && g < mine => {
                info!(group = %g, peer = %peer, "found an older cluster group: leaving mine to join it");
                self.reset();
            }
            Some(_) if mine.is_empty() => self.bootstrap_at = self.grace_end(now),
            _ => {}
        }
        self.maybe_bootstrap();
        self.drive();
    }

    /// Takes what must be persisted and sent.
    pub fn take_output(&mut self) -> Output {
        let persist = std::mem::take(&mut self.dirty).then(|| self.raw.store().to_file());
        let now = self.now;
        for m in &self.out {
            if m.get_msg_type() == MessageType::MsgSnapshot {
                self.snap_sent.insert(m.to, now);
            }
        }
        let messages = std::mem::take(&mut self.out)
            .into_iter()
            .filter_map(|m| self.name_of(m.to).map(|to| (to, m)))
            .collect();
        Output {
            persist,
            group: self.group().to_string(),
            messages,
        }
    }

    fn rebuild(&mut self, store: RaftStorage) {
        let applied = store.applied();
        match RawNode::new(&config(self.rid, applied), store, &logger()) {
            Ok(raw) => {
                self.raw = raw;
                self.dirty = true;
                self.out.clear();
            }
            Err(e) => warn!("raft: cannot rebuild the node: {e}"),
        }
    }

    /// Drops this node's raft state: it waits to be added to another group.
    fn reset(&mut self) {
        // Keep serving the last membership until the new group's arrives.
        let mut state = self.raw.store().state().clone();
        state.group.clear();
        self.rebuild(RaftStorage::blank(state));
        self.bootstrap_at = self.grace_end(self.now);
    }

    /// When a blank node forms its own group if no group adds it first:
    /// never for a node started with seeds.
    fn grace_end(&self, now: u64) -> u64 {
        if self.joins {
            NEVER
        } else {
            now + JOIN_GRACE_MS
        }
    }

    fn maybe_bootstrap(&mut self) {
        if !self.group().is_empty() || self.now < self.bootstrap_at {
            return;
        }
        let prior = self.membership().clone();
        let state = SnapData {
            group: format!("{:016x}-{}", self.now, self.me),
            // A new group: nothing held before it.
            membership: Membership {
                epoch: prior.epoch,
                ..Membership::default()
            }
            .next([(self.me.clone(), self.weight)].into(), self.me.clone()),
        };
        info!(group = %state.group, epoch = state.membership.epoch, "formed a new cluster group");
        self.rebuild(RaftStorage::bootstrap(self.rid, state));
        if let Err(e) = self.raw.campaign() {
            warn!("raft: campaign: {e}");
        }
        self.drive();
    }

    /// The member set the leader wants (see the module rules).
    fn desired(&self) -> BTreeMap<String, u32> {
        let mine = self.group();
        let dead_long = |id: &String| {
            self.dead_since
                .get(id)
                .is_some_and(|t| self.now.saturating_sub(*t) > self.node_timeout)
        };
        let excluded =
            |id: &String| self.obs.forgotten.contains(id) || self.obs.leaving.contains(id);
        let mut d: BTreeMap<String, u32> = self
            .membership()
            .members
            .iter()
            .filter(|(id, _)| **id == self.me || !(excluded(id) || dead_long(id)))
            .map(|(id, w)| (id.clone(), self.obs.alive.get(id).copied().unwrap_or(*w)))
            .collect();
        for (id, w) in &self.obs.alive {
            let group = self.obs.groups.get(id).map(String::as_str).unwrap_or("");
            if !excluded(id) && (group.is_empty() || group == mine) {
                d.insert(id.clone(), *w);
            }
        }
        d.insert(
            self.me.clone(),
            self.obs.alive.get(&self.me).copied().unwrap_or(self.weight),
        );
        d
    }

    /// Leader duties: at most one membership or configuration change in flight.
    fn lead(&mut self) {
        let log = &self.raw.raft.raft_log;
        if log.applied < log.last_index() || self.raw.raft.has_pending_conf() {
            return;
        }
        if self.obs.leaving.contains(&self.me) && self.hand_over() {
            return;
        }
        let desired = self.desired();
        if desired != self.membership().members {
            let p = Proposal {
                members: desired,
                by: self.me.clone(),
            };
            match serde_json::to_vec(&p) {
                Ok(data) => {
                    if let Err(e) = self.raw.propose(Vec::new(), data) {
                        warn!("raft: proposal refused: {e}");
                    }
                }
                Err(e) => warn!("raft: cannot encode a proposal: {e}"),
            }
            return;
        }
        if let Some((ty, node)) = self.next_conf_change() {
            let mut cc = ConfChange::default();
            cc.set_change_type(ty);
            cc.node_id = node;
            info!(change = ?ty, node = %self.name_of(node).unwrap_or_default(), "raft configuration change");
            if let Err(e) = self.raw.propose_conf_change(Vec::new(), cc) {
                warn!("raft: configuration change refused: {e}");
            }
        }
    }

    /// The next single-step configuration change, if any.
    fn next_conf_change(&self) -> Option<(ConfChangeType, u64)> {
        let cs = self.raw.raft.prs().conf().to_conf_state();
        let voters: BTreeSet<u64> = cs.voters.iter().copied().collect();
        let learners: BTreeSet<u64> = cs.learners.iter().copied().collect();
        let members: BTreeSet<u64> = self
            .membership()
            .members
            .keys()
            .map(|id| raft_id(id))
            .collect();
        let alive: BTreeSet<u64> = self
            .obs
            .alive
            .keys()
            .filter(|id| !self.obs.leaving.contains(*id))
            .map(|id| raft_id(id))
            .collect();
        // A node that left the membership but is still up (leaving, or
        // forgotten while alive) stays in the configuration until it has
        // committed everything applied here, the membership without it
        // included: once removed it gets no more messages, and a node that
        // never learns it left keeps its slots (the others import them
        // from it forever). A silent one is dropped at once.
        let applied = self.raw.store().applied();
        let told = |r: u64| {
            let up = self.obs.alive.keys().any(|id| raft_id(id) == r);
            !up || self
                .raw
                .raft
                .prs()
                .get(r)
                .is_some_and(|p| p.committed_index >= applied)
        };
        if let Some(&gone) = voters
            .iter()
            .chain(&learners)
            .find(|r| !members.contains(r) && **r != self.rid && told(**r))
        {
            return Some((ConfChangeType::RemoveNode, gone));
        }
        if let Some(&new) = members
            .iter()
            .find(|r| !voters.contains(r) && !learners.contains(r))
        {
            return Some((ConfChangeType::AddLearnerNode, new));
        }
        let alive_members = members.iter().filter(|r| alive.contains(r)).count();
        let target = match alive_members.min(MAX_VOTERS) {
            0 => 1,
            n if n % 2 == 0 => n - 1,
            n => n,
        };
        let dead_voter = voters.iter().copied().find(|r| !alive.contains(r));
        // Promote only a learner that has caught up with the applied state.
        let alive_learner = learners.iter().copied().find(|r| {
            alive.contains(r)
                && self
                    .raw
                    .raft
                    .prs()
                    .get(*r)
                    .is_some_and(|p| p.matched >= applied)
        });
        match (dead_voter, alive_learner) {
            (Some(dead), Some(l)) => Some(if voters.len() < MAX_VOTERS {
                (ConfChangeType::AddNode, l)
            } else {
                (ConfChangeType::RemoveNode, dead)
            }),
            (_, Some(l)) if voters.len() < target => Some((ConfChangeType::AddNode, l)),
            _ if voters.len() > MAX_VOTERS => voters
                .iter()
                .copied()
                .find(|r| *r != self.rid)
                .map(|r| (ConfChangeType::RemoveNode, r)),
            _ => None,
        }
    }

    /// A snapshot message can be lost like any other; raft waits for a report
    /// before it sends another, so one unanswered for a second is reported
    /// failed.
    fn retry_snapshots(&mut self) {
        let now = self.now;
        let mut failed = Vec::new();
        self.snap_sent.retain(|to, at| {
            if now.saturating_sub(*at) < 1000 {
                return true;
            }
            failed.push(*to);
            false
        });
        for to in failed {
            let waiting = self
                .raw
                .raft
                .prs()
                .get(to)
                .is_some_and(|p| p.state == raft::ProgressState::Snapshot);
            if waiting {
                self.raw.report_snapshot(to, raft::SnapshotStatus::Failure);
            }
        }
    }

    /// A leaving leader passes leadership to an alive voter that is not
    /// leaving; false when there is none (it keeps leading, so the group can
    /// still promote a learner).
    fn hand_over(&mut self) -> bool {
        let cs = self.raw.raft.prs().conf().to_conf_state();
        let staying: BTreeSet<u64> = self
            .obs
            .alive
            .keys()
            .filter(|id| !self.obs.leaving.contains(*id))
            .map(|id| raft_id(id))
            .collect();
        match cs
            .voters
            .iter()
            .find(|r| **r != self.rid && staying.contains(r))
        {
            Some(&to) => {
                self.raw.transfer_leader(to);
                true
            }
            None => false,
        }
    }

    /// Runs raft's ready loop: persist, collect messages, apply.
    fn drive(&mut self) {
        for _ in 0..16 {
            if !self.raw.has_ready() {
                break;
            }
            let mut rd = self.raw.ready();
            self.out.extend(rd.take_messages());
            if !rd.snapshot().is_empty() {
                let snap = rd.snapshot().clone();
                let state = match serde_json::from_slice::<SnapData>(&snap.data) {
                    Ok(s) => s,
                    Err(e) => {
                        warn!("raft: undecodable snapshot from the leader: {e}");
                        self.raw.store().state().clone()
                    }
                };
                self.raw.mut_store().apply_snapshot(&snap, state);
                self.dirty = true;
            }
            if !rd.entries().is_empty() {
                self.raw.mut_store().append(rd.entries());
                self.dirty = true;
            }
            if let Some(hs) = rd.hs() {
                self.raw.mut_store().set_hard_state(hs.clone());
                self.dirty = true;
            }
            self.out.extend(rd.take_persisted_messages());
            let committed = rd.take_committed_entries();
            let mut state = self.raw.store().state().clone();
            let mut last = self.apply(&committed, &mut state);
            let mut light = self.raw.advance(rd);
            if let Some(c) = light.commit_index() {
                let mut hs = self.raw.raft.hard_state();
                hs.commit = c;
                self.raw.mut_store().set_hard_state(hs);
                self.dirty = true;
            }
            self.out.extend(light.take_messages());
            let more = light.take_committed_entries();
            last = self.apply(&more, &mut state).or(last);
            self.raw.advance_apply();
            if let Some(index) = last {
                let conf = self.raw.raft.prs().conf().to_conf_state();
                self.raw.mut_store().compact(index, conf, state);
                self.dirty = true;
            }
        }
        let m = self.membership().clone();
        if m != self.applied {
            info!(epoch = m.epoch, members = m.members.len(), by = %m.by, "committed cluster membership");
            self.applied = m;
        }
    }

    /// Applies committed entries to `state`; returns the last index applied.
    fn apply(&mut self, entries: &[raft::prelude::Entry], state: &mut SnapData) -> Option<u64> {
        let mut last = None;
        for e in entries {
            last = Some(e.index);
            if e.data.is_empty() {
                continue;
            }
            match e.get_entry_type() {
                EntryType::EntryNormal => match serde_json::from_slice::<Proposal>(&e.data) {
                    Ok(p) if p.members != state.membership.members => {
                        state.membership = state.membership.next(p.members, p.by);
                    }
                    Ok(_) => {}
                    Err(err) => warn!("raft: undecodable log entry {}: {err}", e.index),
                },
                EntryType::EntryConfChange => {
                    match <ConfChange as protobuf::Message>::parse_from_bytes(&e.data) {
                        Ok(cc) => {
                            if let Err(err) = self.raw.apply_conf_change(&cc) {
                                warn!("raft: configuration change {}: {err}", e.index);
                            }
                        }
                        Err(err) => {
                            warn!("raft: undecodable configuration change {}: {err}", e.index)
                        }
                    }
                }
                EntryType::EntryConfChangeV2 => {}
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node started with `--join` seeds never forms a group of its own,
    /// however long no group adds it; one started without seeds forms one
    /// at once.
    #[test]
    fn a_joining_node_never_forms_a_group_of_its_own() {
        let id = "a".repeat(40);
        let mut joining = Core::new(&id, 1, RaftStorage::default(), true, 3000, 0).expect("core");
        for step in 1..=600 {
            let now = step * TICK_MS;
            joining.observe(
                Observation {
                    me: id.clone(),
                    alive: [(id.clone(), 1)].into(),
                    ..Observation::default()
                },
                now,
            );
            joining.tick(now, 1);
        }
        assert_eq!(joining.group(), "", "60 s without a group");
        assert!(!joining.has_quorum());
        let alone = Core::new(&id, 1, RaftStorage::default(), false, 3000, 0).expect("core");
        assert_ne!(alone.group(), "");
    }
}
