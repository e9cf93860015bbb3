//! Cluster mode for the memcached protocol: a request for a key owned by
//! another node is sent to that node and its reply relayed unchanged.
//!
//! [`route`] decides synchronously, inside the batch, from the key's slot.
//! A remote request travels as the internal RESP command
//! `CLUSTER MC <raw memcached request>` over the cluster's peer pool (whose
//! connections announce `CLUSTER PROXY-ORIGIN`); the owner executes it with its
//! own memcached engine ([`cluster_mc`]) and answers the raw memcached reply as
//! a bulk string. A multi-key `get` is split into one `get` per owner, sent to
//! all of them at once, and the values are joined back in key order, with a
//! single `END`. noreply and quiet requests stay silent because the owner
//! executes them as sent. Counters (`stats`) are per node: a proxied request
//! counts on its owner.
//!
//! Slots that move follow the same states as RESP commands
//! ([`route::slot_route`]): a request for a slot this node imports goes to
//! the node holding the data, one for a paused slot waits. The receiving node
//! executes a request only if it serves every key itself; otherwise it
//! answers `-MOVED` (the requester follows it) or `-TRYAGAIN` (the requester
//! waits and decides again by its own view), for at most
//! [`route::HOLD_LIMIT`]. Only the requester forwards: a request never
//! travels further than one peer at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::cmd::Exec;
use super::parse::{base64_encode, KeyList, Request};
use crate::cluster::route::{self, SlotRoute};
use crate::cluster::{Cluster, View};
use crate::cmd::{Dispatcher, McOrigin, Shared};
use crate::error::CmdError;
use crate::resp::{decode_reply, ReplyValue};
use crate::store::key_slot;

/// Reply when a key's slot has no reachable owner.
const DOWN: &str = "SERVER_ERROR cluster is down: hash slot not served";
/// Reply when an owner answered something that is not a memcached reply.
const BAD_REPLY: &[u8] = b"SERVER_ERROR bad reply from the owner node\r\n";
/// Reply when a slot stayed in motion (or its holder unknown) for too long.
const MIGRATING: &str = "SERVER_ERROR hash slot is being migrated, try again";
/// Redirects followed before deciding again by this node's view.
const MAX_REDIRECTS: u32 = 3;

/// Where a request runs.
#[derive(Debug)]
pub enum Route {
    /// On this node, as parsed.
    Local,
    /// Already answered here (the owner is down).
    Answered,
    /// On other nodes: the shell runs the plan and relays the reply.
    Remote(Plan),
    /// Here (reply and data handling), then the plan for its side effect.
    LocalThen(Plan),
}

/// Requests to send to owner nodes.
#[derive(Debug)]
pub enum Plan {
    /// One request to one owner.
    Forward {
        /// The slot of its key.
        slot: u16,
        /// Owner's RESP address (`None`: wait, then decide again).
        addr: Option<SocketAddr>,
        /// The raw memcached request (data block included).
        request: Vec<u8>,
        /// Append the owner's reply (false: only its side effect matters).
        relay: bool,
        /// A text `noreply` request: errors stay silent too.
        noreply: bool,
    },
    /// A multi-key get whose keys live on several nodes.
    MultiGet {
        /// `get`/`gets`/`gat <t>`/`gats <t>`: the command of every part.
        head: String,
        /// Each key with the index of its part, in request order.
        keys: Vec<(Vec<u8>, usize)>,
        /// One sub-request per owner.
        parts: Vec<Part>,
    },
}

/// The keys of a multi-get that go to one place.
#[derive(Debug)]
pub struct Part {
    /// Where they are served (`Dest::Here`: already executed).
    dest: Dest,
    /// `get`/`gets`/`gat`/`gats` line for these keys.
    request: Vec<u8>,
    /// The reply (`VALUE` blocks and `END`).
    reply: Vec<u8>,
}

/// Where a key's request goes from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// Served here.
    Here,
    /// Sent to that node.
    Peer(SocketAddr),
    /// Wait (a paused slot, an unknown holder), then decide again.
    Wait,
}

