//! Request routing in cluster mode.
//!
//! [`decide`] runs inside `cmd::execute` (synchronously, no lock held) and
//! uses the command table's key positions to find the slots a command touches:
//!
//! - every key on this node: run here;
//! - one slot owned elsewhere: `-MOVED slot host:port` when `cluster-redirect`
//!   is on (or inside MULTI), else a [`Route::Forward`] to the owner
//!   (SSUBSCRIBE/SUNSUBSCRIBE always get `-MOVED`: a subscription cannot be proxied);
//! - keys in several slots: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH become a
//!   [`Route::Split`] (one sub-command per owner, replies joined) unless all keys
//!   are local; any other command gets `-CROSSSLOT`;
//! - a slot mid-migration (`migrate::SlotState`): migrating ones run here,
//!   importing ones go to the source, paused ones wait ([`Route::Hold`]),
//!   moved ones go to the owner, dropped imports to their source.
//!
//! A command to forward is sent at once, inside the batch ([`start`]): its
//! reply is awaited later ([`settle`]), so the commands a client pipelined to
//! other nodes travel together (one write per peer link) instead of one round
//! trip each. Replies keep the client's order: each in-flight reply goes back
//! at the place of the output where its command stood. Order of effects is
//! kept too: a command that would run on this node (or any other plan) waits
//! until every forwarded command before it is answered (`cmd::execute` hands
//! it back), and a client's forwarded commands to one peer share one link, so
//! the peer runs them in order. Only consecutive commands forwarded to
//! different peers run concurrently, as with a cluster client pipelining to
//! several nodes.
//!
//! Other plans run in the connection's async loop ([`run`]) after the
//! synchronous batch returned (`After::Route`), so no lock or gate is held
//! while waiting on a peer. Peer requests go through the multiplexed links of
//! [`super::pool::Pool`]; each link announces itself with
//! `CLUSTER PROXY-ORIGIN`. The receiving node executes proxied commands
//! locally unless a migration state sends them on (see [`target`] for how
//! disagreeing views are kept from bouncing a request).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis_protocol::resp2::types::OwnedFrame;

use super::migrate::SlotState;
use super::pool::Pending;
use super::{Cluster, Owner, View};
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

/// How a command that does not run here travels.
#[derive(Debug)]
pub enum Route {
    /// Send the command to the owner and relay its reply unchanged.
    Forward(SocketAddr),
    /// Run one sub-command per owner and join the replies.
    Split {
        /// How to join.
        join: Join,
        /// Per owner (`None`: this node): the argument indexes of its keys.
        groups: Vec<(Option<SocketAddr>, Vec<usize>)>,
        /// Arguments per key (2 for MSET's key/value pairs).
        span: usize,
    },
    /// Wait until the slot's route is settled (a slot paused for its
    /// migration flip, or a proxied request while views disagree), then route.
    Hold,
}

/// A routed command, handed from `cmd::execute` to the connection loop.
#[derive(Debug)]
pub struct Plan {
    /// Where it goes.
    pub route: Route,
    /// The full command (name at 0).
    pub args: Vec<Bytes>,
    /// Its reply is dropped (CLIENT REPLY OFF or SKIP).
    pub silent: bool,
}

/// What `execute` must do with a command.
#[derive(Debug)]
pub enum Decision {
    /// Run it here.
    Local,
    /// Answer this error.
    Reject(CmdError),
    /// Hand it to the connection loop.
    Route(Route),
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

/// The routing context of one command.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ask {
    /// `cluster-redirect yes`: answer `-MOVED` instead of forwarding.
    pub redirect: bool,
    /// Queued inside MULTI (transactions run on one node).
    pub in_multi: bool,
    /// Arrived on a peer's proxy connection.
    pub proxied: bool,
    /// A held request waited long enough: forward it by this node's view.
    pub patient: bool,
}

/// Where one slot's requests go from this node.
enum Target<'v> {
    Local,
    /// Another node: its `host:port` (for `-MOVED`) and socket address.
    Remote(Cow<'v, str>, SocketAddr),
    /// Wait and decide again (slot paused for its flip, views disagree, or
    /// the node holding the slot is not known here yet).
    Hold,
    Down,
}

