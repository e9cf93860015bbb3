//! The forwarding shell of cluster routing, one for every request that does
//! not run here: it carries out `cluster::route`'s decisions.
//!
//! A command to forward is sent at once, inside the batch ([`start`]): its
//! reply is awaited later ([`settle`]), so the commands a client pipelined to
//! other nodes travel together (one write per peer link) instead of one round
//! trip each. Replies keep the client's order: each in-flight reply goes back
//! at the place of the output where its command stood. Order of effects is
//! kept too: a command that would run on this node (or any other plan) waits
//! until every forwarded command before it is answered (the dispatcher hands
//! it back), and a client's forwarded commands to one peer share one link, so
//! the peer runs them in order. Only consecutive commands forwarded to
//! different peers run concurrently, as with a cluster client pipelining to
//! several nodes.
//!
//! Other plans run in the connection's async loop ([`run`]) after the
//! synchronous batch returned (`After::Route`), so no lock or gate is held
//! while waiting on a peer: a held request decides its route again every
//! `route::HOLD_STEP` and runs here, through the dispatcher, once this node
//! serves its slot. Peer requests go through the multiplexed links of
//! `cluster::pool::Pool`; each link announces itself with
//! `CLUSTER PROXY-ORIGIN`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

use crate::cluster::pool::InFlightReply;
use crate::cluster::route::{
    decide, tryagain, Decision, Forwarding, Join, RouteContext, RoutedCommand, HOLD_LIMIT,
    HOLD_STEP, PATIENCE,
};
use crate::cmd::client::Client;
use crate::cmd::{After, Dispatched, Dispatcher, Shared};
use crate::resp::{decode_reply, Reply, ReplyValue};

fn peer_error(addr: SocketAddr, e: &std::io::Error) -> String {
    format!("CLUSTERDOWN cannot reach the owner {addr}: {e}")
}

/// Sends a forwarded command on its way without waiting for its reply (the
/// connection collects it with [`settle`] before writing its output). Any
/// other plan is handed back, to be run by [`run`] once nothing is in flight.
pub fn start(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    plan: Box<RoutedCommand>,
) -> Option<Box<RoutedCommand>> {
    let (Forwarding::Forward(addr), Some(cluster)) = (&plan.route, shared.cluster.get()) else {
        return Some(plan);
    };
    let Some(hop) = next_hop(client) else {
        tracing::debug!("request forwarded too many times: TRYAGAIN");
        if !plan.silent {
            reply.error(&tryagain().to_string());
        }
        return None;
    };
    let pending = cluster
        .pool
        .submit(shared, *addr, reply.resp3(), hop, lane(client), &plan.args);
    client.in_flight.entries.push(InFlightReply {
        at: reply.buf.len(),
        addr: *addr,
        silent: plan.silent,
        reply: pending,
    });
    None
}

/// Waits for every reply [`start`] left in flight and puts each at its place
/// in `reply`.
pub async fn settle(client: &mut Client, reply: &mut Reply) {
    let mut entries = std::mem::take(&mut client.in_flight.entries);
    let Some(base) = entries.first().map(|e| e.at) else {
        return;
    };
    // Output of commands that came after the first forwarded one.
    let later = if base < reply.buf.len() {
        let later = reply.buf[base..].to_vec();
        reply.buf.truncate(base);
        later
    } else {
        Vec::new()
    };
    let ends: Vec<usize> = entries
        .iter()
        .skip(1)
        .map(|e| e.at - base)
        .chain([later.len()])
        .collect();
    for (e, end) in entries.drain(..).zip(ends) {
        let start = e.at - base;
        match e.reply.reply().await {
            _ if e.silent => {}
            Ok(frame) => reply.buf.extend_from_slice(&frame),
            Err(err) => reply.error(&peer_error(e.addr, &err)),
        }
        reply.buf.extend_from_slice(&later[start..end]);
    }
    // Keep the allocation for the next batch.
    client.in_flight.entries = entries;
}

/// The link lane of `client`'s requests: one lane per client keeps its
/// forwarded commands to a peer on one link, in order.
fn lane(client: &Client) -> usize {
    client.id() as usize
}

/// Executes a plan for `client`, appending the reply to `reply` (nothing
/// when the plan is silent). Nothing may be in flight for `client`.
pub async fn run(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    plan: RoutedCommand,
) {
    let mark = reply.buf.len();
    let silent = plan.silent;
    Box::pin(run_plan(shared, client, reply, plan.route, plan.args)).await;
    if silent {
        reply.buf.truncate(mark);
    }
}

