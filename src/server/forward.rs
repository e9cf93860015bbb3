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
//! `cluster::pool::Pool`; each link authenticates itself with the
//! `CLUSTER PROXY-ORIGIN` handshake (`cluster::peer_auth`).
//!
//! One loop carries out every forward and hold of both protocols
//! ([`follow`]), each protocol passing its pieces in as a [`Carrier`]
//! (RESP: the command, the client's output; memcached, [`run_memcached`]:
//! the `CLUSTER MC` wrapping, the reading of a peer's reply and the
//! `SERVER_ERROR` texts from `memcache::proxy`): a request is sent at most
//! `MAX_HOPS` times per decision (the first send and the `-MOVED` it
//! follows); a held one decides again through the same routing core
//! (minority fence included) every `HOLD_STEP` for at most `HOLD_LIMIT` or
//! the node timeout, whichever is shorter ([`HoldClock`]); an unreachable
//! peer fails it at once ([`unreachable`]). Splits ask every owner at once.
//! One difference remains, on the receiving side: a memcached receiver that
//! does not serve the slot answers `-MOVED`/`-TRYAGAIN` and the requester
//! follows it, where a RESP receiver forwards the command itself on the next
//! hop level. RESP keeps that because a client's pipelined commands to one
//! peer share one FIFO link: a receiver that answered `-MOVED` would run the
//! commands behind the redirected one before the requester re-sends it
//! (a write reordered during a migration).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::cluster::pool::{Destination, InFlightReply, Pending, MAX_HOPS};
use crate::cluster::route::{
    decide, tryagain, Decision, Forwarding, Join, RouteContext, RoutedCommand, HOLD_LIMIT,
    HOLD_STEP, PATIENCE,
};
use crate::cmd::client::Client;
use crate::cmd::{After, Dispatched, Dispatcher, Shared};
use crate::memcache::proxy::{self, McAnswer, McDest, McPlan};
use crate::resp::{decode_reply, Reply, ReplyValue};
use crate::store::key_slot;

/// What a peer that cannot be reached fails a request with (both
/// protocols; no retry: its failure is detected by gossip, not here).
fn unreachable(addr: SocketAddr, e: &std::io::Error) -> String {
    format!("cannot reach the owner {addr}: {e}")
}

fn peer_error(addr: SocketAddr, e: &std::io::Error) -> String {
    format!("CLUSTERDOWN {}", unreachable(addr, e))
}

/// The hold policy of both protocols: a held request decides its route
/// again every [`HOLD_STEP`], is forwarded by this node's view once
/// [`PATIENCE`] passed, and gives up (`TRYAGAIN`) after [`HOLD_LIMIT`] or
/// the node timeout (`cluster-node-timeout` when the hold starts), whichever
/// is shorter: no request is held longer than a failure takes to detect.
struct HoldClock {
    start: Instant,
    limit: std::time::Duration,
}

impl HoldClock {
    fn start(shared: &Shared) -> HoldClock {
        let node_timeout = shared.config.read().cluster_node_timeout;
        HoldClock {
            start: Instant::now(),
            limit: HOLD_LIMIT.min(std::time::Duration::from_millis(node_timeout)),
        }
    }

    /// Waits one step before deciding again.
    async fn step(&self) {
        tokio::time::sleep(HOLD_STEP).await;
    }

    /// Held long enough to be forwarded by this node's view.
    fn patient(&self) -> bool {
        self.start.elapsed() >= PATIENCE
    }

