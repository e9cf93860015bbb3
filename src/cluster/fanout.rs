//! Cluster-wide PUBLISH. A message published on one node is delivered to
//! its local subscribers at once and queued for every other live member;
//! one task per peer sends the queue in order as a plain PUBLISH over the
//! pool's authenticated peer links (`CLUSTER PROXY-ORIGIN`), where it is
//! delivered locally and never fanned out again. As in Redis Cluster,
//! PUBLISH's reply counts the receivers on the publishing node only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::Cluster;
use crate::node::Node;

/// Messages waiting for one peer before new ones are dropped (a peer that
/// is down or slow must not grow memory without bound).
const QUEUE: usize = 65_536;

/// Per-peer ordered queues of `(channel, message)`.
#[derive(Debug, Default)]
pub struct Fanout {
    queues: Mutex<HashMap<SocketAddr, mpsc::Sender<(Bytes, Bytes)>>>,
}

/// Queues `channel`/`message` for every other live member (no-op outside
/// a tokio runtime).
pub fn publish(node: &Arc<Node>, cluster: &Arc<Cluster>, channel: &Bytes, message: &Bytes) {
    let view = cluster.view();
    let peers = view
        .nodes
        .iter()
        .filter(|n| n.alive && n.id != cluster.id)
        .filter_map(|n| n.addr().parse::<SocketAddr>().ok());
    for addr in peers {
        let mut queues = cluster.fanout.queues.lock();
        let tx = match queues.get(&addr) {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let (tx, rx) = mpsc::channel(QUEUE);
                rt.spawn(drain(
                    Arc::downgrade(node),
                    Arc::downgrade(cluster),
                    addr,
                    rx,
                ));
                queues.insert(addr, tx.clone());
                tx
            }
        };
        drop(queues);
        if tx.try_send((channel.clone(), message.clone())).is_err() {
            tracing::warn!(%addr, "cluster PUBLISH queue full: message dropped for this peer");
        }
    }
}

/// Sends one peer's queue in order until the node shuts down.
async fn drain(
    node: Weak<Node>,
    cluster: Weak<Cluster>,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<(Bytes, Bytes)>,
) {
    while let Some((channel, message)) = rx.recv().await {
        let (Some(node), Some(cluster)) = (node.upgrade(), cluster.upgrade()) else {
            return;
        };
        let args: [&[u8]; 3] = [b"PUBLISH", &channel, &message];
        if let Err(e) = cluster.pool.request_control(&node, addr, &args).await {
            tracing::warn!(%addr, error = %e, "cluster PUBLISH to a peer failed");
        }
    }
}
