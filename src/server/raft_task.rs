//! The raft task: ticks this node's Raft agreement
//! (`cluster/raft_agreement.rs`), feeds it the messages peers sent, and
//! sends its messages to the peers over the connection pool.
//!
//! Wire form: `CLUSTER RAFT <group> <message>...`, each message a
//! protobuf-encoded raft `Message`, one request per destination, on the
//! pool's authenticated peer links.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raft::prelude::Message;
use tracing::{debug, warn};

use crate::cluster::raft_core::TICK_MS;
use crate::cluster::Cluster;
use crate::node::Node;
use crate::store::now_ms;

/// Drives the agreement until shutdown.
pub async fn run_raft(shared: Arc<Node>, cluster: Arc<Cluster>) {
    let raft = &cluster.raft;
    let mut stop = shared.shutdown.subscribe();
    let mut last_tick = now_ms();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(TICK_MS)) => {}
            _ = raft.woken() => {}
            _ = stop.changed() => break,
        }
        let now = now_ms();
        let ticks = (now.saturating_sub(last_tick) / TICK_MS) as u32;
        last_tick += u64::from(ticks) * TICK_MS;
        if let Some(out) = raft.advance(now, ticks) {
            send(&shared, &cluster, &out.group, out.messages);
        }
    }
}

/// Sends messages, one `CLUSTER RAFT` request per destination, in the background.
fn send(shared: &Arc<Node>, cluster: &Arc<Cluster>, group: &str, msgs: Vec<(String, Message)>) {
    if msgs.is_empty() {
        return;
    }
    let view = cluster.view();
    let mut by_dest: Vec<(SocketAddr, Vec<Vec<u8>>)> = Vec::new();
    for (to, m) in msgs {
        let Some(addr) = view
            .nodes
            .iter()
            .find(|n| n.id == to && n.alive)
            .and_then(|n| n.addr().parse().ok())
        else {
            debug!("cluster raft: {to} is not reachable by gossip");
            continue;
        };
        let bytes = match protobuf::Message::write_to_bytes(&m) {
            Ok(b) => b,
            Err(e) => {
                warn!("cluster raft: cannot encode a message: {e}");
                continue;
            }
        };
        match by_dest.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, v)) => v.push(bytes),
            None => by_dest.push((addr, vec![bytes])),
        }
    }
    for (addr, batch) in by_dest {
        let shared = shared.clone();
        let cluster = cluster.clone();
        let group = group.to_string();
        tokio::spawn(async move {
            let mut args: Vec<&[u8]> = vec![b"CLUSTER", b"RAFT", group.as_bytes()];
            args.extend(batch.iter().map(|b| b.as_slice()));
            match cluster.pool.request_control(&shared, addr, &args).await {
                Ok(reply) if reply.first() == Some(&b'-') => {
                    debug!(
                        "cluster raft: {addr} refused: {}",
                        String::from_utf8_lossy(&reply).trim_end()
                    );
                }
                Ok(_) => {}
                Err(e) => debug!("cluster raft: {addr}: {e}"),
            }
        });
    }
}
