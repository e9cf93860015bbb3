//! Gossip on the cluster bus port with `chitchat` (scuttlebutt anti-entropy
//! plus a phi-accrual failure detector, over UDP): discovery, failure
//! detection and per-node state. Each node publishes these keys:
//!
//! - `resp`: `host:port` of its RESP listener,
//! - `weight`: its ring weight,
//! - `group`: the raft group it belongs to ("" while waiting to be added),
//! - `forget`: ids removed with CLUSTER FORGET (comma separated),
//! - `leaving`: `1` once the node is leaving gracefully (SHUTDOWN/SIGTERM).
//!
//! Every gossip round's view becomes an [`Observation`] for the raft
//! agreement (`raft_agreement.rs`, [`GossipState::round`]) and a new [`View`]
//! with the membership the group committed is installed ([`adopt`]); slot
//! ownership changes are carried out by the migration task. The view lists
//! the members, the alive nodes and nothing else: a node that is down and
//! no member (the membership dropped it) leaves CLUSTER NODES/SHARDS/SLOTS
//! in the round after its removal is committed.
//!
//! Failure detection ([`Liveness`]): a node is alive while its chitchat
//! heartbeat counter advanced within `cluster-node-timeout` (longer, up to
//! 5 times, for a peer whose heartbeats have been coming slowly: a node or
//! peer starved of CPU is not reported down at once), read every round, so `CONFIG SET cluster-node-timeout` takes effect within one round
//! (chitchat's own phi-accrual detector, configured once at start, only
//! decides whom chitchat gossips with). The round also hands the current
//! timeout to the raft core (its removal rule) and to the peer pool (its
//! waits), and tells the pool which peers are down (`Pool::set_down`: what
//! waits on them fails at once). This file holds
//! the configuration and the per-round logic; the gossip task that owns the
//! chitchat server and runs the rounds is `server/gossip_task.rs`.
//!
//! Admission: the chitchat cluster id is derived from `cluster-secret`, and
//! chitchat answers SYNs carrying another cluster id with `BadCluster`, so a
//! process without the secret is not admitted by accident. This is a weak
//! token, not authentication: gossip datagrams travel in clear (the id with
//! them) and carry no MAC — chitchat 0.13 keeps its message encoding private,
//! so a transport cannot seal them. What matters is guarded elsewhere: peer
//! links prove the secret itself (`peer_auth`), and raft decides membership.
//! Undecodable datagrams are logged rate-limited (`bus_junk`).
//!
//! Duplicate ids: a live gossip peer announcing this node's id from another
//! bus address is refused (logged, never admitted); two processes on one data
//! directory are refused earlier by the lock in `node.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chitchat::{ChitchatConfig, ChitchatId, FailureDetectorConfig};
use tracing::warn;

use super::membership::{Agreement, Observation};
use super::{Cluster, NodeInfo, View};
use crate::node::Node;
use crate::store::now_ms;

/// Interval between gossip rounds.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(200);

const K_RESP: &str = "resp";
const K_WEIGHT: &str = "weight";
const K_GROUP: &str = "group";
const K_FORGET: &str = "forget";
const K_LEAVING: &str = "leaving";

/// The chitchat cluster id for a shared secret (xxh3-128, stable across builds).
pub fn cluster_id(secret: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(format!("ringcache-bus-v1\0{secret}").as_bytes());
    format!("ringcache-{h:032x}")
}

/// The bus address of a `--join` seed: `host:port` (bus = port + 10000) or
/// `host:port@busport`.
pub fn seed_bus_addr(seed: &str) -> Option<String> {
    let (resp, bus) = match seed.split_once('@') {
        Some((r, b)) => (r, Some(b.parse::<u16>().ok()?)),
        None => (seed, None),
    };
    let (host, port) = resp.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let bus = bus.unwrap_or(port.checked_add(10000)?);
    Some(format!("{host}:{bus}"))
}

