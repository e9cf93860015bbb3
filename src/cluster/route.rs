//! Request routing in cluster mode.
//!
//! [`decide`] runs inside `cmd::execute` (synchronously, no lock held) and
//! uses the command table's key positions to find the slots a command touches:
//!
//! - every key on this node: run here;
//! - one slot owned elsewhere: `-MOVED slot host:port` when `cluster-redirect`
//!   is on (or inside MULTI), else a [`Plan::Forward`] to the owner;
//! - keys in several slots: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH become a
//!   [`Plan::Split`] (one sub-command per owner, replies joined) unless all keys
//!   are local; any other command gets `-CROSSSLOT`.
//!
//! Plans run in the connection's async loop ([`run`]) after the synchronous batch
//! returned (`After::Route`), so no lock or gate is held while waiting on a peer.
//! Peer requests go through the multiplexed links of [`super::pool::Pool`];
//! each link announces itself with `CLUSTER PROXY-ORIGIN`, so the receiving
//! node executes proxied commands locally instead of routing them again (at
//! most one hop, no loops).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use redis_protocol::resp2::types::OwnedFrame;

use super::{Cluster, Owner};
use crate::cmd::table::Command;
use crate::error::CmdError;
use crate::resp::Reply;
use crate::server::{Client, Shared};

/// How the replies of a split command are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// MGET: values put back in key order.
    Values,
    /// MSET: `+OK` when every part said OK.
    Ok,
    /// DEL/UNLINK/EXISTS/TOUCH: sum of the integer replies.
    Sum,
}

/// Async work for the connection loop.
#[derive(Debug)]
pub enum Plan {
    /// Send the command to the owner and relay its reply unchanged.
    Forward {
        /// Owner's RESP address.
        addr: SocketAddr,
        /// The full command.
        args: Vec<Bytes>,
    },
    /// Run one sub-command per owner and join the replies.
    Split {
        /// How to join.
        join: Join,
        /// The original command (name at 0).
        args: Vec<Bytes>,
        /// Per owner (`None`: this node): the argument indexes of its keys.
        groups: Vec<(Option<SocketAddr>, Vec<usize>)>,
        /// Arguments per key (2 for MSET's key/value pairs).
        span: usize,
    },
}

/// What `execute` must do with a command.
#[derive(Debug)]
pub enum Decision {
    /// Run it here.
    Local,
    /// Answer this error.
    Reject(CmdError),
    /// Hand it to the connection loop.
    Route(Plan),
}

fn moved(slot: u16, addr: &str) -> CmdError {
    CmdError::Other(format!("MOVED {slot} {addr}"))
}

fn crossslot() -> CmdError {
    CmdError::Other("CROSSSLOT Keys in request don't hash to the same slot".into())
}

fn down() -> CmdError {
    CmdError::Other("CLUSTERDOWN Hash slot not served".into())
}

fn split_join(name: &str) -> Option<(Join, usize)> {
    match name {
        "mget" => Some((Join::Values, 1)),
        "mset" => Some((Join::Ok, 2)),
        "del" | "unlink" | "exists" | "touch" => Some((Join::Sum, 1)),
        _ => None,
    }
}

/// Routes one command (see the module documentation).
pub fn decide(
    cluster: &Cluster,
    cmd: &Command,
    args: &[Bytes],
    redirect: bool,
    in_multi: bool,
) -> Decision {
    let positions = cmd.key_positions(args);
    let Some(&first) = positions.first() else {
        return Decision::Local;
    };
    let slot = crate::store::key_slot(&args[first]);
    let single = positions
        .iter()
        .all(|&p| crate::store::key_slot(&args[p]) == slot);
    let view = cluster.view();
    if single {
        return match view.owner(slot) {
            Owner::Local => Decision::Local,
            Owner::Remote(text, addr) => {
                if redirect || in_multi {
                    Decision::Reject(moved(slot, &text))
                } else {
                    Decision::Route(Plan::Forward {
                        addr,
                        args: args.to_vec(),
                    })
                }
            }
            Owner::Down => Decision::Reject(down()),
        };
    }
    let Some((join, span)) = split_join(cmd.name) else {
        return Decision::Reject(crossslot());
    };
    if !(args.len() - 1).is_multiple_of(span) {
        // Malformed (MSET with a key but no value): the handler answers it.
        return Decision::Local;
    }
    let mut groups: Vec<(Option<SocketAddr>, Vec<usize>)> = Vec::new();
    for &p in &positions {
        let target = match view.owner(crate::store::key_slot(&args[p])) {
            Owner::Local => None,
            Owner::Remote(_, addr) => Some(addr),
            Owner::Down => return Decision::Reject(down()),
        };
        match groups.iter_mut().find(|g| g.0 == target) {
            Some(g) => g.1.push(p),
            None => groups.push((target, vec![p])),
        }
    }
    if groups.len() == 1 && groups[0].0.is_none() {
        return Decision::Local;
    }
    if redirect || in_multi {
        return Decision::Reject(crossslot());
    }
    Decision::Route(Plan::Split {
        join,
        args: args.to_vec(),
        groups,
        span,
    })
}

