//! Cluster mode: the consistent-hash ring, node identity, gossip membership,
//! request routing (proxy or `-MOVED`) and the data behind the CLUSTER commands.
//! This is the core: state machines, pure planning and data formats; the
//! tasks that drive gossip, raft and migration are in `server/` (`*_task.rs`).
//!
//! Each gossip round (`gossip::adopt`) builds an immutable [`View`]
//! (membership, slot map, known nodes) and swaps it in; request paths read the
//! current view through one short read lock and an `Arc` clone, never across
//! an `.await`.

pub mod bus_junk;
pub mod dump;
pub mod fanout;
pub mod gossip;
pub mod lease;
pub mod membership;
pub mod migrate;
pub mod node;
pub mod peer_auth;
pub mod pool;
pub mod raft_agreement;
pub mod raft_core;
#[cfg(test)]
mod raft_sim;
pub mod raft_store;
pub mod ring;
pub mod route;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};

use crate::config::Settings;
use membership::Membership;
use migrate::SlotState;
use ring::SlotMap;

/// What the node knows of one peer (or of itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// 40-hex node id.
    pub id: String,
    /// Announced IP or host name for clients.
    pub host: String,
    /// RESP port.
    pub port: u16,
    /// Cluster bus (gossip) port.
    pub bus_port: u16,
    /// Reported alive by the failure detector.
    pub alive: bool,
    /// Ring weight the node announces.
    pub weight: u32,
    /// Unix ms of the last heartbeat seen (0: never).
    pub last_seen_ms: u64,
}

impl NodeInfo {
    /// `host:port` of the RESP listener.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One consistent snapshot of the cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct View {
    /// Adopted membership.
    pub membership: Membership,
    /// Slot map computed from it (shared by views of the same membership).
    pub map: Arc<SlotMap>,
    /// Every known node (members, failed nodes, nodes not yet admitted), by id.
    pub nodes: Vec<NodeInfo>,
    /// For each map member index, its RESP listener as `host:port` text (for
    /// `-MOVED`) and as a socket address (computed once per view, not per
    /// request).
    member_addr: Vec<Option<(String, SocketAddr)>>,
    /// This node's index in `map.members`.
    me: Option<usize>,
    /// Slots this node is importing, migrating or handed over (see `migrate`).
    pub states: Arc<HashMap<u16, SlotState>>,
    /// The raft group whose membership this is ("" when not known).
    pub group: String,
    /// Slots gained because their owner was removed: not served before the
    /// removed node's lease has surely expired (see [`Takeover`]).
    pub takeover: Option<Arc<Takeover>>,
}

/// Slots this node took from a removed owner and the instant from which it
/// may serve them: D + `lease::takeover_margin(D)` after it installed the
/// removal (requests get `-TRYAGAIN` until then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// First instant the slots may be served.
    pub from: Instant,
    /// The slots (indexed by slot number).
    pub slots: Vec<bool>,
}

impl Takeover {
    /// True when `slot` may not be served yet at `now`.
    pub fn waits(&self, slot: u16, now: Instant) -> bool {
        now < self.from && self.slots.get(slot as usize).copied().unwrap_or(false)
    }
}

/// Where a slot is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner<'v> {
    /// Here.
    Local,
    /// By another node at this address (`host:port` text and resolved address).
    Remote(&'v str, SocketAddr),
    /// Another node whose address is not known yet (not gossiped to this
    /// node so far): requests wait briefly instead of failing.
    Unknown,
    /// Nobody (the map has no member).
    Down,
}

impl View {
    /// Builds a view; `nodes` must contain this node. The ring is recomputed
    /// only when the membership differs from `prior`'s.
    pub fn new(
        me_id: &str,
        membership: Membership,
        mut nodes: Vec<NodeInfo>,
        prior: Option<&View>,
    ) -> View {
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let map = match prior {
            Some(p) if p.membership == membership => p.map.clone(),
            _ => Arc::new(ring::with_owners(
                &ring::active(&membership.members),
                &membership.slots,
                membership.epoch,
                ring::DEFAULT_REPLICAS,
            )),
        };
        let member_addr = map
            .members
            .iter()
            .map(|id| {
                let text = nodes.iter().find(|n| &n.id == id)?.addr();
                let addr = text.parse().ok()?;
                Some((text, addr))
            })
            .collect();
        let me = map.index_of(me_id);
        View {
            membership,
            map,
            nodes,
            member_addr,
            me,
            states: prior.map(|p| p.states.clone()).unwrap_or_default(),
            group: String::new(),
            takeover: prior.and_then(|p| p.takeover.clone()),
        }
    }

