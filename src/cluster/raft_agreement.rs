//! This node's Raft agreement on the membership: the raft core
//! (`raft_core.rs`) behind a lock, the inbox of messages peers sent with
//! `CLUSTER RAFT`.
//! [`RaftAgreement::advance`] steps and ticks the core and persists its state
//! in `<dir>/raft.json`; the raft task (`server/raft_task.rs`) calls it and
//! sends the resulting messages over the peer connection pool.
//!
//! Wire form: `CLUSTER RAFT <group> <message>...`, each message a
//! protobuf-encoded raft `Message`. It is accepted only on an authenticated
//! peer link (the `CLUSTER PROXY-ORIGIN` handshake proved the cluster secret,
//! see `peer_auth`). A message that fails to decode is logged and dropped.

use std::path::PathBuf;

use bytes::Bytes;
use parking_lot::Mutex;
use raft::prelude::Message;
use tracing::warn;

use super::membership::{Agreement, Membership, Observation};
use super::raft_core::{Core, CoreError, Output, Status};
use super::raft_store;
use crate::config::Settings;
use crate::store::now_ms;

/// Errors starting the agreement.
#[derive(Debug, thiserror::Error)]
pub enum RaftStartError {
    /// `raft.json` could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// raft refused the stored state.
    #[error("{0}")]
    Core(#[from] CoreError),
}

/// This node's Raft agreement: the core behind a lock and the inbox of peer
/// messages.
#[derive(Debug)]
pub struct RaftAgreement {
    core: Mutex<Core>,
    inbox: Mutex<Vec<(String, Message)>>,
    wake: tokio::sync::Notify,
    dir: PathBuf,
}

impl RaftAgreement {
    /// Loads `raft.json` from the data directory, or starts blank, serving
    /// `last` (the membership `nodes.json` remembers) until a group adds it.
    pub fn new(
        settings: &Settings,
        id: &str,
        last: &Membership,
    ) -> Result<RaftAgreement, RaftStartError> {
        let stored = raft_store::load(&settings.dir)?.unwrap_or_else(|| {
            raft_store::RaftStorage::blank(raft_store::SnapData {
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
            core: Mutex::new(core),
            inbox: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            dir: settings.dir.clone(),
        })
    }

    /// Role, term, leader, configuration size and group.
    pub fn status(&self) -> Status {
        self.core.lock().status()
    }

    /// The raft voters' node ids.
    pub fn voters(&self) -> Vec<String> {
        self.core.lock().voters()
    }

    /// The raft voters' and learners' node ids (whom the lease task asks).
    pub fn configuration(&self) -> (Vec<String>, Vec<String>) {
        self.core.lock().configuration()
    }

    /// The group name this node announces by gossip.
    pub fn group(&self) -> String {
        self.core.lock().group().to_string()
    }

    /// Sets the node timeout (`cluster-node-timeout`, ms) of the removal
    /// rule (the gossip task, every round).
    pub fn set_node_timeout(&self, ms: u64) {
        self.core.lock().set_node_timeout(ms);
    }

    /// Queues the messages of one `CLUSTER RAFT` command. Undecodable
    /// messages are logged and dropped.
    pub fn deliver(&self, group: &[u8], msgs: &[Bytes]) {
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
    }

    /// Waits until a peer message or a new observation arrived.
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Feeds the core the queued peer messages and `ticks` clock ticks
    /// (`now` in Unix ms), then persists its new state. Returns the
    /// messages to send, or `None` when the state could not be persisted:
    /// without durable state this node must not vote or acknowledge.
    pub fn advance(&self, now: u64, ticks: u32) -> Option<Output> {
        let inbox = std::mem::take(&mut *self.inbox.lock());
        let out = {
            let mut core = self.core.lock();
            for (group, m) in inbox {
                core.step(&group, m);
            }
            core.tick(now, ticks);
            core.take_output()
        };
        if let Some(f) = &out.persist {
            if let Err(e) = raft_store::save(&self.dir, f) {
                warn!("cannot persist raft state in {}: {e}", self.dir.display());
                return None;
            }
        }
        Some(out)
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
}