fn peer_error(addr: SocketAddr, e: &std::io::Error) -> String {
    format!("CLUSTERDOWN cannot reach the owner {addr}: {e}")
}

/// Executes a plan for `client`, appending the reply to `reply`.
pub async fn run(shared: &Arc<Shared>, client: &mut Client, reply: &mut Reply, plan: Plan) {
    let Some(cluster) = shared.cluster.get() else {
        reply.error("CLUSTERDOWN The cluster is down");
        return;
    };
    match plan {
        Plan::Forward { addr, args } => {
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_ref()).collect();
            match cluster
                .pool
                .request(shared, addr, reply.resp3(), &refs)
                .await
            {
                Ok(frame) => reply.buf.extend_from_slice(&frame),
                Err(e) => reply.error(&peer_error(addr, &e)),
            }
        }
        Plan::Split {
            join,
            args,
            groups,
            span,
        } => {
            let mut parts = Vec::with_capacity(groups.len());
            for (target, positions) in &groups {
                let mut sub: Vec<Bytes> = vec![args[0].clone()];
                for &p in positions {
                    sub.extend(args.get(p..p + span).unwrap_or_default().iter().cloned());
                }
                let frame = match target {
                    None => Ok(run_local(shared, client, sub)),
                    Some(addr) => {
                        let refs: Vec<&[u8]> = sub.iter().map(|a| a.as_ref()).collect();
                        cluster
                            .pool
                            .request(shared, *addr, false, &refs)
                            .await
                            .map_err(|e| peer_error(*addr, &e))
                    }
                };
                parts.push(frame.and_then(|f| {
                    redis_protocol::resp2::decode::decode(&f)
                        .ok()
                        .flatten()
                        .map(|(fr, _)| fr)
                        .ok_or_else(|| "ERR bad reply from a peer".to_string())
                }));
            }
            join_replies(reply, join, &args, &groups, parts);
        }
    }
}

/// Runs a sub-command whose keys are all local, returning its RESP2 reply.
fn run_local(shared: &Arc<Shared>, client: &mut Client, args: Vec<Bytes>) -> Bytes {
    let mut out = Reply::new();
    let _gate = shared.gate.read();
    let mut ctx = crate::cmd::Ctx {
        shared,
        client,
        out: &mut out,
        now_ms: crate::store::now_ms(),
        after: None,
        exclusive: false,
    };
    crate::cmd::execute(&mut ctx, args);
    out.buf.freeze()
}

fn join_replies(
    reply: &mut Reply,
    join: Join,
    args: &[Bytes],
    groups: &[(Option<SocketAddr>, Vec<usize>)],
    parts: Vec<Result<OwnedFrame, String>>,
) {
    let mut frames = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Ok(OwnedFrame::Error(e)) => return reply.error(&e),
            Ok(f) => frames.push(f),
            Err(e) => return reply.error(&e),
        }
    }
    match join {
        Join::Values => {
            let mut values: Vec<Option<Vec<u8>>> = vec![None; args.len()];
            for ((_, positions), frame) in groups.iter().zip(frames) {
                let OwnedFrame::Array(items) = frame else {
                    return reply.error("ERR bad reply from a peer");
                };
                for (&p, item) in positions.iter().zip(items) {
                    if let OwnedFrame::BulkString(b) = item {
                        values[p] = Some(b);
                    }
                }
            }
            let keys: usize = groups.iter().map(|g| g.1.len()).sum();
            reply.array_len(keys);
            for v in values.iter().skip(1).take(keys) {
                match v {
                    Some(b) => reply.bulk(b),
                    None => reply.null(),
                }
            }
        }
        Join::Ok => reply.ok(),
        Join::Sum => {
            let total: i64 = frames
                .iter()
                .map(|f| match f {
                    OwnedFrame::Integer(n) => *n,
                    _ => 0,
                })
                .sum();
            reply.int(total);
        }
    }
}