    /// How long (ms) node `id` has been down by gossip at `now_ms` (0 while
    /// alive), or `None` when gossip knows nothing of it.
    pub fn down_for(&self, id: &str, now_ms: u64) -> Option<u64> {
        let n = self.nodes.iter().find(|n| n.id == id)?;
        Some(match n.alive {
            true => 0,
            false => now_ms.saturating_sub(n.last_seen_ms),
        })
    }

    /// The RESP address of node `id` (member or not, e.g. a leaving node).
    pub fn addr_of(&self, id: &str) -> Option<(String, SocketAddr)> {
        let n = self.nodes.iter().find(|n| n.id == id)?;
        Some((n.addr(), n.addr().parse().ok()?))
    }

    /// True when gossip reports node `id` alive.
    pub fn is_alive(&self, id: &str) -> bool {
        self.nodes.iter().any(|n| n.id == id && n.alive)
    }

    /// True when node `id` may hold slot data: alive, or a member (not yet
    /// declared failed). Imports from anyone else are given up.
    pub fn may_hold(&self, id: &str) -> bool {
        self.is_alive(id) || self.is_member(id)
    }

    /// Id of the node that serves `slot` as far as this node knows: the map
    /// owner, except for slots this node imports (their source) or still
    /// migrates (itself). CLUSTER SLOTS/NODES/SHARDS report this.
    pub fn effective_owner(&self, slot: u16, me: &str) -> Option<String> {
        match self.states.get(&slot) {
            Some(SlotState::Importing(src)) => Some(src.clone()),
            Some(SlotState::Migrating | SlotState::Paused) => Some(me.to_string()),
            _ => self.map.owner_id(slot).map(String::from),
        }
    }

    /// Who serves `slot`.
    pub fn owner(&self, slot: u16) -> Owner<'_> {
        match self.map.owner(slot) {
            Some(o) if Some(o) == self.me => Owner::Local,
            Some(o) => match self.member_addr.get(o) {
                Some(Some((text, addr))) => Owner::Remote(text, *addr),
                _ => Owner::Unknown,
            },
            None => Owner::Down,
        }
    }

    /// Node info of map member index `m`.
    pub fn node_of(&self, m: usize) -> Option<&NodeInfo> {
        let id = self.map.members.get(m)?;
        self.nodes.iter().find(|n| &n.id == id)
    }

    /// True when `id` is a ring member at this epoch.
    pub fn is_member(&self, id: &str) -> bool {
        self.membership.members.contains_key(id)
    }

    /// True when node `me`, a member in this view, learns from `next` (of
    /// the same group) that the cluster removed it meanwhile: `next` no
    /// longer has it (and it is not `handing_over`: leaving gracefully, or
    /// still holding its lease, so the others import from it), or added it
    /// again later (a newer `joined` epoch). What it holds is then stale:
    /// the others served its slots while it was away.
    pub fn rejoined(&self, next: &View, me: &str, handing_over: bool) -> bool {
        if self.membership == next.membership
            || self.map.members.is_empty()
            || !self.is_member(me)
            || self.group.is_empty()
            || self.group != next.group
        {
            return false;
        }
        if next.is_member(me) {
            next.membership.joined_at(me) != self.membership.joined_at(me)
        } else {
            !handing_over
        }
    }
}