/// The route of `slot`, migration states first (see `migrate::SlotState`).
///
/// A proxied request is normally executed here: the sender routed it by its
/// view. When this node's view says another node serves the slot and no
/// migration state explains it, the two views disagree (one node adopted a
/// membership the other has not yet): the request is held until this view
/// changes or for [`PATIENCE`], then forwarded, so no request runs on a node
/// without the slot's data and two nodes never bounce a request quickly.
fn target(view: &View, slot: u16, ask: Ask) -> Target<'_> {
    let by_map = |hold_if_proxied: bool| match view.owner(slot) {
        Owner::Local => Target::Local,
        // A peer whose view makes this node a member routed it here, but this
        // node is no member of its own view yet (a newcomer that lags): it
        // waits for its view however long (<= 5 s), as forwarding by the
        // stale view would bounce the request back.
        Owner::Remote(..) | Owner::Down
            if hold_if_proxied && ask.proxied && (!ask.patient || view.me.is_none()) =>
        {
            Target::Hold
        }
        Owner::Remote(text, addr) => Target::Remote(Cow::Borrowed(text), addr),
        // Not gossiped yet (a node that just joined): wait for its address.
        Owner::Unknown => Target::Hold,
        // A peer routed it here but this node has no ring yet (it joined
        // and has not adopted a membership): wait for it.
        Owner::Down if ask.proxied => Target::Hold,
        Owner::Down => Target::Down,
    };
    // No migration (the common case): no hashing of the slot.
    let state = if view.states.is_empty() {
        None
    } else {
        view.states.get(&slot)
    };
    match state {
        Some(SlotState::Migrating) => Target::Local,
        Some(SlotState::Paused) => Target::Hold,
        Some(SlotState::Importing(src)) => match view.addr_of(src) {
            Some((text, addr)) => Target::Remote(Cow::Owned(text), addr),
            // The holder is not known here yet: never serve without the data.
            None => Target::Hold,
        },
        Some(SlotState::Moved) => by_map(false),
        // Follow the data while the source hands it to the new owner.
        Some(SlotState::Dropped(src)) => match view.addr_of(src).filter(|_| view.is_alive(src)) {
            Some((text, addr)) => Target::Remote(Cow::Owned(text), addr),
            None => by_map(false),
        },
        None => by_map(true),
    }
}

/// How long a proxied request is held when views disagree before it is forwarded.
const PATIENCE: Duration = Duration::from_millis(300);
/// How long a request waits for a paused slot (or a holder whose address is
/// not known yet) before `-TRYAGAIN`.
pub(crate) const HOLD_LIMIT: Duration = Duration::from_secs(5);
/// How often a held request decides its route again.
pub(crate) const HOLD_STEP: Duration = Duration::from_millis(2);

/// Where a memcached request for `slot` runs, by the same migration states
/// as a RESP command's (the memcached proxy does its own forwarding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRoute<'v> {
    /// On this node.
    Local,
    /// On another node: its `host:port` (borrowed from the view when it can
    /// be: no allocation per request) and socket address.
    Remote(Cow<'v, str>, SocketAddr),
    /// Wait and decide again (a flip pause, an unknown holder, a lagging view).
    Hold,
    /// Nobody serves the slot.
    Down,
}

/// The route of a memcached request for `slot`; `proxied` when a peer sent
/// it (it then waits rather than bounce while this node's view lags).
pub fn slot_route(view: &View, slot: u16, proxied: bool) -> SlotRoute<'_> {
    let ask = Ask {
        proxied,
        patient: true,
        ..Ask::default()
    };
    match target(view, slot, ask) {
        Target::Local => SlotRoute::Local,
        Target::Remote(text, addr) => SlotRoute::Remote(text, addr),
        Target::Hold => SlotRoute::Hold,
        Target::Down => SlotRoute::Down,
    }
}

fn tryagain() -> CmdError {
    CmdError::Other("TRYAGAIN Slot is being migrated, try again".into())
}

/// `Ok` when this node serves `slot` now (a request for it may run here);
/// else the error that sends the requester on: `-MOVED slot host:port`,
/// `-TRYAGAIN` (wait and decide again) or `-CLUSTERDOWN`. Used by the
/// memcached proxy's receiving side, where only the requester forwards.
pub fn serve_here(view: &View, slot: u16, proxied: bool) -> Result<(), CmdError> {
    match slot_route(view, slot, proxied) {
        SlotRoute::Local => Ok(()),
        SlotRoute::Remote(text, _) => Err(moved(slot, &text)),
        SlotRoute::Hold => Err(tryagain()),
        SlotRoute::Down => Err(down()),
    }
}