/// Where `key`'s request goes from the requester, or `Err` when its slot
/// is not served.
fn dest_of(view: &View, key: &[u8]) -> Result<Dest, ()> {
    match route::slot_route(view, key_slot(key), false) {
        SlotRoute::Local => Ok(Dest::Here),
        SlotRoute::Remote(_, addr) => Ok(Dest::Peer(addr)),
        SlotRoute::Hold => Ok(Dest::Wait),
        SlotRoute::Down => Err(()),
    }
}

/// `Ok` when this node serves every key of `req` now (checked under the
/// gate, right before executing it); else the error that sends the
/// requester on: `-MOVED slot host:port` or `-TRYAGAIN`.
fn served_here(view: &View, req: &Request<'_>, proxied: bool) -> Result<(), CmdError> {
    let check = |key: &[u8]| route::serve_here(view, key_slot(key), proxied);
    match req {
        Request::Get { keys, .. } => keys.iter().try_for_each(check),
        Request::TooLarge { key, .. } => check(key),
        other => single_key(other).map_or(Ok(()), |(key, _)| check(key)),
    }
}

/// The key of a single-key request and whether it is a text `noreply` one.
fn single_key<'r>(req: &'r Request<'_>) -> Option<(&'r [u8], bool)> {
    match req {
        Request::Store(s) => Some((s.key, s.noreply)),
        Request::Arith { key, noreply, .. }
        | Request::Touch { key, noreply, .. }
        | Request::Delete { key, noreply } => Some((key, *noreply)),
        Request::MetaGet(m)
        | Request::MetaSet(m, _)
        | Request::MetaDelete(m)
        | Request::MetaArith(m) => Some((&m.key, false)),
        Request::MetaDebug(key) => Some((key, false)),
        _ => None,
    }
}

/// Decides where `req` (whose raw bytes are `raw`) runs. May adjust `req`
/// (a too-large `set` deletes the old item on its owner, not here) and
/// answers through `ex` when the owner is down.
pub fn route(cluster: &Cluster, req: &mut Request<'_>, raw: &[u8], ex: &mut Exec<'_>) -> Route {
    let view = cluster.view();
    match req {
        Request::Get { keys, cas, touch } => multi_get(&view, *keys, *cas, *touch, raw, ex),
        Request::TooLarge { key, delete, .. } => {
            if !*delete {
                return Route::Local;
            }
            match dest_of(&view, key) {
                Ok(Dest::Here) => Route::Local,
                Ok(to) => {
                    *delete = false;
                    let mut request = b"md ".to_vec();
                    base64_encode(key, &mut request);
                    request.extend_from_slice(b" b q\r\n");
                    Route::LocalThen(Plan::Forward {
                        slot: key_slot(key),
                        addr: peer(to),
                        request,
                        relay: false,
                        noreply: true,
                    })
                }
                // Nothing to delete that anyone could read.
                Err(()) => {
                    *delete = false;
                    Route::Local
                }
            }
        }
        other => {
            let Some((key, noreply)) = single_key(other) else {
                return Route::Local;
            };
            match dest_of(&view, key) {
                Ok(Dest::Here) => Route::Local,
                Ok(to) => Route::Remote(Plan::Forward {
                    slot: key_slot(key),
                    addr: peer(to),
                    request: raw.to_vec(),
                    relay: true,
                    noreply,
                }),
                Err(()) => {
                    ex.maybe(DOWN, noreply);
                    Route::Answered
                }
            }
        }
    }
}

/// The node to send to (`None`: wait first).
fn peer(to: Dest) -> Option<SocketAddr> {
    match to {
        Dest::Peer(addr) => Some(addr),
        Dest::Here | Dest::Wait => None,
    }
}