/// Cluster state of this node.
#[derive(Debug)]
pub struct Cluster {
    /// This node's id.
    pub id: String,
    /// This node as announced to peers.
    pub me: NodeInfo,
    /// Data directory holding `nodes.json`.
    pub dir: PathBuf,
    view: RwLock<Arc<View>>,
    /// Ids removed by CLUSTER FORGET (gossiped to every node).
    pub forgotten: Mutex<BTreeSet<String>>,
    /// Bus addresses CLUSTER MEET asked to contact (drained by the gossip task).
    pub meet: Mutex<Vec<SocketAddr>>,
    /// Connections to other nodes for proxied requests.
    pub pool: pool::Pool,
    /// Per-peer queues of cluster-wide PUBLISH messages.
    pub fanout: fanout::Fanout,
    /// Gossip rounds run (CLUSTER INFO).
    pub rounds: AtomicU64,
    /// Raft agreement on the membership (`raft_agreement.rs`).
    pub raft: raft_agreement::RaftAgreement,
    /// Set by SHUTDOWN/SIGTERM: the node announces it is leaving and hands
    /// its slots over before exiting.
    pub leaving: AtomicBool,
    /// Live-migration counters (INFO cluster, CLUSTER REBALANCE-STATUS).
    pub progress: migrate::Progress,
    /// Wakes the migration task when slot states changed.
    pub wake: tokio::sync::Notify,
    /// Slots whose import a membership change dropped: the migration task
    /// deletes the keys copied so far (`migrate::target::discard`).
    pub dropped: Mutex<Vec<u16>>,
    /// This node's majority lease (`lease.rs`): keys are served only while
    /// it holds.
    pub lease: lease::Lease,
    /// Peers that announce a graceful leave (gossip): voters grant them the
    /// lease while they hand their slots over.
    pub leaving_peers: Mutex<BTreeSet<String>>,
}

impl Cluster {
    /// Loads (or creates) the node identity and builds the initial view.
    pub fn new(settings: &Settings, bound_port: u16) -> std::io::Result<Cluster> {
        let file = node::load_or_create(&settings.dir)?;
        let host = if !settings.cluster_announce_ip.is_empty() {
            settings.cluster_announce_ip.clone()
        } else {
            settings
                .bind
                .first()
                .map(|b| b.trim_start_matches('-').to_string())
                .filter(|b| b != "0.0.0.0" && b != "*" && b != "::")
                .unwrap_or_else(|| "127.0.0.1".into())
        };
        let me = NodeInfo {
            id: file.id.clone(),
            host,
            port: bound_port,
            bus_port: bus_port(settings, bound_port),
            alive: true,
            weight: settings.cluster_weight as u32,
            last_seen_ms: crate::store::now_ms(),
        };
        let view = View::new(&file.id, file.membership.clone(), vec![me.clone()], None);
        let pool = pool::Pool::new(&file.id, &settings.cluster_secret);
        let lease = lease::Lease::new(&file.id, settings.cluster_node_timeout);
        Ok(Cluster {
            lease,
            raft: raft_agreement::RaftAgreement::new(settings, &file.id, &file.membership)
                .map_err(std::io::Error::other)?,
            id: file.id,
            me,
            dir: settings.dir.clone(),
            view: RwLock::new(Arc::new(view)),
            forgotten: Mutex::new(BTreeSet::new()),
            meet: Mutex::new(Vec::new()),
            pool,
            fanout: fanout::Fanout::default(),
            rounds: AtomicU64::new(0),
            leaving: AtomicBool::new(false),
            progress: migrate::Progress::default(),
            wake: tokio::sync::Notify::new(),
            dropped: Mutex::new(Vec::new()),
            leaving_peers: Mutex::new(BTreeSet::new()),
        })
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.read().clone()
    }

