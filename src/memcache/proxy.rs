//! Cluster mode for the memcached protocol, its protocol-specific half: a
//! request for a key owned by another node is sent to that node and its
//! reply relayed unchanged. The async forwarding shell that carries the
//! plans out (send, follow, hold, join) is `server::forward`, shared with
//! RESP commands (one policy); this module decides and provides what differs
//! for memcached: the request wrapping, the reading of a peer's reply, the
//! multi-get join and the `SERVER_ERROR` texts.
//!
//! [`route`] decides synchronously, inside the batch, from the key's slot,
//! with the routing core of RESP commands (`cluster::route`: its lease
//! fence [`route::lease_fence`], then [`route::slot_route`]). A node without
//! its lease answers `SERVER_ERROR cluster is down` to every request with a
//! key, on the requesting side and, for a forwarded one, on the receiving
//! side (by its own lease).
//! A remote request travels as the internal RESP command
//! `CLUSTER MC <raw memcached request>` ([`peer_command`]) over the cluster's
//! peer pool (whose connections announce `CLUSTER PROXY-ORIGIN`); the owner
//! executes it with its own memcached engine ([`execute_for_peer`]) and
//! answers the raw memcached reply as a bulk string. A multi-key `get` is
//! split into one `get` per owner, sent to all of them at once, and the
//! values are joined back in key order, with a single `END` ([`join`]).
//! noreply and quiet requests stay silent because the owner executes them
//! as sent. Counters (`stats`) are per node: a proxied request counts on its
//! owner.
//!
//! Slots that move follow the same states as RESP commands: a request for a
//! slot this node imports goes to the node holding the data, one for a
//! paused slot waits. The receiving node executes a request only if it
//! serves every key itself; otherwise it answers `-MOVED` (the requester
//! follows it) or `-TRYAGAIN` (the requester waits and decides again by its
//! own view, [`reroute`]).

use std::net::SocketAddr;
use std::sync::Arc;

use super::cmd::Exec;
use super::parse::{base64_encode, KeyList, Request};
use crate::cluster::route::{self, SlotRoute};
use crate::cluster::{Cluster, View};
use crate::cmd::{Dispatcher, McOrigin, Shared};
use crate::error::CmdError;
use crate::resp::{decode_reply, ReplyValue};
use crate::store::key_slot;

/// Reply when a key's slot has no reachable owner.
pub const DOWN: &str = "SERVER_ERROR cluster is down: hash slot not served";
/// Reply when this node (or the owner a request was sent to) does not hold
/// its lease: memcached's form of `-CLUSTERDOWN The cluster is down`.
pub const NO_QUORUM: &str = "SERVER_ERROR cluster is down";
/// Reply when an owner answered something that is not a memcached reply.
const BAD_REPLY: &[u8] = b"SERVER_ERROR bad reply from the owner node\r\n";
/// Reply when a slot stayed in motion (or its holder unknown) for too long.
pub const MIGRATING: &str = "SERVER_ERROR hash slot is being migrated, try again";
/// Prefix of every error line the forwarding shell writes for memcached.
pub const ERROR_PREFIX: &str = "SERVER_ERROR ";
/// The line ending a get reply.
pub const END_LINE: &[u8] = b"END\r\n";

/// Where a memcached request runs.
#[derive(Debug)]
pub enum McRoute {
    /// On this node, as parsed.
    Local,
    /// Already answered here (the owner is down, or no quorum).
    Answered,
    /// On other nodes: the shell runs the plan and relays the reply.
    Remote(McPlan),
    /// Here (reply and data handling), then the plan for its side effect.
    LocalThen(McPlan),
}

/// Memcached requests to send to owner nodes.
#[derive(Debug)]
pub enum McPlan {
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
        parts: Vec<MultiGetPart>,
    },
}

/// The keys of a multi-get that go to one place.
#[derive(Debug)]
pub struct MultiGetPart {
    /// Where they are served (`McDest::Here`: already executed).
    pub dest: McDest,
    /// `get`/`gets`/`gat`/`gats` line for these keys.
    pub request: Vec<u8>,
    /// The reply (`VALUE` blocks and `END`).
    pub reply: Vec<u8>,
}

/// Where a key's request goes from this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McDest {
    /// Served here.
    Here,
    /// Sent to that node.
    Peer(SocketAddr),
    /// Wait (a paused slot, an unknown holder), then decide again.
    Wait,
}

