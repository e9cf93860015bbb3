//! The async shell around the raft core (`raft_core.rs`): ticks it, feeds it
//! the messages peers send with `CLUSTER RAFT`, persists its state in
//! `<dir>/raft.json` and then sends its messages over the peer connection pool.
//!
//! Wire form: `CLUSTER RAFT <bus-tag> <group> <message>...`, each message a
//! protobuf-encoded raft `Message`. It is accepted only on a connection that
//! sent `CLUSTER PROXY-ORIGIN` and only with the bus tag derived from this
//! node's `cluster-secret` (see `gossip::cluster_id`). A message that fails to
//! decode is logged and dropped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use raft::prelude::Message;
use tracing::{debug, warn};

use super::membership::{Agreement, Membership, Observation};
use super::raft_core::{Core, CoreError, Status, TICK_MS};
use super::{raft_store, Cluster};
use crate::config::Settings;
use crate::node::Node;
use crate::store::now_ms;

/// Errors starting the agreement.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `raft.json` could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// raft refused the stored state.
    #[error("{0}")]
    Core(#[from] CoreError),
}

/// This node's Raft agreement: the core behind a lock, the inbox of peer
/// messages and the flags request paths read without locking.
#[derive(Debug)]
pub struct RaftAgreement {
    core: Mutex<Core>,
    inbox: Mutex<Vec<(String, Message)>>,
    wake: tokio::sync::Notify,
    quorum: AtomicBool,
    dir: PathBuf,
    tag: String,
}

impl RaftAgreement {
    /// Loads `raft.json` from the data directory, or starts blank, serving
    /// `last` (the membership `nodes.json` remembers) until a group adds it.
    pub fn new(
        settings: &Settings,
        id: &str,
        last: &Membership,
    ) -> Result<RaftAgreement, StartError> {
        let stored = raft_store::load(&settings.dir)?.unwrap_or_else(|| {
            raft_store::Store::blank(raft_store::SnapData {
                group: String::new(),
                membership: last.clone(),
            })
        });
        let core = Core::new(
            id,
            settings.cluster_weight as u32,
            stored,
            !settings.cluster_join.is_empty(),
            settings.cluster_node_timeout,
            now_ms(),
        )?;
        Ok(RaftAgreement {
            quorum: AtomicBool::new(core.has_quorum()),
            core: Mutex::new(core),
            inbox: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            dir: settings.dir.clone(),
            tag: super::gossip::cluster_id(&settings.cluster_secret),
        })
    }

    /// Role, term, leader, configuration size and group.
    pub fn status(&self) -> Status {
        self.core.lock().status()
    }

    /// The group name this node announces by gossip.
    pub fn group(&self) -> String {
        self.core.lock().group().to_string()
    }

    /// Queues the messages of one `CLUSTER RAFT` command. Returns false when
    /// the bus tag is wrong. Undecodable messages are logged and dropped.
    pub fn deliver(&self, tag: &[u8], group: &[u8], msgs: &[Bytes]) -> bool {
        if tag != self.tag.as_bytes() {
            return false;
        }
        let group = String::from_utf8_lossy(group).into_owned();
        let mut inbox = self.inbox.lock();
        for m in msgs {
            match <Message as protobuf::Message>::parse_from_bytes(m) {
                Ok(msg) => inbox.push((group.clone(), msg)),
                Err(e) => warn!("cluster raft: dropped an undecodable message: {e}"),
            }
        }
        drop(inbox);
        self.wake.notify_one();
        true
    }
}

impl Agreement for RaftAgreement {
    fn current(&self) -> Membership {
        self.core.lock().membership().clone()
    }

    fn observe(&self, obs: Observation) {
        self.core.lock().observe(obs, now_ms());
        self.wake.notify_one();
    }

    fn has_quorum(&self) -> bool {
        self.quorum.load(Ordering::Relaxed)
    }
}

/// Drives the core until shutdown.
pub async fn run(shared: Arc<Node>, cluster: Arc<Cluster>) {
    let raft = &cluster.raft;
    let mut stop = shared.shutdown.subscribe();
    let mut last_tick = now_ms();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(TICK_MS)) => {}
            _ = raft.wake.notified() => {}
            _ = stop.changed() => break,
        }
        let now = now_ms();
        let ticks = (now.saturating_sub(last_tick) / TICK_MS) as u32;
        last_tick += u64::from(ticks) * TICK_MS;
        let inbox = std::mem::take(&mut *raft.inbox.lock());
        let out = {
            let mut core = raft.core.lock();
            for (group, m) in inbox {
                core.step(&group, m);
            }
            core.tick(now, ticks);
            raft.quorum.store(core.has_quorum(), Ordering::Relaxed);
            core.take_output()
        };
        if let Some(f) = out.persist {
            if let Err(e) = raft_store::save(&raft.dir, &f) {
                // Without durable state this node must not vote or acknowledge.
                warn!("cannot persist raft state in {}: {e}", raft.dir.display());
                continue;
            }
        }
        send(&shared, &cluster, &out.group, out.messages);
    }
}

/// Sends messages, one `CLUSTER RAFT` request per destination, in the background.
fn send(shared: &Arc<Node>, cluster: &Arc<Cluster>, group: &str, msgs: Vec<(String, Message)>) {
    if msgs.is_empty() {
        return;
    }
    let view = cluster.view();
    let mut by_dest: Vec<(std::net::SocketAddr, Vec<Vec<u8>>)> = Vec::new();
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
            let mut args: Vec<&[u8]> = vec![
                b"CLUSTER",
                b"RAFT",
                cluster.raft.tag.as_bytes(),
                group.as_bytes(),
            ];
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