/// Splits a get by owner; the local part runs now.
fn multi_get(
    view: &View,
    keys: KeyList<'_>,
    cas: bool,
    touch: Option<i32>,
    raw: &[u8],
    ex: &mut Exec<'_>,
) -> Route {
    let mut first = None;
    let mut single = true;
    for key in keys.iter() {
        let Ok(target) = dest_of(view, key) else {
            ex.line(DOWN);
            return Route::Answered;
        };
        match first {
            None => first = Some((target, key_slot(key))),
            Some((f, _)) => single &= f == target,
        }
    }
    match first {
        Some((Dest::Here, _)) | None if single => return Route::Local,
        Some((Dest::Peer(addr), slot)) if single => {
            return Route::Remote(Plan::Forward {
                slot,
                addr: Some(addr),
                request: raw.to_vec(),
                relay: true,
                noreply: false,
            })
        }
        _ => {}
    }
    let head = match (cas, touch) {
        (false, None) => "get".to_string(),
        (true, None) => "gets".to_string(),
        (false, Some(t)) => format!("gat {t}"),
        (true, Some(t)) => format!("gats {t}"),
    };
    let mut parts: Vec<Part> = Vec::new();
    let mut order = Vec::new();
    for key in keys.iter() {
        let target = dest_of(view, key).unwrap_or(Dest::Wait);
        let i = match parts.iter().position(|p| p.dest == target) {
            Some(i) => i,
            None => {
                parts.push(Part {
                    dest: target,
                    request: head.clone().into_bytes(),
                    reply: Vec::new(),
                });
                parts.len() - 1
            }
        };
        parts[i].request.push(b' ');
        parts[i].request.extend_from_slice(key);
        order.push((key.to_vec(), i));
    }
    for (i, p) in parts.iter_mut().enumerate() {
        p.request.extend_from_slice(b"\r\n");
        if p.dest == Dest::Here {
            let mut local = Exec {
                shared: ex.shared,
                out: &mut p.reply,
                stats: ex.stats,
                now_ms: ex.now_ms,
            };
            for (key, _) in order.iter().filter(|k| k.1 == i) {
                local.get_one(key, cas, touch);
            }
            local.line("END");
        }
    }
    Route::Remote(Plan::MultiGet {
        head,
        keys: order,
        parts,
    })
}

/// What a peer answered to a forwarded request.
#[derive(Debug)]
enum Answer {
    /// The raw memcached reply.
    Reply(Vec<u8>),
    /// It does not serve the slot: that node does.
    Moved(SocketAddr),
    /// It does not serve the slot now: wait and decide again.
    TryAgain,
}

/// Reads a peer's `CLUSTER MC` reply frame.
fn answer(frame: &[u8]) -> Result<Answer, String> {
    match decode_reply(frame) {
        Ok(ReplyValue::BulkString(b)) => Ok(Answer::Reply(b)),
        Ok(ReplyValue::Error(e)) => {
            if e.starts_with("TRYAGAIN") {
                return Ok(Answer::TryAgain);
            }
            let moved = e
                .strip_prefix("MOVED ")
                .and_then(|rest| rest.rsplit(' ').next())
                .and_then(|a| a.parse().ok());
            match moved {
                Some(addr) => Ok(Answer::Moved(addr)),
                None => Err(format!("SERVER_ERROR {e}")),
            }
        }
        _ => Err(String::from_utf8_lossy(BAD_REPLY.trim_ascii_end()).into_owned()),
    }
}

/// Sends one raw request to `addr` from the node's main runtime (`main`),
/// where the peer links live, and returns the peer's answer or the error
/// line for the client. Requests started this way travel concurrently.
fn call(
    shared: &Arc<Shared>,
    main: &Handle,
    addr: SocketAddr,
    request: Bytes,
) -> JoinHandle<Result<Answer, String>> {
    let shared = shared.clone();
    main.spawn(async move {
        let Some(cluster) = shared.cluster.get() else {
            return Err(DOWN.into());
        };
        let frame = cluster
            .pool
            .request(&shared, addr, false, &[b"CLUSTER", b"MC", &request])
            .await
            .map_err(|e| format!("SERVER_ERROR cannot reach the owner {addr}: {e}"))?;
        answer(&frame)
    })
}

/// The outcome of a [`call`] (a task that died is an error line too).
async fn answer_of(call: JoinHandle<Result<Answer, String>>) -> Result<Answer, String> {
    call.await
        .unwrap_or_else(|e| Err(format!("SERVER_ERROR proxy task failed: {e}")))
}

/// Executes `request` here if this node serves its keys now (under the
/// gate, like a connection's batch); `None` when it does not.
fn run_here(shared: &Arc<Shared>, cluster: &Cluster, request: &[u8]) -> Option<Vec<u8>> {
    let mut dispatcher = Dispatcher::new(shared);
    if !dispatcher.enter() {
        let mut out = Vec::new();
        super::busy_reply(shared, &mut out);
        return Some(out);
    }
    let view = cluster.view();
    let origin = McOrigin {
        addr: "proxy",
        now_ms: crate::store::now_ms(),
    };
    super::execute_forwarded(shared, request, origin, |req| {
        served_here(&view, req, false)
    })
    .ok()
}

