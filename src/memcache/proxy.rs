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

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use redis_protocol::resp2::types::OwnedFrame;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::cmd::Exec;
use super::parse::{base64_encode, KeyList, Request};
use crate::cluster::{Cluster, Owner, View};
use crate::cmd::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::server::Shared;
use crate::store::key_slot;

/// Reply when a key's slot has no reachable owner.
const DOWN: &str = "SERVER_ERROR cluster is down: hash slot not served";
/// Reply when an owner answered something that is not a memcached reply.
const BAD_REPLY: &[u8] = b"SERVER_ERROR bad reply from the owner node\r\n";

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
        /// Owner's RESP address.
        addr: SocketAddr,
        /// The raw memcached request (data block included).
        request: Vec<u8>,
        /// Append the owner's reply (false: only its side effect matters).
        relay: bool,
        /// A text `noreply` request: errors stay silent too.
        noreply: bool,
    },
    /// A multi-key get whose keys live on several nodes.
    MultiGet {
        /// Each key with the index of its part, in request order.
        keys: Vec<(Vec<u8>, usize)>,
        /// One sub-request per owner.
        parts: Vec<Part>,
    },
}

/// The keys of a multi-get that one node owns.
#[derive(Debug)]
pub struct Part {
    /// The owner (`None`: this node, already executed).
    addr: Option<SocketAddr>,
    /// `get`/`gets`/`gat`/`gats` line for these keys.
    request: Vec<u8>,
    /// The reply (`VALUE` blocks and `END`).
    reply: Vec<u8>,
}

/// The owner's address (`Ok(None)`: this node), or `Err` when it is down.
fn owner_of(view: &View, key: &[u8]) -> Result<Option<SocketAddr>, ()> {
    match view.owner(key_slot(key)) {
        Owner::Local => Ok(None),
        Owner::Remote(_, addr) => Ok(Some(addr)),
        Owner::Down | Owner::Unknown => Err(()),
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
            match owner_of(&view, key) {
                Ok(None) => Route::Local,
                Ok(Some(addr)) => {
                    *delete = false;
                    let mut request = b"md ".to_vec();
                    base64_encode(key, &mut request);
                    request.extend_from_slice(b" b q\r\n");
                    Route::LocalThen(Plan::Forward {
                        addr,
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
            match owner_of(&view, key) {
                Ok(None) => Route::Local,
                Ok(Some(addr)) => Route::Remote(Plan::Forward {
                    addr,
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
        let Ok(target) = owner_of(view, key) else {
            ex.line(DOWN);
            return Route::Answered;
        };
        match first {
            None => first = Some(target),
            Some(f) => single &= f == target,
        }
    }
    match first {
        Some(Some(addr)) if single => {
            return Route::Remote(Plan::Forward {
                addr,
                request: raw.to_vec(),
                relay: true,
                noreply: false,
            })
        }
        Some(Some(_)) => {}
        _ if single => return Route::Local,
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
        let target = owner_of(view, key).unwrap_or(None);
        let i = match parts.iter().position(|p| p.addr == target) {
            Some(i) => i,
            None => {
                parts.push(Part {
                    addr: target,
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
        if p.addr.is_none() {
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
    Route::Remote(Plan::MultiGet { keys: order, parts })
}

/// Sends one raw request to `addr` from the node's main runtime (`main`),
/// where the peer links live, and returns the owner's raw reply or the error
/// line for the client. Requests started this way travel concurrently.
fn call(
    shared: &Arc<Shared>,
    main: &Handle,
    addr: SocketAddr,
    request: Vec<u8>,
) -> JoinHandle<Result<Vec<u8>, String>> {
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
        match redis_protocol::resp2::decode::decode(&frame) {
            Ok(Some((OwnedFrame::BulkString(b), _))) => Ok(b),
            Ok(Some((OwnedFrame::Error(e), _))) => Err(format!("SERVER_ERROR {e}")),
            _ => Err(String::from_utf8_lossy(BAD_REPLY.trim_ascii_end()).into_owned()),
        }
    })
}

/// The outcome of a [`call`] (a task that died is an error line too).
async fn reply_of(call: JoinHandle<Result<Vec<u8>, String>>) -> Result<Vec<u8>, String> {
    call.await
        .unwrap_or_else(|e| Err(format!("SERVER_ERROR proxy task failed: {e}")))
}

/// Runs a plan, appending what the client must see to `out`; `main` is the
/// node's main runtime.
pub async fn run(shared: &Arc<Shared>, main: &Handle, plan: Plan, out: &mut Vec<u8>) {
    match plan {
        Plan::Forward {
            addr,
            request,
            relay,
            noreply,
        } => match reply_of(call(shared, main, addr, request)).await {
            Ok(reply) if relay => out.extend_from_slice(&reply),
            Ok(_) => {}
            Err(e) => {
                if relay && !noreply {
                    out.extend_from_slice(e.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
            }
        },
        Plan::MultiGet { keys, mut parts } => {
            // Every owner is asked at once; the replies are joined in key order.
            let calls: Vec<_> = parts
                .iter_mut()
                .map(|p| {
                    p.addr
                        .map(|addr| call(shared, main, addr, std::mem::take(&mut p.request)))
                })
                .collect();
            for (p, c) in parts.iter_mut().zip(calls) {
                let Some(c) = c else { continue };
                match reply_of(c).await {
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

/// `CLUSTER MC <request>`: executes one memcached request forwarded by a peer
/// (only on `CLUSTER PROXY-ORIGIN` connections) and answers its raw reply as a
/// bulk string.
pub fn cluster_mc(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.get().is_none() {
        return Err(CmdError::err("This instance has cluster support disabled"));
    }
    if !ctx.client.proxied {
        return Err(CmdError::err(
            "CLUSTER MC is only accepted from peer nodes (CLUSTER PROXY-ORIGIN)",
        ));
    }
    let reply = super::execute_forwarded(ctx.shared, &args[2], ctx.now_ms)
        .ok_or_else(|| CmdError::err("incomplete memcached request"))?;
    ctx.out.bulk(&reply);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(reply: &[u8]) -> Part {
        Part {
            addr: None,
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