    /// Held too long: give up.
    fn expired(&self) -> bool {
        self.start.elapsed() >= self.limit
    }
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
    let to = Destination {
        addr: *addr,
        resp3: reply.resp3(),
        hop,
        lane: lane(client),
    };
    let pending = cluster
        .pool
        .submit(shared, to, blocking(&plan.args), &plan.args);
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

/// True for a blocking command (BLPOP...), which a peer may rightly leave
/// unanswered longer than the node timeout (`cluster::pool`).
fn blocking(args: &[Bytes]) -> bool {
    args.first()
        .and_then(|name| crate::cmd::command::lookup(name))
        .is_some_and(|f| f.cmd.has(crate::cmd::command::flags::BLOCKING))
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

/// A peer's answer to a forwarded request, as its protocol reads it.
enum Answer<R> {
    /// The answer for the client.
    Reply(R),
    /// That node serves the slot: send the request there.
    Moved(SocketAddr),
    /// Not served there now: wait and decide again.
    TryAgain,
}

/// Where a held request goes now, by this node's own view.
enum Next<R> {
    /// Answered (run here, or refused).
    Done(R),
    /// Send it to that node.
    Peer(SocketAddr),
    /// Wait a step and decide again.
    Wait,
}

/// What the forwarding loop ([`follow`]) needs of one protocol: how to send
/// the request and read the answer, and how to decide again by this node's
/// view (running the request here when this node serves it).
trait Carrier {
    /// What the client gets.
    type Out;
    /// Sends the request to `addr`; `Err` is the final answer (the peer
    /// cannot be reached).
    async fn send(&mut self, addr: SocketAddr) -> Result<Answer<Self::Out>, Self::Out>;
    /// Decides again through the routing core (`patient`: held long enough
    /// to be forwarded by this node's view).
    async fn decide(&mut self, patient: bool) -> Next<Self::Out>;
    /// The answer when the hold ran out (`TRYAGAIN`).
    fn gave_up(&mut self) -> Self::Out;
}

/// The forwarding loop of both protocols: sends to `to` (when known),
/// follows `-MOVED` up to [`MAX_HOPS`] sends per decision, and when told to
/// wait (or given nowhere to send) holds the request ([`HoldClock`]),
/// deciding again by this node's view until it is answered.
async fn follow<C: Carrier>(
    carrier: &mut C,
    shared: &Shared,
    mut to: Option<SocketAddr>,
) -> C::Out {
    let clock = HoldClock::start(shared);
    let mut sends = 0;
    loop {
        if let Some(addr) = to {
            sends += 1;
            match carrier.send(addr).await {
                Err(out) | Ok(Answer::Reply(out)) => return out,
                Ok(Answer::Moved(next)) if sends < MAX_HOPS => {
                    to = Some(next);
                    continue;
                }
                Ok(Answer::Moved(_) | Answer::TryAgain) => {}
            }
        }
        if clock.expired() {
            return carrier.gave_up();
        }
        clock.step().await;
        sends = 0;
        to = match carrier.decide(clock.patient()).await {
            Next::Done(out) => return out,
            Next::Peer(addr) => Some(addr),
            Next::Wait => None,
        };
    }
}

/// A RESP command on its way ([`Carrier`]): the reply goes straight into
/// the client's output. A RESP receiver that does not serve the slot
/// forwards the command itself (hop levels, `cluster::pool`), so a peer's
/// reply is always the client's answer.
struct RespCarrier<'a> {
    shared: &'a Arc<Shared>,
    client: &'a mut Client,
    reply: &'a mut Reply,
    args: Vec<Bytes>,
}

impl Carrier for RespCarrier<'_> {
    type Out = ();

    async fn send(&mut self, addr: SocketAddr) -> Result<Answer<()>, ()> {
        let (Some(cluster), Some(hop)) = (self.shared.cluster.get(), next_hop(self.client)) else {
            tracing::debug!(%addr, "request forwarded too many times: TRYAGAIN");
            self.reply.error(&tryagain().to_string());
            return Err(());
        };
        let to = Destination {
            addr,
            resp3: self.reply.resp3(),
            hop,
            lane: lane(self.client),
        };
        let pending = cluster
            .pool
            .submit(self.shared, to, blocking(&self.args), &self.args);
        match pending.reply().await {
            Ok(frame) => {
                self.reply.buf.extend_from_slice(&frame);
                Ok(Answer::Reply(()))
            }
            Err(e) => {
                self.reply.error(&peer_error(addr, &e));
                Err(())
            }
        }
    }