/// Gets `request` (for keys of `slot`) answered: sends it to `to`, follows
/// `-MOVED`, and when told to wait (or first told nothing, `to` = `None`)
/// decides again by this node's view every [`route::HOLD_STEP`], running it
/// here once this node serves the slot; gives up after [`route::HOLD_LIMIT`].
async fn forward(
    shared: &Arc<Shared>,
    main: &Handle,
    slot: u16,
    mut to: Option<SocketAddr>,
    request: Bytes,
) -> Result<Vec<u8>, String> {
    let Some(cluster) = shared.cluster.get() else {
        return Err(DOWN.into());
    };
    let start = Instant::now();
    let mut redirects = 0;
    loop {
        if let Some(addr) = to {
            match answer_of(call(shared, main, addr, request.clone())).await? {
                Answer::Reply(reply) => return Ok(reply),
                Answer::Moved(next) if redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    to = Some(next);
                    continue;
                }
                Answer::Moved(_) | Answer::TryAgain => {}
            }
        }
        if start.elapsed() >= route::HOLD_LIMIT {
            return Err(MIGRATING.into());
        }
        tokio::time::sleep(route::HOLD_STEP).await;
        redirects = 0;
        to = match route::slot_route(&cluster.view(), slot, false) {
            SlotRoute::Local => match run_here(shared, cluster, &request) {
                Some(reply) => return Ok(reply),
                None => None,
            },
            SlotRoute::Remote(_, addr) => Some(addr),
            SlotRoute::Hold => None,
            SlotRoute::Down => return Err(DOWN.into()),
        };
    }
}

/// Gets the keys of one multi-get part one by one (a part whose node sent
/// it elsewhere, or that had to wait): their `VALUE` blocks and one `END`.
async fn get_each(
    shared: &Arc<Shared>,
    main: &Handle,
    head: &str,
    keys: impl Iterator<Item = &[u8]>,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in keys {
        let mut request = head.as_bytes().to_vec();
        request.push(b' ');
        request.extend_from_slice(key);
        request.extend_from_slice(b"\r\n");
        let reply = forward(shared, main, key_slot(key), None, request.into()).await?;
        match reply.strip_suffix(b"END\r\n") {
            Some(values) => out.extend_from_slice(values),
            // An error line: the whole get answers it.
            None => return Ok(reply),
        }
    }
    out.extend_from_slice(b"END\r\n");
    Ok(out)
}

/// Runs a plan, appending what the client must see to `out`; `main` is the
/// node's main runtime.
pub async fn run(shared: &Arc<Shared>, main: &Handle, plan: Plan, out: &mut Vec<u8>) {
    match plan {
        Plan::Forward {
            slot,
            addr,
            request,
            relay,
            noreply,
        } => match forward(shared, main, slot, addr, request.into()).await {
            Ok(reply) if relay => out.extend_from_slice(&reply),
            Ok(_) => {}
            Err(e) => {
                if relay && !noreply {
                    out.extend_from_slice(e.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        },
        Plan::MultiGet {
            head,
            keys,
            mut parts,
        } => {
            // Every owner is asked at once; the replies are joined in key order.
            let calls: Vec<_> = parts
                .iter_mut()
                .map(|p| match p.dest {
                    Dest::Peer(addr) => Some(call(
                        shared,
                        main,
                        addr,
                        std::mem::take(&mut p.request).into(),
                    )),
                    Dest::Here | Dest::Wait => None,
                })
                .collect();
            for (i, (p, c)) in parts.iter_mut().zip(calls).enumerate() {
                let answered = match c {
                    Some(c) => answer_of(c).await,
                    None if p.dest == Dest::Wait => Ok(Answer::TryAgain),
                    None => continue,
                };
                let reply = match answered {
                    Ok(Answer::Reply(reply)) => Ok(reply),
                    Ok(Answer::Moved(_) | Answer::TryAgain) => {
                        let mine = keys.iter().filter(|k| k.1 == i).map(|k| k.0.as_slice());
                        get_each(shared, main, &head, mine).await
                    }
                    Err(e) => Err(e),
                };
                match reply {
                    Ok(reply) => p.reply = reply,
                    Err(e) => {
                        out.extend_from_slice(e.as_bytes());
                        out.extend_from_slice(b"\r\n");
                        return;
                    }
                }
            }
            join(out, &keys, &parts);
        }
    }
}

/// One `VALUE` block of a get reply: the key and the whole block.
type Block<'r> = (&'r [u8], &'r [u8]);

/// The `VALUE` blocks of a get reply, or the error line the owner answered
/// instead.
fn blocks(reply: &[u8]) -> Result<Vec<Block<'_>>, &[u8]> {
    let mut v = Vec::new();
    let mut rest = reply;
    loop {
        let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Err(BAD_REPLY);
        };
        let line = &rest[..nl];
        if line == b"END" {
            return Ok(v);
        }
        let mut t = line.split(|&b| b == b' ');
        if t.next() != Some(b"VALUE") {
            return Err(&rest[..nl + 2]);
        }
        let key = t.next().unwrap_or_default();
        let len = t
            .nth(1)
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok());
        let end = len.map(|n| nl + 2 + n + 2).filter(|&e| e <= rest.len());
        let Some(end) = end else {
            return Err(BAD_REPLY);
        };
        v.push((key, &rest[..end]));
        rest = &rest[end..];
    }
}