/// This node's gossip configuration: the chitchat settings (`--join` seeds,
/// failure detector from `cluster-node-timeout`, cluster id from
/// `cluster-secret`) and the keys it publishes from the start.
pub struct BusConfig {
    /// For `chitchat::spawn_chitchat`.
    pub chitchat: ChitchatConfig,
    /// Initial key-values (`resp`, `weight`).
    pub keys: Vec<(String, String)>,
    /// The UDP address the bus listens on.
    pub listen: SocketAddr,
    /// The bus address announced to peers.
    pub advertise: SocketAddr,
    /// `cluster-secret`: when set, every datagram carries its MAC
    /// (`server::gossip_transport`); when empty, warned about at startup.
    pub secret: String,
}

/// Builds this node's gossip configuration; `None` (logged) when the bind
/// address cannot be used.
pub fn bus_config(shared: &Node, cluster: &Cluster) -> Option<BusConfig> {
    let (seeds, node_timeout, secret, bind) = {
        let c = shared.config.read();
        let seeds: Vec<String> = c
            .cluster_join
            .iter()
            .filter_map(|s| {
                let a = seed_bus_addr(s);
                if a.is_none() {
                    warn!("ignoring malformed --join address '{s}' (want host:port)");
                }
                a
            })
            .collect();
        let bind = c
            .bind
            .first()
            .map(|b| b.trim_start_matches('-').to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        (
            seeds,
            c.cluster_node_timeout,
            c.cluster_secret.clone(),
            bind,
        )
    };
    let listen: SocketAddr = match format!("{bind}:{}", cluster.me.bus_port)
        .parse()
        .or_else(|_| format!("[{bind}]:{}", cluster.me.bus_port).parse())
    {
        Ok(a) => a,
        Err(e) => {
            warn!("cluster bus: bad bind address {bind}: {e}");
            return None;
        }
    };
    let advertise: SocketAddr = format!("{}:{}", cluster.me.host, cluster.me.bus_port)
        .parse()
        .unwrap_or(listen);
    let threshold = (node_timeout as f64 / GOSSIP_INTERVAL.as_millis() as f64).max(2.0);
    let chitchat = ChitchatConfig {
        chitchat_id: ChitchatId::new(cluster.id.clone(), now_ms(), advertise),
        cluster_id: cluster_id(&secret),
        gossip_interval: GOSSIP_INTERVAL,
        listen_addr: listen,
        seed_nodes: seeds,
        failure_detector_config: FailureDetectorConfig {
            phi_threshold: threshold,
            sampling_window_size: 100,
            max_interval: Duration::from_millis(node_timeout),
            initial_interval: GOSSIP_INTERVAL,
            dead_node_grace_period: Duration::from_secs(3600),
        },
        marked_for_deletion_grace_period: Duration::from_secs(3600),
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: chitchat::ProtocolVersion::V0,
    };
    let keys = vec![
        (K_RESP.to_string(), cluster.me.addr()),
        (K_WEIGHT.to_string(), cluster.me.weight.to_string()),
    ];
    Some(BusConfig {
        chitchat,
        keys,
        listen,
        advertise,
        secret,
    })
}

/// The last heartbeat seen of one gossip identity (node id and generation).
#[derive(Debug, Clone, Copy)]
struct Beat {
    /// Its heartbeat counter.
    value: u64,
    /// When the counter last advanced (or was first seen).
    at: Instant,
    /// It advanced at least once while watched: a state gossiped on behalf
    /// of a node that is long gone never counts as alive.
    advanced: bool,
    /// Moving mean of the time between two advances seen here (each
    /// interval capped at the node timeout), in seconds.
    mean: f64,
}

/// Mean time between two heartbeat advances up to which a peer is judged by
/// the plain node timeout; beyond it (this node or the peer starved of CPU)
/// the allowed silence grows in proportion, up to [`MAX_STRETCH`] times the
/// node timeout, as a phi-accrual detector's would.
const NORMAL_BEAT: Duration = Duration::from_millis(2 * GOSSIP_INTERVAL.as_millis() as u64);
/// Most the allowed silence stretches for a peer whose heartbeats come slowly.
const MAX_STRETCH: f64 = 5.0;

/// This node's failure detector: a peer is alive while its heartbeat
/// counter advanced within the node timeout (see the module docs).
#[derive(Debug, Default)]
pub struct Liveness {
    beats: HashMap<chitchat::ChitchatId, Beat>,
    /// When the last round looked.
    last_round: Option<Instant>,
}

impl Liveness {
    /// Records the heartbeats of every identity chitchat knows now (and
    /// forgets the identities it no longer knows). After a gap between two
    /// rounds longer than half of `timeout` (this node itself was paused or
    /// starved) every peer alive at the previous round gets a fresh window:
    /// what this node did not watch is no evidence against them.
    fn record(&mut self, cc: &chitchat::Chitchat, now: Instant, timeout: Duration) {
        let previous = self.last_round.replace(now);
        self.beats.retain(|cid, _| cc.node_state(cid).is_some());
        if let Some(prev) = previous.filter(|t| now.saturating_duration_since(*t) > timeout / 2) {
            // Alive when last watched: a fresh window.
            for b in self.beats.values_mut() {
                if prev.saturating_duration_since(b.at) <= timeout {
                    b.at = now;
                }
            }
        }
        for (cid, st) in cc.node_states() {
            let value = u64::from(st.heartbeat());
            match self.beats.get_mut(cid) {
                Some(b) if value > b.value => {
                    let interval = now
                        .saturating_duration_since(b.at)
                        .min(timeout)
                        .as_secs_f64();
                    *b = Beat {
                        value,
                        at: now,
                        advanced: true,
                        mean: 0.9 * b.mean + 0.1 * interval,
                    };
                }
                Some(_) => {}
                None => {
                    self.beats.insert(
                        cid.clone(),
                        Beat {
                            value,
                            at: now,
                            advanced: false,
                            mean: GOSSIP_INTERVAL.as_secs_f64(),
                        },
                    );
                }
            }
        }
    }

    /// How long `cid`'s heartbeat has not advanced at `now` (`None`: never
    /// seen advancing).
    fn silence(&self, cid: &chitchat::ChitchatId, now: Instant) -> Option<Duration> {
        self.beats
            .get(cid)
            .filter(|b| b.advanced)
            .map(|b| now.saturating_duration_since(b.at))
    }

    /// True when `cid`'s heartbeat advanced within `timeout` of `now`
    /// (stretched for a peer whose heartbeats come slowly, see
    /// [`NORMAL_BEAT`]).
    fn alive(&self, cid: &chitchat::ChitchatId, now: Instant, timeout: Duration) -> bool {
        self.beats.get(cid).is_some_and(|b| {
            let stretch = (b.mean / NORMAL_BEAT.as_secs_f64()).clamp(1.0, MAX_STRETCH);
            b.advanced && now.saturating_duration_since(b.at) <= timeout.mul_f64(stretch)
        })
    }
}

/// What the gossip loop remembers between rounds: this node's bus address,
/// the duplicates already reported, the heartbeats seen, and what it last
/// published of its own keys (set again only when they change).
#[derive(Debug)]
pub struct GossipState {
    advertise: SocketAddr,
    duplicates: BTreeSet<SocketAddr>,
    liveness: Liveness,
    group: Option<String>,
    forget: String,
    leaving: bool,
}

impl GossipState {
    /// Fresh state for a bus announced at `advertise`.
    pub fn new(advertise: SocketAddr) -> GossipState {
        GossipState {
            advertise,
            duplicates: BTreeSet::new(),
            liveness: Liveness::default(),
            group: None,
            forget: String::new(),
            leaving: false,
        }
    }

    /// One round: reads the chitchat state into an observation for the raft
    /// agreement and the known-node list (alive by [`Liveness`] with the node
    /// timeout `node_timeout`), records the forgotten ids, and publishes
    /// changes of this node's group, forgotten ids and leaving flag.
    pub fn round(
        &mut self,
        cc: &mut chitchat::Chitchat,
        cluster: &Cluster,
        node_timeout: Duration,
    ) -> (Observation, Vec<NodeInfo>) {
        let now = Instant::now();
        self.liveness.record(cc, now, node_timeout);
        let alive = |cid: &chitchat::ChitchatId| self.liveness.alive(cid, now, node_timeout);
        let silence = |cid: &chitchat::ChitchatId| self.liveness.silence(cid, now);
        let (obs, nodes, forgotten) = observe(
            cc,
            cluster,
            self.advertise,
            &mut self.duplicates,
            alive,
            silence,
        );
        *cluster.forgotten.lock() = forgotten;
        *cluster.leaving_peers.lock() = obs.leaving.clone();
        let group = cluster.raft.group();
        if self.group.as_ref() != Some(&group) {
            cc.self_node_state().set(K_GROUP, &group);
            self.group = Some(group);
        }
        let forget = cluster
            .forgotten
            .lock()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        if forget != self.forget {
            cc.self_node_state().set(K_FORGET, &forget);
            self.forget = forget;
        }
        let leaving = cluster.leaving.load(std::sync::atomic::Ordering::Relaxed);
        if leaving && !self.leaving {
            cc.self_node_state().set(K_LEAVING, "1");
            self.leaving = true;
        }
        (obs, nodes)
    }
}

/// Feeds a round's observation to the raft agreement and installs the view
/// of the membership it has committed: its members and the alive nodes (a
/// node down and no member is gone from the view). Hands the node timeout
/// (ms) to the raft core, the lease and the peer pool, and the down peers
/// to the pool.
pub fn adopt(
    cluster: &Cluster,
    store: &crate::store::Store,
    obs: Observation,
    mut nodes: Vec<NodeInfo>,
    node_timeout: u64,
) {
    cluster.raft.set_node_timeout(node_timeout);
    cluster.pool.set_node_timeout(node_timeout);
    cluster.lease.set_timeout(node_timeout);
    cluster.raft.observe(obs);
    let m = cluster.raft.current();
    let group = cluster.raft.group();
    // A node down for less than two timeouts stays listed even once removed
    // (a leaving node briefly reported down still hands its slots over).
    let (now, quiet) = (now_ms(), 2 * node_timeout);
    nodes.retain(|n| {
        n.alive || m.members.contains_key(&n.id) || now.saturating_sub(n.last_seen_ms) < quiet
    });
    cluster.pool.set_down(down_peers(&nodes));
    let prior = cluster.view();
    let mut view = View::new(&cluster.id, m, nodes, Some(&prior));
    view.group = group;
    cluster.install(view, store);
}

/// The RESP addresses of the nodes reported down: seen alive once, silent
/// since (a node whose heartbeat this node has not seen advance yet, such as
/// a newcomer just committed as a member or any peer right after this node
/// started, is no evidence of a failure), and none that an alive node uses
/// (a node restarted on the same port under a new id is up).
fn down_peers(nodes: &[NodeInfo]) -> Vec<SocketAddr> {
    let addr = |n: &NodeInfo| n.addr().parse::<SocketAddr>().ok();
    let up: BTreeSet<SocketAddr> = nodes.iter().filter(|n| n.alive).filter_map(addr).collect();
    nodes
        .iter()
        .filter(|n| !n.alive && n.last_seen_ms != 0)
        .filter_map(addr)
        .filter(|a| !up.contains(a))
        .collect()
}

/// Reads the chitchat state into an observation and the known-node list;
/// `live` says which gossip identities are alive, `silence` how long each
/// has not been heard.
fn observe(
    cc: &chitchat::Chitchat,
    cluster: &Cluster,
    advertise: SocketAddr,
    duplicates: &mut BTreeSet<SocketAddr>,
    live: impl Fn(&ChitchatId) -> bool,
    silence: impl Fn(&ChitchatId) -> Option<Duration>,
) -> (Observation, Vec<NodeInfo>, BTreeSet<String>) {
    let mut forgotten = cluster.forgotten.lock().clone();
    let mut groups = BTreeMap::new();
    let mut leaving = BTreeSet::new();
    // Latest generation of every node id.
    let mut latest: BTreeMap<&str, (&ChitchatId, &chitchat::NodeState)> = BTreeMap::new();
    for (cid, st) in cc.node_states() {
        if *cid.node_id == *cluster.id && cid.gossip_advertise_addr != advertise {
            if live(cid) && duplicates.insert(cid.gossip_advertise_addr) {
                tracing::error!(
                    id = %cluster.id,
                    other = %cid.gossip_advertise_addr,
                    "duplicate node id: another process announces this node's id; refusing it (give each node its own --dir)"
                );
            }
            continue;
        }
        if let Some(list) = st.get(K_FORGET) {
            forgotten.extend(
                list.split(',')
                    .filter(|s| super::node::valid_id(s))
                    .map(String::from),
            );
        }
        match latest.get(&*cid.node_id) {
            Some((c, _)) if c.generation_id >= cid.generation_id => {}
            _ => {
                latest.insert(&cid.node_id, (cid, st));
            }
        }
    }
    let me_forgotten = forgotten.remove(&cluster.id);
    let mut nodes = Vec::new();
    let mut alive = BTreeMap::new();
    for (id, (cid, st)) in latest {
        let is_me = id == cluster.id;
        let is_alive = is_me || live(cid);
        // A forgotten node that is still alive is treated as leaving (its
        // slots move to the others first, like on SHUTDOWN); once it is down
        // it disappears from the node table.
        let forgotten_id = forgotten.contains(id) || (is_me && me_forgotten);
        if !super::node::valid_id(id) || (forgotten_id && !is_alive) {
            continue;
        }
        let Some((host, port)) = st
            .get(K_RESP)
            .and_then(|r| r.rsplit_once(':'))
            .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        else {
            continue;
        };
        let weight = st
            .get(K_WEIGHT)
            .and_then(|w| w.parse::<u32>().ok())
            .unwrap_or(1)
            .clamp(1, 64);
        groups.insert(
            id.to_string(),
            st.get(K_GROUP).unwrap_or_default().to_string(),
        );
        if st.get(K_LEAVING).is_some_and(|v| !v.is_empty()) || (is_alive && forgotten_id) {
            leaving.insert(id.to_string());
        }
        if is_alive {
            alive.insert(id.to_string(), weight);
        }
        nodes.push(NodeInfo {
            id: id.to_string(),
            host,
            port,
            bus_port: cid.gossip_advertise_addr.port(),
            alive: is_alive,
            weight,
            last_seen_ms: match (is_alive, silence(cid)) {
                (true, _) => now_ms(),
                (false, Some(quiet)) => now_ms().saturating_sub(quiet.as_millis() as u64),
                (false, None) => 0,
            },
        });
    }
    if !nodes.iter().any(|n| n.id == cluster.id) {
        nodes.push(cluster.me.clone());
        alive.insert(cluster.id.clone(), cluster.me.weight);
    }
    let obs = Observation {
        me: cluster.id.clone(),
        alive,
        groups,
        forgotten: forgotten.clone(),
        leaving,
    };
    (obs, nodes, forgotten)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, port: u16, alive: bool, last_seen_ms: u64) -> NodeInfo {
        NodeInfo {
            id: id.to_string(),
            host: "127.0.0.1".into(),
            port,
            bus_port: port + 10000,
            alive,
            weight: 1,
            last_seen_ms,
        }
    }

    /// Only a node seen alive and silent since is down for the peer pool:
    /// not one whose heartbeat was never seen advancing (a newcomer), not an
    /// address an alive node uses.
    #[test]
    fn down_peers_need_evidence() {
        let nodes = [
            node("a", 7000, true, 5),
            node("b", 7001, false, 5),
            node("newcomer", 7002, false, 0),
            node("old-generation", 7000, false, 5),
        ];
        let down = down_peers(&nodes);
        assert_eq!(
            down,
            vec!["127.0.0.1:7001".parse::<SocketAddr>().expect("addr")]
        );
    }

    #[test]
    fn seeds_and_ids() {
        assert_eq!(
            seed_bus_addr("127.0.0.1:7000").as_deref(),
            Some("127.0.0.1:17000")
        );
        assert_eq!(seed_bus_addr("h:7000@9000").as_deref(), Some("h:9000"));
        assert_eq!(seed_bus_addr("nope"), None);
        assert_eq!(seed_bus_addr("h:70000"), None);
        assert_ne!(cluster_id("a"), cluster_id("b"));
        assert_eq!(cluster_id("a"), cluster_id("a"));
    }
}