    async fn decide(&mut self, patient: bool) -> Next<()> {
        let (shared, client, reply) = (self.shared, &mut *self.client, &mut *self.reply);
        let (Some(cluster), Ok(found)) = (
            shared.cluster.get(),
            crate::cmd::dispatch::resolve_raw(&self.args),
        ) else {
            reply.error("CLUSTERDOWN The cluster is down");
            return Next::Done(());
        };
        let context = RouteContext {
            redirect: shared.config.read().cluster_redirect,
            in_multi: false,
            proxied: client.proxied,
            patient,
        };
        let keys = found.cmd.key_positions(&self.args);
        match decide(cluster, found.cmd.route_shape(), &keys, &self.args, context) {
            Decision::Route(Forwarding::Hold) => Next::Wait,
            Decision::Route(Forwarding::Forward(addr)) => Next::Peer(addr),
            Decision::Reject(e) => {
                reply.error(&e.to_string());
                Next::Done(())
            }
            Decision::Route(split) => {
                let args = std::mem::take(&mut self.args);
                Box::pin(run_plan(shared, client, reply, split, args)).await;
                Next::Done(())
            }
            Decision::Local => {
                // Runs it here, taking the gate like the connection loop
                // does (its route is decided again under the gate).
                let args = std::mem::take(&mut self.args);
                match execute_here(shared, client, reply, args) {
                    Some(After::Route(plan)) => {
                        Box::pin(run(shared, client, reply, *plan)).await;
                    }
                    Some(After::Migrate(plan)) => {
                        super::migrate_cmd::run(shared, reply, *plan).await;
                    }
                    _ => {}
                }
                Next::Done(())
            }
        }
    }

    fn gave_up(&mut self) {
        tracing::debug!(
            proxied = self.client.proxied,
            "request held too long: TRYAGAIN"
        );
        // A peer's request held because this node has no lease: the
        // lease's answer, not a migration's.
        let fenced = self
            .shared
            .cluster
            .get()
            .and_then(|c| crate::cluster::route::lease_fence(c).err());
        let e = fenced.unwrap_or_else(tryagain);
        self.reply.error(&e.to_string());
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
        // A request re-routed here while CLIENT PAUSE holds it: the client
        // retries (only the first dispatch of a client command waits).
        Dispatched::AfterInFlight(_) | Dispatched::Paused(_) => {
            reply.error(&tryagain().to_string());
            None
        }
    }
}