/// Joins the parts of a multi-get: values in request key order, one `END`.
fn join(out: &mut Vec<u8>, keys: &[(Vec<u8>, usize)], parts: &[Part]) {
    let mut found = Vec::with_capacity(parts.len());
    for p in parts {
        match blocks(&p.reply) {
            Ok(b) => found.push(b),
            Err(line) => {
                out.extend_from_slice(line);
                return;
            }
        }
    }
    // Each part answered its keys in order, misses left out: walk them in step.
    let mut next = vec![0usize; parts.len()];
    for (key, i) in keys {
        if let Some((k, block)) = found[*i].get(next[*i]) {
            if k == key {
                out.extend_from_slice(block);
                next[*i] += 1;
            }
        }
    }
    out.extend_from_slice(b"END\r\n");
}

/// Executes one memcached request forwarded by a peer (`CLUSTER MC`; see
/// `cmd::shared::McExec`) when this node serves its keys now.
pub fn execute_for_peer(
    shared: &Arc<Shared>,
    request: &[u8],
    origin: McOrigin<'_>,
) -> Result<Vec<u8>, CmdError> {
    let Some(cluster) = shared.cluster.get() else {
        return Err(CmdError::err("This instance has cluster support disabled"));
    };
    let view = cluster.view();
    super::execute_forwarded(shared, request, origin, |req| served_here(&view, req, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(reply: &[u8]) -> Part {
        Part {
            dest: Dest::Here,
            request: Vec::new(),
            reply: reply.to_vec(),
        }
    }

    #[test]
    fn join_puts_values_back_in_key_order() {
        let a = part(b"VALUE k1 0 1\r\na\r\nVALUE k3 5 2 9\r\nbb\r\nEND\r\n");
        let b = part(b"VALUE k2 0 3\r\nEND\r\nEND\r\n");
        let keys: Vec<(Vec<u8>, usize)> = [("k1", 0), ("k2", 1), ("k4", 1), ("k3", 0)]
            .iter()
            .map(|(k, i)| (k.as_bytes().to_vec(), *i))
            .collect();
        let mut out = Vec::new();
        join(&mut out, &keys, &[a, b]);
        assert_eq!(
            out,
            b"VALUE k1 0 1\r\na\r\nVALUE k2 0 3\r\nEND\r\nVALUE k3 5 2 9\r\nbb\r\nEND\r\n"
        );
    }

    #[test]
    fn join_relays_an_owner_error_and_rejects_truncated_values() {
        let mut out = Vec::new();
        let keys = vec![(b"k".to_vec(), 0), (b"j".to_vec(), 1)];
        join(
            &mut out,
            &keys,
            &[part(b"END\r\n"), part(b"SERVER_ERROR out of memory\r\n")],
        );
        assert_eq!(out, b"SERVER_ERROR out of memory\r\n");
        out.clear();
        join(
            &mut out,
            &keys[..1],
            &[part(b"VALUE k 0 10\r\nabc\r\nEND\r\n")],
        );
        assert_eq!(out, BAD_REPLY);
    }
}
