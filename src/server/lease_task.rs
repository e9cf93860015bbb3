//! The lease task: keeps this node's majority lease (`cluster/lease.rs`)
//! fresh. Every D/4 (D = `cluster-node-timeout`) it reads the raft
//! configuration, and asks every other voter and learner (a learner's grant
//! counts once it is promoted: a promotion does not interrupt the lease)
//! `CLUSTER LEASE <id> <epoch>` over the peer
//! pool's control links, recording the monotonic send time of each request
//! with the answer. Requests run concurrently and each is bounded by the
//! pool's node-timeout waits, so a slow voter delays nobody. A node without
//! the lease asks every [`RETRY`], and at once when its installed epoch
//! changed (a newcomer serves moments after it adopted its membership) or
//! `cluster-node-timeout` did (a grant sent under a longer D may not cover
//! the shorter one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::cluster::lease;
use crate::cluster::Cluster;
use crate::node::Node;

/// Shortest pause between two rounds of requests.
const MIN_ROUND: Duration = Duration::from_millis(10);
/// Pause between two rounds while the lease is not held.
const RETRY: Duration = Duration::from_millis(50);

/// Asks the voters for the lease every D/4 until shutdown.
pub async fn run_lease(shared: Arc<Node>, cluster: Arc<Cluster>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let (voters, learners) = cluster.raft.configuration();
        cluster.lease.set_configuration(voters, learners);
        let (epoch, voters) = cluster.lease.request();
        let view = cluster.view();
        let epoch = epoch.to_string();
        for voter in voters {
            let Some((_, addr)) = view.addr_of(&voter) else {
                continue;
            };
            let (shared, cluster, epoch) = (shared.clone(), cluster.clone(), epoch.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                let args: [&[u8]; 4] = [
                    b"CLUSTER",
                    b"LEASE",
                    cluster.id.as_bytes(),
                    epoch.as_bytes(),
                ];
                match cluster.pool.request_control(&shared, addr, &args).await {
                    Ok(reply) => match lease::parse_reply(&reply) {
                        Some((granted, at)) => {
                            debug!(
                                "cluster lease: {voter} answered granted={granted} epoch={at} after {:?}",
                                sent.elapsed()
                            );
                            cluster.lease.answer(&voter, sent, granted, at)
                        }
                        None => debug!(
                            "cluster lease: {voter} answered {}",
                            String::from_utf8_lossy(&reply).trim_end()
                        ),
                    },
                    Err(e) => debug!("cluster lease: {voter}: {e}"),
                }
            });
        }
        let mut round = (cluster.lease.timeout() / 4).max(MIN_ROUND);
        if !cluster.lease.holds() {
            round = round.min(RETRY);
        }
        tokio::select! {
            _ = tokio::time::sleep(round) => {}
            _ = cluster.lease.changed() => {}
            _ = stop.changed() => break,
        }
    }
}