/// The hop level of the links a request from `client` is forwarded on, or
/// `None` when it already travelled the most hops (see `cluster::pool`).
fn next_hop(client: &Client) -> Option<u8> {
    let hop = client.proxy_hop.saturating_add(1);
    (hop <= MAX_HOPS).then_some(hop)
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
        Forwarding::Hold | Forwarding::Forward(_) => {
            let to = match route {
                Forwarding::Forward(addr) => Some(addr),
                _ => None,
            };
            let mut carrier = RespCarrier {
                shared,
                client,
                reply,
                args,
            };
            follow(&mut carrier, shared, to).await;
        }
        Forwarding::Split { join, groups, span } => {
            let sub_command = |positions: &[usize]| {
                let mut sub: Vec<Bytes> = vec![args[0].clone()];
                for &p in positions {
                    sub.extend(args.get(p..p + span).unwrap_or_default().iter().cloned());
                }
                sub
            };
            // Every owner is asked at once (on the client's lane, after its
            // earlier forwarded commands); the local part runs meanwhile.
            let hop = next_hop(client);
            let sent: Vec<Option<Result<(SocketAddr, Pending), String>>> = groups
                .iter()
                .map(|(target, positions)| {
                    let addr = (*target)?;
                    Some(match hop {
                        Some(hop) => {
                            let to = Destination {
                                addr,
                                resp3: false,
                                hop,
                                lane: lane(client),
                            };
                            let sub = sub_command(positions);
                            Ok((addr, cluster.pool.submit(shared, to, false, &sub)))
                        }
                        None => Err(tryagain().to_string()),
                    })
                })
                .collect();
            let mut frames = Vec::with_capacity(groups.len());
            for ((target, positions), sent) in groups.iter().zip(sent) {
                let frame = match (target, sent) {
                    (None, _) => {
                        // Local keys; a slot that started its flip meanwhile
                        // is routed (held, then forwarded) like any command.
                        let mut out = Reply::new();
                        match execute_here(shared, client, &mut out, sub_command(positions)) {
                            Some(After::Route(plan)) => run(shared, client, &mut out, *plan).await,
                            Some(After::Migrate(plan)) => {
                                super::migrate_cmd::run(shared, &mut out, *plan).await;
                            }
                            _ => {}
                        }
                        Ok(out.buf.freeze())
                    }
                    (Some(_), Some(Ok((addr, pending)))) => {
                        pending.reply().await.map_err(|e| peer_error(addr, &e))
                    }
                    (Some(_), Some(Err(e))) => Err(e),
                    (Some(_), None) => Err(tryagain().to_string()),
                };
                frames.push(frame.and_then(|f| {
                    decode_reply(&f).map_err(|_| "ERR bad reply from a peer".to_string())
                }));
            }
            join_replies(reply, join, &args, &groups, frames);
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

/// Sends one raw memcached request to `addr` from the node's main runtime
/// (`main`), where the peer links live, and returns the peer's answer or the
/// error line for the client. Requests started this way travel concurrently.
fn mc_call(
    shared: &Arc<Shared>,
    main: &Handle,
    addr: SocketAddr,
    request: Bytes,
) -> JoinHandle<Result<McAnswer, String>> {
    let shared = shared.clone();
    main.spawn(async move {
        let Some(cluster) = shared.cluster.get() else {
            return Err(proxy::DOWN.into());
        };
        let frame = cluster
            .pool
            .request(&shared, addr, false, &proxy::peer_command(&request))
            .await
            .map_err(|e| format!("{}{}", proxy::ERROR_PREFIX, unreachable(addr, &e)))?;
        proxy::classify(&frame)
    })
}

/// The outcome of an [`mc_call`] (a task that died is an error line too).
async fn mc_answer_of(call: JoinHandle<Result<McAnswer, String>>) -> Result<McAnswer, String> {
    call.await
        .unwrap_or_else(|e| Err(format!("{}proxy task failed: {e}", proxy::ERROR_PREFIX)))
}

/// A memcached request for keys of `slot` on its way ([`Carrier`]), sent
/// from the node's main runtime (`main`), where the peer links live. The
/// receiver executes it only if it serves the slot, else answers `-MOVED`
/// or `-TRYAGAIN` (`memcache::proxy::execute_for_peer`).
struct McCarrier<'a> {
    shared: &'a Arc<Shared>,
    main: &'a Handle,
    slot: u16,
    request: Bytes,
}

impl Carrier for McCarrier<'_> {
    /// The raw memcached reply, or the error line for the client.
    type Out = Result<Vec<u8>, String>;

    async fn send(&mut self, addr: SocketAddr) -> Result<Answer<Self::Out>, Self::Out> {
        let call = mc_call(self.shared, self.main, addr, self.request.clone());
        match mc_answer_of(call).await {
            Ok(McAnswer::Reply(reply)) => Ok(Answer::Reply(Ok(reply))),
            Ok(McAnswer::Moved(next)) => Ok(Answer::Moved(next)),
            Ok(McAnswer::TryAgain) => Ok(Answer::TryAgain),
            Err(line) => Err(Err(line)),
        }
    }

    async fn decide(&mut self, _patient: bool) -> Next<Self::Out> {
        let Some(cluster) = self.shared.cluster.get() else {
            return Next::Done(Err(proxy::DOWN.into()));
        };
        match proxy::reroute(cluster, self.slot) {
            Err(line) => Next::Done(Err(line.into())),
            Ok(McDest::Here) => match proxy::run_here(self.shared, cluster, &self.request) {
                Some(reply) => Next::Done(Ok(reply)),
                None => Next::Wait,
            },
            Ok(McDest::Peer(addr)) => Next::Peer(addr),
            Ok(McDest::Wait) => Next::Wait,
        }
    }

    fn gave_up(&mut self) -> Self::Out {
        Err(proxy::MIGRATING.into())
    }
}