/// Waits for a held command's route to settle, then runs it.
async fn hold(shared: &Arc<Shared>, client: &mut Client, reply: &mut Reply, args: Vec<Bytes>) {
    let (Some(cluster), Ok(found)) = (
        shared.cluster.get(),
        crate::cmd::dispatch::resolve_raw(&args),
    ) else {
        reply.error("CLUSTERDOWN The cluster is down");
        return;
    };
    let start = std::time::Instant::now();
    let redirect = shared.config.read().cluster_redirect;
    let keys = found.cmd.key_positions(&args);
    loop {
        tokio::time::sleep(HOLD_STEP).await;
        let context = RouteContext {
            redirect,
            in_multi: false,
            proxied: client.proxied,
            patient: start.elapsed() >= PATIENCE,
        };
        match decide(cluster, found.cmd.route_shape(), &keys, &args, context) {
            Decision::Route(Forwarding::Hold) if start.elapsed() < HOLD_LIMIT => continue,
            Decision::Route(Forwarding::Hold) => {
                tracing::debug!(
                    cmd = found.cmd.name,
                    proxied = client.proxied,
                    "request held too long: TRYAGAIN"
                );
                return reply.error(&tryagain().to_string());
            }
            Decision::Reject(e) => return reply.error(&e.to_string()),
            Decision::Route(route) => {
                return Box::pin(run_plan(shared, client, reply, route, args)).await
            }
            Decision::Local => break,
        }
    }
    // Runs it here, taking the gate like the connection loop does (its route
    // is decided again under the gate by `execute`).
    let after = execute_here(shared, client, reply, args);
    if let Some(After::Route(plan)) = after {
        run(shared, client, reply, *plan).await;
    }
}

/// Executes a command on this node through the dispatcher (nothing is in
/// flight for `client` here, so it always runs).
fn execute_here(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    args: Vec<Bytes>,
) -> Option<After> {
    let now = crate::store::now_ms();
    match Dispatcher::new(shared).dispatch(client, reply, now, args) {
        Dispatched::Done(after) => after,
        Dispatched::AfterInFlight(_) => {
            reply.error(&tryagain().to_string());
            None
        }
    }
}

/// The hop level of the links a request from `client` is forwarded on, or
/// `None` when it already travelled the most hops (see `cluster::pool`).
fn next_hop(client: &Client) -> Option<u8> {
    let hop = client.proxy_hop.saturating_add(1);
    (hop <= crate::cluster::pool::MAX_HOPS).then_some(hop)
}

async fn run_plan(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    route: Forwarding,
    args: Vec<Bytes>,
) {
    let Some(cluster) = shared.cluster.get() else {
        reply.error("CLUSTERDOWN The cluster is down");
        return;
    };
    match route {
        Forwarding::Hold => hold(shared, client, reply, args).await,
        Forwarding::Forward(addr) => {
            let Some(hop) = next_hop(client) else {
                tracing::debug!(%addr, "request forwarded too many times: TRYAGAIN");
                reply.error(&tryagain().to_string());
                return;
            };
            let pending =
                cluster
                    .pool
                    .submit(shared, addr, reply.resp3(), hop, lane(client), &args);
            match pending.reply().await {
                Ok(frame) => reply.buf.extend_from_slice(&frame),
                Err(e) => reply.error(&peer_error(addr, &e)),
            }
        }
        Forwarding::Split { join, groups, span } => {
            let mut parts = Vec::with_capacity(groups.len());
            for (target, positions) in &groups {
                let mut sub: Vec<Bytes> = vec![args[0].clone()];
                for &p in positions {
                    sub.extend(args.get(p..p + span).unwrap_or_default().iter().cloned());
                }
                let frame = match target {
                    None => {
                        // Local keys; a slot that started its flip meanwhile
                        // is routed (held, then forwarded) like any command.
                        let mut out = Reply::new();
                        if let Some(After::Route(plan)) =
                            execute_here(shared, client, &mut out, sub)
                        {
                            run(shared, client, &mut out, *plan).await;
                        }
                        Ok(out.buf.freeze())
                    }
                    Some(addr) => match next_hop(client) {
                        Some(hop) => {
                            let refs: Vec<&[u8]> = sub.iter().map(|a| a.as_ref()).collect();
                            cluster
                                .pool
                                .request_at(shared, *addr, false, hop, &refs)
                                .await
                                .map_err(|e| peer_error(*addr, &e))
                        }
                        None => Err(tryagain().to_string()),
                    },
                };
                parts.push(frame.and_then(|f| {
                    decode_reply(&f).map_err(|_| "ERR bad reply from a peer".to_string())
                }));
            }
            join_replies(reply, join, &args, &groups, parts);
        }
    }
}

fn join_replies(
    reply: &mut Reply,
    join: Join,
    args: &[Bytes],
    groups: &[(Option<SocketAddr>, Vec<usize>)],
    parts: Vec<Result<ReplyValue, String>>,
) {
    let mut frames = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            Ok(ReplyValue::Error(e)) => return reply.error(&e),
            Ok(f) => frames.push(f),
            Err(e) => return reply.error(&e),
        }
    }
    match join {
        Join::Values => {
            let mut values: Vec<Option<Vec<u8>>> = vec![None; args.len()];
            for ((_, positions), frame) in groups.iter().zip(frames) {
                let ReplyValue::Array(items) = frame else {
                    return reply.error("ERR bad reply from a peer");
                };
                for (&p, item) in positions.iter().zip(items) {
                    if let ReplyValue::BulkString(b) = item {
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
                    ReplyValue::Integer(n) => *n,
                    _ => 0,
                })
                .sum();
            reply.int(total);
        }
    }
}