/// Routes one command (see the module documentation).
pub fn decide(cluster: &Cluster, cmd: &Command, args: &[Bytes], ask: Ask) -> Decision {
    let positions = cmd.key_positions(args);
    let Some(&first) = positions.first() else {
        return Decision::Local;
    };
    if !ask.proxied && !super::membership::Agreement::has_quorum(&cluster.raft) {
        return Decision::Reject(CmdError::Other("CLUSTERDOWN The cluster is down".into()));
    }
    let slot = crate::store::key_slot(&args[first]);
    let single = positions
        .iter()
        .all(|&p| crate::store::key_slot(&args[p]) == slot);
    let view = cluster.view();
    // A subscription lives on the client's own connection: always redirect.
    let redirect = (!ask.proxied && (ask.redirect || ask.in_multi))
        || matches!(cmd.name, "ssubscribe" | "sunsubscribe");
    let hold = || {
        if ask.in_multi {
            Decision::Reject(tryagain())
        } else {
            Decision::Route(Route::Hold)
        }
    };
    if single {
        return match target(&view, slot, ask) {
            Target::Local => Decision::Local,
            Target::Remote(text, addr) => {
                if redirect {
                    Decision::Reject(moved(slot, &text))
                } else {
                    if ask.proxied {
                        tracing::trace!(slot, %addr, epoch = view.membership.epoch, state = ?view.states.get(&slot), patient = ask.patient, "forwarding a proxied request");
                    }
                    Decision::Route(Route::Forward(addr))
                }
            }
            Target::Hold => hold(),
            Target::Down => Decision::Reject(down()),
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
        let to = match target(&view, crate::store::key_slot(&args[p]), ask) {
            Target::Local => None,
            Target::Remote(_, addr) => Some(addr),
            Target::Hold => return hold(),
            Target::Down => return Decision::Reject(down()),
        };
        match groups.iter_mut().find(|g| g.0 == to) {
            Some(g) => g.1.push(p),
            None => groups.push((to, vec![p])),
        }
    }
    if groups.len() == 1 && groups[0].0.is_none() {
        return Decision::Local;
    }
    if redirect {
        return Decision::Reject(crossslot());
    }
    Decision::Route(Route::Split { join, groups, span })
}

fn peer_error(addr: SocketAddr, e: &std::io::Error) -> String {
    format!("CLUSTERDOWN cannot reach the owner {addr}: {e}")
}

/// Replies a connection still waits for from commands forwarded by
/// [`start`], in the order the client sent the commands.
#[derive(Debug, Default)]
pub struct InFlight {
    entries: Vec<InFlightReply>,
}

#[derive(Debug)]
struct InFlightReply {
    /// Where in the reply buffer the command's reply belongs: output written
    /// after the command was sent (e.g. errors of later commands) follows it.
    at: usize,
    /// The peer, for the error when it cannot be reached.
    addr: SocketAddr,
    /// CLIENT REPLY OFF/SKIP: dropped.
    silent: bool,
    reply: Pending,
}

impl InFlight {
    /// True when no forwarded reply is outstanding.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of outstanding forwarded replies.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Sends a forwarded command on its way without waiting for its reply (the
/// connection collects it with [`settle`] before writing its output). Any
/// other plan is handed back, to be run by [`run`] once nothing is in flight.
pub fn start(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    plan: Box<Plan>,
) -> Option<Box<Plan>> {
    let (Route::Forward(addr), Some(cluster)) = (&plan.route, shared.cluster.get()) else {
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
pub async fn run(shared: &Arc<Shared>, client: &mut Client, reply: &mut Reply, plan: Plan) {
    let mark = reply.buf.len();
    let silent = plan.silent;
    Box::pin(run_plan(shared, client, reply, plan.route, plan.args)).await;
    if silent {
        reply.buf.truncate(mark);
    }
}

/// Waits for a held command's route to settle, then runs it.
async fn hold(shared: &Arc<Shared>, client: &mut Client, reply: &mut Reply, args: Vec<Bytes>) {
    let (Some(cluster), Ok(found)) = (shared.cluster.get(), crate::cmd::resolve_raw(&args)) else {
        reply.error("CLUSTERDOWN The cluster is down");
        return;
    };
    let start = std::time::Instant::now();
    let redirect = shared.config.read().cluster_redirect;
    loop {
        tokio::time::sleep(HOLD_STEP).await;
        let ask = Ask {
            redirect,
            in_multi: false,
            proxied: client.proxied,
            patient: start.elapsed() >= PATIENCE,
        };
        match decide(cluster, found.cmd, &args, ask) {
            Decision::Route(Route::Hold) if start.elapsed() < HOLD_LIMIT => continue,
            Decision::Route(Route::Hold) => {
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
    if let Some(crate::cmd::After::Route(plan)) = after {
        run(shared, client, reply, *plan).await;
    }
}

/// Executes a command on this node as the connection loop does: under the
/// shared gate, or the exclusive one for commands that need it.
fn execute_here(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    args: Vec<Bytes>,
) -> Option<crate::cmd::After> {
    let now = crate::store::now_ms();
    let gate = crate::scripting::enter_shared(shared);
    let mut ctx = crate::cmd::Ctx {
        shared,
        client,
        out: reply,
        now_ms: now,
        after: None,
        exclusive: false,
    };
    if gate.is_none() {
        crate::scripting::run_while_busy(&mut ctx, args);
        return ctx.after.take();
    }
    let Some(args) = crate::cmd::execute(&mut ctx, args) else {
        return ctx.after.take();
    };
    drop(gate);
    crate::cmd::execute_exclusive(shared, client, reply, now, args)
}

/// The hop level of the links a request from `client` is forwarded on, or
/// `None` when it already travelled the most hops (see `cluster::pool`).
fn next_hop(client: &Client) -> Option<u8> {
    let hop = client.proxy_hop.saturating_add(1);
    (hop <= super::pool::MAX_HOPS).then_some(hop)
}

async fn run_plan(
    shared: &Arc<Shared>,
    client: &mut Client,
    reply: &mut Reply,
    route: Route,
    args: Vec<Bytes>,
) {
    let Some(cluster) = shared.cluster.get() else {
        reply.error("CLUSTERDOWN The cluster is down");
        return;
    };
    match route {
        Route::Hold => hold(shared, client, reply, args).await,
        Route::Forward(addr) => {
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
        Route::Split { join, groups, span } => {
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
                        if let Some(crate::cmd::After::Route(plan)) =
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::cluster::membership::Membership;
    use crate::cluster::NodeInfo;

    fn node(id: &str, port: u16) -> NodeInfo {
        NodeInfo {
            id: id.to_string(),
            host: "127.0.0.1".into(),
            port,
            bus_port: port + 10000,
            alive: true,
            weight: 1,
            last_seen_ms: 0,
        }
    }

    /// A slot whose holder's address is not gossiped yet waits (then
    /// `-TRYAGAIN`), it is never served here nor failed at once.
    #[test]
    fn unknown_holder_holds_requests() {
        let (me, other, third) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let membership = Membership {
            epoch: 2,
            members: [(me.clone(), 1), (other.clone(), 1)].into(),
            by: me.clone(),
            ..Membership::default()
        };
        let mut view = View::new(&me, membership, vec![node(&me, 7000)], None);
        let ask = Ask::default();
        let slot_of = |mine: bool| {
            (0..crate::store::SLOTS as u16)
                .find(|&s| (view.map.owner_id(s) == Some(me.as_str())) == mine)
                .expect("slot")
        };
        let (theirs, mine) = (slot_of(false), slot_of(true));
        assert!(matches!(target(&view, theirs, ask), Target::Hold));
        // No ring yet (a newcomer): clients are told at once, peers wait.
        let empty = View::new(&me, Membership::default(), vec![node(&me, 7000)], None);
        assert!(matches!(target(&empty, 0, ask), Target::Down));
        let proxied = Ask {
            proxied: true,
            patient: true,
            ..ask
        };
        assert!(matches!(target(&empty, 0, proxied), Target::Hold));
        // A member forwards a patient proxied request by its map; a node
        // that is no member of its own view (a lagging newcomer) keeps it.
        let nodes = vec![node(&me, 7000), node(&other, 7001)];
        let member = View::new(&me, view.membership.clone(), nodes.clone(), None);
        assert!(matches!(
            target(&member, theirs, proxied),
            Target::Remote(..)
        ));
        let outsider = View::new(&third, view.membership.clone(), nodes, None);
        assert!(matches!(target(&outsider, theirs, proxied), Target::Hold));
        assert!(matches!(target(&view, mine, ask), Target::Local));
        view.states = Arc::new(HashMap::from([(mine, SlotState::Importing(third.clone()))]));
        assert!(matches!(target(&view, mine, ask), Target::Hold));
        // Once gossiped: forwarded.
        view.nodes.push(node(&third, 7002));
        assert!(matches!(target(&view, mine, ask), Target::Remote(..)));
    }
}