/// Gets a memcached `request` (for keys of `slot`) answered: sends it to
/// `to` (`None`: hold it first) through the forwarding loop ([`follow`]).
async fn mc_forward(
    shared: &Arc<Shared>,
    main: &Handle,
    slot: u16,
    to: Option<SocketAddr>,
    request: Bytes,
) -> Result<Vec<u8>, String> {
    if shared.cluster.get().is_none() {
        return Err(proxy::DOWN.into());
    }
    let mut carrier = McCarrier {
        shared,
        main,
        slot,
        request,
    };
    follow(&mut carrier, shared, to).await
}

/// Gets the keys of one multi-get part one by one (a part whose node sent
/// it elsewhere, or that had to wait): their `VALUE` blocks and one `END`.
async fn mc_get_each(
    shared: &Arc<Shared>,
    main: &Handle,
    head: &str,
    keys: impl Iterator<Item = &[u8]>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in keys {
        let request = proxy::get_line(head, key).into();
        let reply = mc_forward(shared, main, key_slot(key), None, request).await?;
        // An error line: the whole get answers it.
        if let Err(line) = proxy::add_values(&mut out, reply) {
            return Ok(line);
        }
    }
    out.extend_from_slice(proxy::END_LINE);
    Ok(out)
}

/// Appends an error line for a memcached client.
fn mc_error(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Runs a memcached plan (`memcache::proxy::route`), appending what the
/// client must see to `out`; `main` is the node's main runtime.
pub async fn run_memcached(shared: &Arc<Shared>, main: &Handle, plan: McPlan, out: &mut Vec<u8>) {
    match plan {
        McPlan::Forward {
            slot,
            addr,
            request,
            relay,
            noreply,
        } => match mc_forward(shared, main, slot, addr, request.into()).await {
            Ok(reply) if relay => out.extend_from_slice(&reply),
            Ok(_) => {}
            Err(e) => {
                if relay && !noreply {
                    mc_error(out, &e);
                }
            }
        },
        McPlan::MultiGet {
            head,
            keys,
            mut parts,
        } => {
            // Every owner is asked at once; the replies are joined in key order.
            let calls: Vec<_> = parts
                .iter_mut()
                .map(|p| match p.dest {
                    McDest::Peer(addr) => Some(mc_call(
                        shared,
                        main,
                        addr,
                        std::mem::take(&mut p.request).into(),
                    )),
                    McDest::Here | McDest::Wait => None,
                })
                .collect();
            for (i, (p, c)) in parts.iter_mut().zip(calls).enumerate() {
                let answered = match c {
                    Some(c) => mc_answer_of(c).await,
                    None if p.dest == McDest::Wait => Ok(McAnswer::TryAgain),
                    None => continue,
                };
                let reply = match answered {
                    Ok(McAnswer::Reply(reply)) => Ok(reply),
                    Ok(McAnswer::Moved(_) | McAnswer::TryAgain) => {
                        let mine = keys.iter().filter(|k| k.1 == i).map(|k| k.0.as_slice());
                        mc_get_each(shared, main, &head, mine).await
                    }
                    Err(e) => Err(e),
                };
                match reply {
                    Ok(reply) => p.reply = reply,
                    Err(e) => return mc_error(out, &e),
                }
            }
            proxy::join(out, &keys, &parts);
        }
    }
}
