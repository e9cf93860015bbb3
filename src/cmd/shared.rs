//! What a command can reach besides its connection: the node state, the
//! cluster (in cluster mode) and the scripting engines. Connection shells,
//! the forwarding code and the background tasks hold an `Arc<Shared>`;
//! the layers below see only the parts they need (`Node`, `Cluster`).

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::cluster::Cluster;
use crate::node::Node;
use crate::scripting::Scripts;

/// Where a memcached request came from, for SLOWLOG and MONITOR.
#[derive(Clone, Copy, Debug)]
pub struct McOrigin<'a> {
    /// The client's address (`ip:port`).
    pub addr: &'a str,
    /// Time the request is executed at.
    pub now_ms: u64,
}

/// Runs one memcached request (the raw request line and data block) on this
/// node for a peer's `CLUSTER MC` and returns the raw memcached reply; an
/// error (`-MOVED`, `-TRYAGAIN`, ...) when this node does not serve the
/// request's keys now. Installed by the memcached layer, which sits above
/// the command table.
pub type McExec = fn(&Arc<Shared>, &[u8], McOrigin<'_>) -> Result<Vec<u8>, crate::error::CmdError>;

/// The node as the command layer sees it (see the module documentation).
pub struct Shared {
    /// Node state (also reachable through `Deref`: `shared.store`).
    pub node: Arc<Node>,
    /// Cluster state (set once at start in cluster mode).
    pub cluster: OnceLock<Arc<Cluster>>,
    /// Lua VM, script cache and function libraries.
    pub scripts: Scripts,
    /// The memcached executor behind `CLUSTER MC` (see [`McExec`]).
    pub mc_exec: OnceLock<McExec>,
}

impl Deref for Shared {
    type Target = Node;

    #[inline]
    fn deref(&self) -> &Node {
        &self.node
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("node", &self.node).finish()
    }
}

impl Shared {
    /// Shared state around `node` (`Shared::new` sizes the node for the
    /// command table).
    pub fn with_node(node: Node) -> Arc<Shared> {
        let node = Arc::new(node);
        let sink: std::sync::Weak<Node> = Arc::downgrade(&node);
        node.store.set_event_sink(sink.clone());
        node.store.tracking.set_sink(sink);
        let scripts = Scripts::new(node.script_run.clone());
        Arc::new(Shared {
            node,
            cluster: OnceLock::new(),
            scripts,
            mc_exec: OnceLock::new(),
        })
    }

    /// SHUTDOWN / SIGTERM: a cluster member first leaves the cluster
    /// gracefully (hands its slots over, bounded by `LEAVE_LIMIT`); a second
    /// request, or a standalone node, stops at once. Either way a running
    /// script is stopped first (its hook sees the kill flag), so a busy
    /// script cannot hold the shutdown up.
    pub fn shutdown_gracefully(&self) {
        self.node.script_run.kill.store(true, Ordering::Release);
        match self.cluster.get() {
            Some(c) if !c.leaving.load(Ordering::Relaxed) => {
                tokio::spawn(crate::cluster::migrate::leave(
                    self.node.clone(),
                    c.clone(),
                    LEAVE_LIMIT,
                ));
            }
            _ => self.request_shutdown(),
        }
    }
}

/// How long a leaving cluster member waits for its slots to be handed over.
const LEAVE_LIMIT: Duration = Duration::from_secs(30);
