//! The gossip task: owns the chitchat server on the cluster bus port and
//! runs one gossip round per [`GOSSIP_INTERVAL`]: contacts the addresses
//! CLUSTER MEET queued, then reads the peers' state and installs the
//! membership the raft agreement committed (`cluster/gossip.rs`).
//!
//! A node started with `--join` also checks its seeds ([`join_seeds`]) until
//! a group adds it: chitchat keeps gossiping to them, but UDP tells nothing
//! of a seed that is down, in another cluster or not in cluster mode, so
//! each seed is asked over a peer link (which proves the cluster secret)
//! with a growing pause between attempts, and every failure is a WARN line.
//! The node never forms a cluster of its own meanwhile (`raft_core`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chitchat::transport::UdpTransport;
use chitchat::{spawn_chitchat, ChitchatHandle};
use tracing::{info, warn};

use crate::cluster::bus_junk;
use crate::cluster::gossip::{self, GossipState, GOSSIP_INTERVAL};
use crate::cluster::Cluster;
use crate::node::Node;

/// Gossip rounds between two reports of the bus warnings `bus_junk` held back.
const JUNK_REPORT_ROUNDS: u64 =
    bus_junk::REPORT_INTERVAL.as_millis() as u64 / GOSSIP_INTERVAL.as_millis() as u64;

/// The running chitchat server of this node.
pub struct Bus {
    handle: ChitchatHandle,
    advertise: SocketAddr,
}

/// Starts the chitchat server; `None` (logged) when the bus cannot listen.
pub async fn start_bus(shared: &Node, cluster: &Cluster) -> Option<Bus> {
    let config = gossip::bus_config(shared, cluster)?;
    if config.secret.is_empty() {
        warn!(
            "cluster started without a cluster-secret: anyone who can reach the bus port \
             {} (UDP) or the client port can join this cluster, forge gossip and open \
             peer links (raft, migration, proxied commands); set cluster-secret on every node",
            config.listen
        );
    }
    let spawned = if config.secret.is_empty() {
        spawn_chitchat(config.chitchat, config.keys, &UdpTransport).await
    } else {
        let transport = super::gossip_transport::MacTransport {
            secret: config.secret.clone(),
        };
        spawn_chitchat(config.chitchat, config.keys, &transport).await
    };
    let handle = match spawned {
        Ok(h) => h,
        Err(e) => {
            warn!("cluster bus: cannot listen on {}: {e:#}", config.listen);
            return None;
        }
    };
    info!(id = %cluster.id, bus = %config.listen, "cluster bus listening");
    Some(Bus {
        handle,
        advertise: config.advertise,
    })
}

/// First pause between two rounds of join attempts; it doubles after each
/// failed round up to [`JOIN_RETRY_MAX`].
const JOIN_RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest pause between two rounds of join attempts.
const JOIN_RETRY_MAX: Duration = Duration::from_secs(10);

/// Until a group adds this node, asks each `--join` seed for its id over a
/// peer link; logs a WARN line for each seed that does not answer as a
/// cluster peer, and tries again with backoff (see the module docs).
async fn join_seeds(shared: Arc<Node>, cluster: Arc<Cluster>) {
    let seeds = shared.config.read().cluster_join.clone();
    let mut pause = JOIN_RETRY_FIRST;
    let mut stop = shared.shutdown.subscribe();
    while !seeds.is_empty() && cluster.raft.group().is_empty() {
        let mut reached = false;
        for seed in &seeds {
            let resp = seed.split_once('@').map_or(seed.as_str(), |(r, _)| r);
            let result = match tokio::net::lookup_host(resp).await {
                Ok(mut addrs) => match addrs.next() {
                    Some(addr) => cluster
                        .pool
                        .request_control(&shared, addr, &[b"CLUSTER", b"MYID"])
                        .await
                        .map(|_| ()),
                    None => Err(std::io::Error::other("no address")),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => reached = true,
                Err(e) => warn!(
                    "cannot join the cluster through seed {seed}: {e}; retrying in {:.1}s                      (this node forms no cluster of its own)",
                    pause.as_secs_f64()
                ),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = if reached {
            JOIN_RETRY_FIRST
        } else {
            (pause * 2).min(JOIN_RETRY_MAX)
        };
    }
    if !seeds.is_empty() {
        info!(group = %cluster.raft.group(), "joined the cluster");
    }
}

/// Runs the gossip rounds until shutdown, then stops the chitchat server.
pub async fn run_gossip(shared: Arc<Node>, cluster: Arc<Cluster>, bus: Bus) {
    tokio::spawn(join_seeds(shared.clone(), cluster.clone()));
    let mut state = GossipState::new(bus.advertise);
    let mut stop = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(GOSSIP_INTERVAL) => {}
            _ = stop.changed() => break,
        }
        let round = cluster.rounds.fetch_add(1, Ordering::Relaxed);
        if round.is_multiple_of(JUNK_REPORT_ROUNDS) {
            let n = bus_junk::take_suppressed();
            if n > 0 {
                warn!(
                    "cluster bus: {n} more undecodable or unauthenticated datagram(s) dropped \
                     in the last {}s (not gossip of this cluster)",
                    bus_junk::REPORT_INTERVAL.as_secs()
                );
            }
        }
        for addr in std::mem::take(&mut *cluster.meet.lock()) {
            if let Err(e) = bus.handle.gossip(addr) {
                warn!("cluster meet {addr}: {e}");
            }
        }
        let node_timeout = shared.config.read().cluster_node_timeout;
        let chitchat = bus.handle.chitchat();
        let mut cc = chitchat.lock().await;
        let (obs, nodes) = state.round(&mut cc, &cluster, Duration::from_millis(node_timeout));
        drop(cc);
        gossip::adopt(&cluster, &shared.store, obs, nodes, node_timeout);
    }
    let _ = bus.handle.shutdown().await;
}