/// Where a request for `slot` goes from the requester (by the routing
/// core's `route::slot_route`), or the error line when nobody serves it.
fn dest_of_slot(view: &View, slot: u16) -> Result<McDest, &'static str> {
    match route::slot_route(view, slot, false) {
        SlotRoute::Local => Ok(McDest::Here),
        SlotRoute::Remote(_, addr) => Ok(McDest::Peer(addr)),
        SlotRoute::Hold => Ok(McDest::Wait),
        SlotRoute::Down => Err(DOWN),
    }
}

/// [`dest_of_slot`] of `key`'s slot.
fn dest_of(view: &View, key: &[u8]) -> Result<McDest, &'static str> {
    dest_of_slot(view, key_slot(key))
}

/// The memcached form of the routing core's lease fence
/// (`route::lease_fence`): `Some(reply)` when this node does not hold its
/// lease and must serve no request with a key.
fn fenced(cluster: &Cluster) -> Option<&'static str> {
    route::lease_fence(cluster).err().map(|_| NO_QUORUM)
}

/// `Ok` when this node serves every key of `req` now (checked under the
/// gate, right before executing it); else the error that sends the
/// requester on: `-MOVED slot host:port` or `-TRYAGAIN` (also for a peer's
/// request while this node does not hold its lease; a local one then gets
/// `-CLUSTERDOWN The cluster is down`).
fn served_here(
    cluster: &Cluster,
    view: &View,
    req: &Request<'_>,
    proxied: bool,
) -> Result<(), CmdError> {
    let check = |key: &[u8]| {
        // A peer's request waits at its requester (which decides again)
        // while this node gets its lease.
        route::lease_fence(cluster).map_err(|e| if proxied { route::no_lease_yet() } else { e })?;
        route::serve_here(view, key_slot(key), proxied)
    };
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
/// answers through `ex` when the owner is down or this node lost its quorum.
pub fn route(cluster: &Cluster, req: &mut Request<'_>, raw: &[u8], ex: &mut Exec<'_>) -> McRoute {
    match req {
        Request::Get { keys, cas, touch } => {
            if let Some(line) = fenced(cluster) {
                ex.line(line);
                return McRoute::Answered;
            }
            multi_get(&cluster.view(), *keys, *cas, *touch, raw, ex)
        }
        Request::TooLarge { key, delete, .. } => {
            if !*delete {
                return McRoute::Local;
            }
            // A minority changes no data: the request is refused here.
            if fenced(cluster).is_some() {
                *delete = false;
                return McRoute::Local;
            }
            match dest_of(&cluster.view(), key) {
                Ok(McDest::Here) => McRoute::Local,
                Ok(to) => {
                    *delete = false;
                    let mut request = b"md ".to_vec();
                    base64_encode(key, &mut request);
                    request.extend_from_slice(b" b q\r\n");
                    McRoute::LocalThen(McPlan::Forward {
                        slot: key_slot(key),
                        addr: peer(to),
                        request,
                        relay: false,
                        noreply: true,
                    })
                }
                // Nothing to delete that anyone could read.
                Err(_) => {
                    *delete = false;
                    McRoute::Local
                }
            }
        }
        other => {
            let Some((key, noreply)) = single_key(other) else {
                return McRoute::Local;
            };
            let dest = match fenced(cluster) {
                Some(line) => Err(line),
                None => dest_of(&cluster.view(), key),
            };
            match dest {
                Ok(McDest::Here) => McRoute::Local,
                Ok(to) => McRoute::Remote(McPlan::Forward {
                    slot: key_slot(key),
                    addr: peer(to),
                    request: raw.to_vec(),
                    relay: true,
                    noreply,
                }),
                Err(line) => {
                    ex.maybe(line, noreply);
                    McRoute::Answered
                }
            }
        }
    }
}

/// The node to send to (`None`: wait first).
fn peer(to: McDest) -> Option<SocketAddr> {
    match to {
        McDest::Peer(addr) => Some(addr),
        McDest::Here | McDest::Wait => None,
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
) -> McRoute {
    let mut first = None;
    let mut single = true;
    for key in keys.iter() {
        let target = match dest_of(view, key) {
            Ok(target) => target,
            Err(line) => {
                ex.line(line);
                return McRoute::Answered;
            }
        };
        match first {
            None => first = Some((target, key_slot(key))),
            Some((f, _)) => single &= f == target,
        }
    }
    match first {
        Some((McDest::Here, _)) | None if single => return McRoute::Local,
        Some((McDest::Peer(addr), slot)) if single => {
            return McRoute::Remote(McPlan::Forward {
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
    let mut parts: Vec<MultiGetPart> = Vec::new();
    let mut order = Vec::new();
    for key in keys.iter() {
        let target = dest_of(view, key).unwrap_or(McDest::Wait);
        let i = match parts.iter().position(|p| p.dest == target) {
            Some(i) => i,
            None => {
                parts.push(MultiGetPart {
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
        if p.dest == McDest::Here {
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
    McRoute::Remote(McPlan::MultiGet {
        head,
        keys: order,
        parts,
    })
}

/// What a peer answered to a forwarded request.
#[derive(Debug)]
pub enum McAnswer {
    /// The raw memcached reply.
    Reply(Vec<u8>),
    /// It does not serve the slot: that node does.
    Moved(SocketAddr),
    /// It does not serve the slot now: wait and decide again.
    TryAgain,
}

/// The internal RESP command carrying `request` to its owner:
/// `CLUSTER MC <raw memcached request>`.
pub fn peer_command(request: &[u8]) -> [&[u8]; 3] {
    [b"CLUSTER", b"MC", request]
}

/// Reads a peer's `CLUSTER MC` reply frame; `Err` is the error line for
/// the client.
pub fn classify(frame: &[u8]) -> Result<McAnswer, String> {
    match decode_reply(frame) {
        Ok(ReplyValue::BulkString(b)) => Ok(McAnswer::Reply(b)),
        Ok(ReplyValue::Error(e)) => {
            if e.starts_with("TRYAGAIN") {
                return Ok(McAnswer::TryAgain);
            }
            let moved = e
                .strip_prefix("MOVED ")
                .and_then(|rest| rest.rsplit(' ').next())
                .and_then(|a| a.parse().ok());
            match moved {
                Some(addr) => Ok(McAnswer::Moved(addr)),
                None => Err(format!("{ERROR_PREFIX}{e}")),
            }
        }
        _ => Err(String::from_utf8_lossy(BAD_REPLY.trim_ascii_end()).into_owned()),
    }
}

/// Where a held request for `slot` goes now, by this node's view and the
/// same core as the first decision (the minority fence included), or the
/// error line for the client.
pub fn reroute(cluster: &Cluster, slot: u16) -> Result<McDest, &'static str> {
    match fenced(cluster) {
        Some(line) => Err(line),
        None => dest_of_slot(&cluster.view(), slot),
    }
}

/// Executes `request` here if this node serves its keys now (under the
/// gate, like a connection's batch); `None` when it does not.
pub fn run_here(shared: &Arc<Shared>, cluster: &Cluster, request: &[u8]) -> Option<Vec<u8>> {
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
        served_here(cluster, &view, req, false)
    })
    .ok()
}

/// The single-key `get` (of the multi-get command `head`) that asks for
/// `key` alone: a part whose node sent it elsewhere is asked key by key.
pub fn get_line(head: &str, key: &[u8]) -> Vec<u8> {
    let mut request = head.as_bytes().to_vec();
    request.push(b' ');
    request.extend_from_slice(key);
    request.extend_from_slice(b"\r\n");
    request
}

/// Appends the `VALUE` blocks of a single-key get reply to `out`, or hands
/// back the error line it is instead (the whole get then answers it).
pub fn add_values(out: &mut Vec<u8>, reply: Vec<u8>) -> Result<(), Vec<u8>> {
    match reply.strip_suffix(END_LINE) {
        Some(values) => {
            out.extend_from_slice(values);
            Ok(())
        }
        None => Err(reply),
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
pub fn join(out: &mut Vec<u8>, keys: &[(Vec<u8>, usize)], parts: &[MultiGetPart]) {
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
    out.extend_from_slice(END_LINE);
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
    super::execute_forwarded(shared, request, origin, |req| {
        served_here(cluster, &view, req, true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(reply: &[u8]) -> MultiGetPart {
        MultiGetPart {
            dest: McDest::Here,
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