    /// Installs a new view. When the slot map changed, the slot states move
    /// on (`migrate::transition`): slots this node holds but no longer owns
    /// start migrating, slots it gained from a live node start importing,
    /// slots it gained from a removed owner wait for that node's lease to
    /// expire ([`Takeover`]). A node that finds it was removed meanwhile
    /// ([`View::rejoined`]) first discards every key it holds (`store`): it
    /// holds nothing it could still own, and receives slots only by
    /// migration. Then the lease counts grants up to the new epoch.
    pub fn install(&self, mut new: View, store: &crate::store::Store) {
        let mut guard = self.view.write();
        let old = guard.clone();
        // The states of the installed view, not of the view `new` was built
        // from: the migration task may have changed them in between.
        new.states = old.states.clone();
        new.takeover = old.takeover.clone();
        let leaving = self.is_leaving();
        // Removed while it held its lease (forgotten while alive, or
        // leaving): the others import its slots from it, nothing is stale.
        let stale = old.rejoined(&new, &self.id, leaving || self.lease.holds());
        if stale {
            let now = crate::store::now_ms();
            let mut keys = 0usize;
            for s in 0..crate::store::SLOTS as u16 {
                let mut l = store.lock_slot(0, s, now);
                l.table().track_dirty(false);
                keys += l.drop_all().len();
            }
            tracing::warn!(
                keys,
                old_epoch = old.membership.epoch,
                epoch = new.membership.epoch,
                "this node was removed from the cluster meanwhile: discarded every key it held (the others served its slots since); it receives slots again only by migration"
            );
            new.states = Arc::default();
            new.takeover = None;
            self.dropped.lock().clear();
        }
        if !Arc::ptr_eq(&old.map, &new.map) {
            // A node that had no ring yet (just joined) or that was removed
            // meanwhile takes the ring of the membership this one replaced
            // as the previous owners (or, when that is not known, the ring
            // without itself). The nodes holding the data correct a wrong
            // guess with their `begin`.
            let fallback;
            let prev: &SlotMap = if old.map.members.is_empty() || stale {
                fallback = previous_map(&self.id, &new.membership);
                &fallback
            } else {
                &old.map
            };
            let timeout = self.lease.timeout();
            let now_ms = crate::store::now_ms();
            // Imports from a node removed and added again meanwhile are
            // over: it discarded what it held when it learned of its
            // removal (`View::rejoined`), so nothing will come from it.
            let readded = |x: &str| {
                new.is_member(x)
                    && (!old.is_member(x)
                        || old.membership.joined_at(x) != new.membership.joined_at(x))
            };
            let orphaned = |st: &SlotState| matches!(st, SlotState::Importing(x) | SlotState::Dropped(x) if readded(x));
            let cleaned: Option<HashMap<u16, SlotState>> =
                new.states.values().any(orphaned).then(|| {
                    let kept = new.states.iter().filter(|(_, st)| !orphaned(st));
                    kept.map(|(s, st)| (*s, st.clone())).collect()
                });
            if let Some(cleaned) = cleaned {
                new.states = Arc::new(cleaned);
            }
            let may_hold = |id: &str| !self.source_gone(&new, id, now_ms);
            let states = migrate::transition(
                &self.id,
                |s| prev.owner_id(s),
                |s| new.map.owner_id(s),
                &new.states,
                may_hold,
            );
            // A dropped import whose slot came back and is owned outright
            // (its old owner is gone): what was copied before the drop is
            // older than what that owner served since, and the migration
            // task deletes such copies only while the slot is not ours.
            // Nothing was served from them: delete them before serving.
            for (s, _) in new.states.iter().filter(|(s, st)| {
                matches!(st, SlotState::Dropped(_))
                    && !states.contains_key(s)
                    && new.map.owner_id(**s) == Some(self.id.as_str())
            }) {
                let mut l = store.lock_slot(0, *s, now_ms);
                l.table().track_dirty(false);
                drop(l.drop_all());
            }
            self.dropped.lock().extend(
                new.states
                    .iter()
                    .filter(|(s, st)| {
                        matches!(st, SlotState::Importing(_))
                            && !matches!(states.get(s), Some(SlotState::Importing(_)))
                    })
                    .filter(|(s, _)| new.map.owner_id(**s) != Some(self.id.as_str()))
                    .map(|(s, _)| *s),
            );
            // Slots taken outright from an owner the new membership removed:
            // that node may still hold a lease (granted before the voters
            // applied the removal) for D after its last request.
            let taken: Vec<u16> = (0..crate::store::SLOTS as u16)
                .filter(|s| {
                    new.map.owner_id(*s) == Some(self.id.as_str())
                        && !states.contains_key(s)
                        && new.states.get(s) != Some(&SlotState::Migrating)
                        && prev
                            .owner_id(*s)
                            .is_some_and(|p| p != self.id && !new.is_member(p))
                })
                .collect();
            if !taken.is_empty() {
                let from = Instant::now() + timeout + lease::takeover_margin(timeout);
                let mut slots = match &new.takeover {
                    Some(t) if t.from > Instant::now() => t.slots.clone(),
                    _ => vec![false; crate::store::SLOTS],
                };
                for s in &taken {
                    slots[*s as usize] = true;
                }
                tracing::info!(
                    slots = taken.len(),
                    wait_ms = (from - Instant::now()).as_millis() as u64,
                    "took slots of a removed node: serving them once its lease has expired"
                );
                new.takeover = Some(Arc::new(Takeover { from, slots }));
            }
            new.states = Arc::new(states);
            self.wake.notify_one();
        }
        if old.membership != new.membership {
            let f = node::NodeFile {
                id: self.id.clone(),
                membership: new.membership.clone(),
            };
            if let Err(e) = node::save(&self.dir, &f) {
                tracing::warn!(
                    "cannot persist cluster state in {}: {e}",
                    self.dir.display()
                );
            }
        }
        self.lease
            .set_epoch(new.membership.epoch, new.is_member(&self.id) || leaving);
        *guard = Arc::new(new);
    }

