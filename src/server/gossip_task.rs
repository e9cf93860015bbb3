//! The gossip task: owns the chitchat server on the cluster bus port and
//! runs one gossip round per [`GOSSIP_INTERVAL`]: contacts the addresses
//! CLUSTER MEET queued, then reads the peers' state and installs the
//! membership the raft agreement committed (`cluster/gossip.rs`).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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
    if config.no_secret {
        warn!(
            "cluster started without a cluster-secret: anyone who can reach the bus port \
             {} (UDP) or the client port can join this cluster, forge gossip and open \
             peer links (raft, migration, proxied commands); set cluster-secret on every node",
            config.listen
        );
    }
    let handle = match spawn_chitchat(config.chitchat, config.keys, &UdpTransport).await {
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

/// Runs the gossip rounds until shutdown, then stops the chitchat server.
pub async fn run_gossip(shared: Arc<Node>, cluster: Arc<Cluster>, bus: Bus) {
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
                    "cluster bus: {n} more undecodable datagram(s) dropped in the last {}s \
                     (not ringcache gossip)",
                    bus_junk::REPORT_INTERVAL.as_secs()
                );
            }
        }
        for addr in std::mem::take(&mut *cluster.meet.lock()) {
            if let Err(e) = bus.handle.gossip(addr) {
                warn!("cluster meet {addr}: {e}");
            }
        }
        let chitchat = bus.handle.chitchat();
        let mut cc = chitchat.lock().await;
        let (obs, nodes) = state.round(&mut cc, &cluster);
        drop(cc);
        gossip::adopt(&cluster, obs, nodes);
    }
    let _ = bus.handle.shutdown().await;
}
