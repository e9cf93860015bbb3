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
//! Peer connections come from a [`Pool`]; each announces itself with
//! `CLUSTER PROXY-ORIGIN`, so the receiving node executes proxied commands
//! locally instead of routing them again (at most one hop, no loops).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use redis_protocol::resp2::types::OwnedFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Cluster, Owner};
use crate::cmd::table::Command;
use crate::error::CmdError;
use crate::resp::Reply;
use crate::server::{Client, Shared};

/// How long a proxied request may take before the client gets an error.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept per peer and protocol.
const MAX_IDLE: usize = 256;

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

/// One connection to a peer's RESP port.
#[derive(Debug)]
struct PeerConn {
    sock: TcpStream,
    buf: BytesMut,
    resp3: bool,
}

/// Idle peer connections, keyed by address and protocol.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<HashMap<(SocketAddr, bool), Vec<PeerConn>>>,
}

/// Appends `args` as a RESP array of bulk strings.
fn encode(out: &mut BytesMut, args: &[&[u8]]) {
    let mut n = itoa::Buffer::new();
    out.put_u8(b'*');
    out.put_slice(n.format(args.len()).as_bytes());
    out.put_slice(b"\r\n");
    for a in args {
        out.put_u8(b'$');
        out.put_slice(n.format(a.len()).as_bytes());
        out.put_slice(b"\r\n");
        out.put_slice(a);
        out.put_slice(b"\r\n");
    }
}

/// Length of the first complete reply frame in `buf`, if any.
fn frame_len(buf: &[u8], resp3: bool) -> std::io::Result<Option<usize>> {
    let r = if resp3 {
        redis_protocol::resp3::decode::complete::decode_range(buf).map(|o| o.map(|(_, n)| n))
    } else {
        redis_protocol::resp2::decode::decode_range(buf).map(|o| o.map(|(_, n)| n))
    };
    r.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

impl PeerConn {
    async fn connect(shared: &Shared, addr: SocketAddr, resp3: bool) -> std::io::Result<Self> {
        let sock = TcpStream::connect(addr).await?;
        let _ = sock.set_nodelay(true);
        let mut c = PeerConn {
            sock,
            buf: BytesMut::with_capacity(16 * 1024),
            resp3: false,
        };
        let pass = shared.config.read().requirepass.clone();
        let mut hello = BytesMut::new();
        let mut expect = 1;
        if !pass.is_empty() {
            encode(&mut hello, &[b"AUTH", pass.as_bytes()]);
            expect += 1;
        }
        encode(&mut hello, &[b"CLUSTER", b"PROXY-ORIGIN"]);
        if resp3 {
            encode(&mut hello, &[b"HELLO", b"3"]);
            expect += 1;
        }
        c.sock.write_all(&hello).await?;
        for i in 0..expect {
            // The HELLO reply is the last one and already RESP3.
            c.resp3 = resp3 && i + 1 == expect;
            let frame = c.read_frame().await?;
            if frame.first() == Some(&b'-') {
                return Err(std::io::Error::other(format!(
                    "peer refused the proxy handshake: {}",
                    String::from_utf8_lossy(&frame).trim_end()
                )));
            }
        }
        c.resp3 = resp3;
        Ok(c)
    }

    async fn read_frame(&mut self) -> std::io::Result<Bytes> {
        loop {
            if let Some(n) = frame_len(&self.buf, self.resp3)? {
                return Ok(self.buf.split_to(n).freeze());
            }
            if self.sock.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn request(&mut self, args: &[&[u8]]) -> std::io::Result<Bytes> {
        let mut out = BytesMut::new();
        encode(&mut out, args);
        self.sock.write_all(&out).await?;
        self.read_frame().await
    }
}

impl Pool {
    /// Sends one request to `addr` and returns its raw reply frame.
    pub(crate) async fn request(
        &self,
        shared: &Shared,
        addr: SocketAddr,
        resp3: bool,
        args: &[&[u8]],
    ) -> std::io::Result<Bytes> {
        let work = async {
            let idle = self
                .idle
                .lock()
                .get_mut(&(addr, resp3))
                .and_then(|v| v.pop());
            let mut conn = match idle {
                Some(c) => c,
                None => PeerConn::connect(shared, addr, resp3).await?,
            };
            let reply = conn.request(args).await?;
            let mut idle = self.idle.lock();
            let v = idle.entry((addr, conn.resp3)).or_default();
            if v.len() < MAX_IDLE {
                v.push(conn);
            }
            Ok(reply)
        };
        tokio::time::timeout(PEER_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_boundaries() {
        assert_eq!(frame_len(b"+OK\r\n:1\r\n", false).ok().flatten(), Some(5));
        assert_eq!(frame_len(b"*2\r\n$1\r\na\r\n", false).ok().flatten(), None);
        assert_eq!(
            frame_len(b"%1\r\n+a\r\n:1\r\n", true).ok().flatten(),
            Some(12)
        );
        let mut b = BytesMut::new();
        encode(&mut b, &[b"GET", b"k"]);
        assert_eq!(&b[..], b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
}