    /// Replaces the slot states of the current view (the migration task).
    /// `f` also sees the view, so a decision against its map is atomic with
    /// respect to membership changes ([`Cluster::install`]).
    pub fn update_states<R>(&self, f: impl FnOnce(&View, &mut HashMap<u16, SlotState>) -> R) -> R {
        let mut guard = self.view.write();
        let mut v = View::clone(&guard);
        let mut states = HashMap::clone(&v.states);
        let r = f(&v, &mut states);
        v.states = Arc::new(states);
        *guard = Arc::new(v);
        r
    }

    /// True when node `id` (the source of an import) holds no data any
    /// more, so its slots are taken outright: it is not alive, and either
    /// it was removed without announcing a graceful leave (it died), or the
    /// failure detector has reported it dead for a node timeout (silent for
    /// twice the timeout; a removed leaving node also when gossip forgot
    /// it). A source that is alive, a member not gossiped here yet, or a
    /// leaving node reported down only briefly while it hands over, is
    /// waited for.
    pub fn source_gone(&self, view: &View, id: &str, now_ms: u64) -> bool {
        if view.is_alive(id) {
            return false;
        }
        migrate::plan::source_gone(
            view.is_member(id),
            self.leaving_peers.lock().contains(id),
            view.down_for(id, now_ms),
            2 * self.lease.timeout().as_millis() as u64,
        )
    }

    /// True when this node leaves gracefully (SHUTDOWN/SIGTERM, or CLUSTER
    /// FORGET while it is alive): it keeps serving while it hands over.
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Relaxed) || self.leaving_peers.lock().contains(&self.id)
    }

    /// Total gossip rounds so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }
}

/// The slot map a node takes as the previous one when `m` is the first
/// membership it adopts: the ring of the membership `m` replaced, or, when
/// that is not known, the ring of `m`; without this node either way (it
/// holds no data yet, even if the membership it skipped had it as a member).
fn previous_map(me: &str, m: &Membership) -> Arc<SlotMap> {
    let (members, slots) = if m.previous.is_empty() {
        (&m.members, &[][..])
    } else {
        (&m.previous, &m.previous_slots[..])
    };
    let mut others = members.clone();
    others.remove(me);
    let without_me = ring::compute(&ring::active(&others), m.epoch, ring::DEFAULT_VNODES, 1);
    let full = ring::with_owners(&ring::active(members), slots, m.epoch, 1);
    // Slots the previous map gave to this node: their holder is unknown
    // here (it never received them); guess the ring without it.
    let owners: Vec<u16> = (0..crate::store::SLOTS as u16)
        .map(|s| match full.owner_id(s) {
            Some(id) if id != me => full.owner(s),
            _ => without_me.owner_id(s).and_then(|id| full.index_of(id)),
        })
        .map(|o| o.unwrap_or(0) as u16)
        .collect();
    Arc::new(ring::with_owners(
        &ring::active(members),
        &owners,
        m.epoch,
        1,
    ))
}

/// The bus port: `cluster-port`, or RESP port + 10000.
pub fn bus_port(settings: &Settings, resp_port: u16) -> u16 {
    if settings.cluster_port != 0 {
        settings.cluster_port
    } else {
        resp_port.wrapping_add(10000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ids(ids: &[&str]) -> BTreeMap<String, u32> {
        ids.iter().map(|id| (id.to_string(), 1)).collect()
    }

    /// The memberships a cluster commits when `steps` are its member sets
    /// in turn.
    fn history(steps: &[&[&str]]) -> Vec<Membership> {
        let mut out = vec![Membership::default()];
        for step in steps {
            let next = out
                .last_mut()
                .map(|m| m.clone().next(ids(step), "a".into()))
                .unwrap_or_default();
            out.push(next);
        }
        out
    }

    /// The states of `me` adopting `m` as its first membership.
    fn first_states(me: &str, m: &Membership) -> HashMap<u16, SlotState> {
        let prev = previous_map(me, m);
        let new = View::new(me, m.clone(), Vec::new(), None).map;
        let states = migrate::transition(
            me,
            |s| prev.owner_id(s),
            |s| new.owner_id(s),
            &HashMap::new(),
            |_| true,
        );
        let owned = (0..crate::store::SLOTS as u16)
            .filter(|&s| new.owner_id(s) == Some(me))
            .count();
        assert!(owned > 0);
        assert_eq!(states.len(), owned, "{me} imports every slot it owns");
        states
    }

    /// A member learns it was removed meanwhile when the next membership
    /// of its group lacks it (unless it is leaving) or added it again
    /// (newer `joined` epoch); not on an ordinary change, nor across groups.
    #[test]
    fn rejoined_after_a_removal() {
        let h = history(&[
            &["a", "b", "c"],
            &["a", "b"],
            &["a", "b", "c"],
            &["a", "b", "c", "d"],
        ]);
        assert_eq!(h[3].joined_at("c"), 3);
        assert_eq!(h[4].joined_at("c"), 3, "kept while a member");
        assert_eq!(h[4].joined_at("d"), 4);
        let view = |m: &Membership, group: &str| {
            let mut v = View::new("c", m.clone(), Vec::new(), None);
            v.group = group.to_string();
            v
        };
        let (v1, v2, v3, v4) = (
            view(&h[1], "g"),
            view(&h[2], "g"),
            view(&h[3], "g"),
            view(&h[4], "g"),
        );
        assert!(
            v1.rejoined(&v3, "c", false),
            "re-added: epoch 1 -> 3 directly"
        );
        assert!(v1.rejoined(&v2, "c", false), "removed");
        assert!(!v1.rejoined(&v2, "c", true), "a leaving node hands over");
        assert!(!v3.rejoined(&v4, "c", false), "another node joined");
        assert!(!v2.rejoined(&v3, "c", false), "was no member");
        assert!(
            !v1.rejoined(&view(&h[3], "other"), "c", false),
            "another group"
        );
    }

    /// Two nodes that join in one change import every slot from the node
    /// that held it, never from each other (a wrong guess costs hops).
    #[test]
    fn joiners_import_from_the_previous_owners() {
        let h = history(&[&["a", "b", "c"], &["a", "b", "c", "d", "e"]]);
        let held = View::new("a", h[1].clone(), Vec::new(), None).map;
        for me in ["d", "e"] {
            for (s, st) in first_states(me, &h[2]) {
                let holder = held.owner_id(s).unwrap_or("").to_string();
                assert_eq!(st, SlotState::Importing(holder), "slot {s} of {me}");
            }
        }
    }

    /// A node whose first adopted membership is the one after its own join
    /// (it skipped the one that added it) imports every slot it owns, from
    /// nodes that were members before it: it never takes itself for the
    /// holder of data it did not receive.
    #[test]
    fn a_joiner_that_skipped_its_own_join_imports_everything() {
        let h = history(&[
            &["a", "b", "c"],
            &["a", "b", "c", "d"],
            &["a", "b", "c", "d", "e"],
        ]);
        for (s, st) in first_states("d", &h[3]) {
            assert!(
                matches!(&st, SlotState::Importing(src) if ["a", "b", "c"].contains(&src.as_str())),
                "slot {s}: {st:?}"
            );
        }
    }
}
