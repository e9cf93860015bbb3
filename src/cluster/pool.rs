//! Multiplexed, pipelined links to peer nodes for proxied requests.
//!
//! A proxy hop used to take one pooled connection per in-flight request and
//! pay a write and a read syscall on both nodes for every request. Here each
//! peer (and protocol, RESP2 or RESP3) gets [`LINKS_PER_PEER`] long-lived
//! connections, each driven by one task ([`drive`]) that
//!
//! - writes every request queued since its last write in one `write` (requests
//!   of many clients share a syscall, and the peer parses them as one batch).
//!   Requesters encode their request straight into the link's queue and wake
//!   the task only when the queue was empty; the task, once woken, first lets
//!   every other ready task run (`yield_now`), so the clients whose requests
//!   arrived in the same poll of the sockets all land in one write, the way
//!   Redis writes once per event-loop turn;
//! - reads replies and hands them, in order, to the requesters waiting on
//!   oneshot channels (RESP replies come back in request order on one
//!   connection, so matching is FIFO; [`FrameScan`] finds where each ends);
//! - fails every waiting and queued request with an error when the peer closes
//!   the connection, a read or write fails, a reply is malformed, or the peer
//!   stops answering (see *Fail fast* below); the next request opens a fresh
//!   connection (reconnect on demand, never more than one attempt per link at a
//!   time).
//!
//! **Fail fast.** No request waits on a peer much longer than
//! `cluster-node-timeout` (read at run time, [`Pool::set_node_timeout`]):
//! connecting (with the handshake) is bounded by it; when the failure
//! detector reports a peer down, the gossip task hands the pool the
//! addresses of the down peers ([`Pool::set_down`]), which fails every
//! request queued or in flight on their links at once and every later one
//! on submission, until the peer is seen alive again. A link whose peer stays
//! silent for twice the node timeout with a request outstanding is dropped
//! too (a backstop for a peer whose gossip runs while its client side does
//! not), unless the oldest outstanding request is a blocking command
//! ([`Pool::submit`]'s `blocking`), which may rightly wait longer.
//!
//! A requester picks its link by a lane number ([`Pool::submit`]): requests of
//! one lane to one peer share a connection, so they are executed in the order
//! they were submitted (a client's pipelined commands keep their order).
//!
//! Each connection runs the mutual peer handshake before it carries anything
//! (after `AUTH` when `requirepass` is set, before `HELLO 3` for RESP3
//! links): it sends a challenge (`CLUSTER PROXY-ORIGIN NONCE <id> <nonce>`),
//! checks the receiving node's proof and challenge in the reply, and answers
//! with `CLUSTER PROXY-ORIGIN <hop> <id> <proof>`, proofs made with the
//! cluster secret (`peer_auth`). The receiving node then treats the
//! connection as a peer link: it knows the request was proxied and how many
//! hops it took, and accepts the internal CLUSTER subcommands on it.
//!
//! **Hop levels.** A migration can make a proxied request travel on (importing
//! → source → new owner). Links are FIFO, so a request that came back over the
//! very connection whose handler is waiting for it would wait for itself until
//! the link times out. Links are therefore kept apart per hop: a request a
//! client sent goes out on hop-1 links, one that arrived on a hop-k link goes
//! on on hop-(k+1) links, and a handler of hop k only ever waits for hop k+1:
//! no cycle is possible. Past [`MAX_HOPS`] a request is not forwarded again.
//! Control traffic (raft, migration batches, PUBLISH fan-out) has links of its
//! own, so it never waits behind a client request that a peer holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::peer_auth::{self, Direction};
use crate::node::Node;
use crate::resp::{decode_reply, encode_command, FrameScan, ReplyValue};

/// The node timeout a pool starts with (`cluster-node-timeout`'s default)
/// until the gossip task sets the configured one.
const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_millis(3000);
/// How often a link with requests outstanding checks for silence, at most
/// (finer for short node timeouts: a tenth of the timeout).
const MAX_CHECK_STEP: Duration = Duration::from_millis(250);
/// Connections per peer and protocol. Two let the peer run two batches in
/// parallel (one per core) while still batching many clients per write.
const LINKS_PER_PEER: usize = 2;
/// The most hops a proxied request may travel (see the module docs).
pub(crate) const MAX_HOPS: u8 = 4;
/// Link class of control requests ([`Pool::request_control`]); announced to
/// the peer as hop 1.
const CONTROL: u8 = 0;
/// A link stops taking queued requests into its write buffer past this size
/// until the buffer is written (backpressure on huge pipelines).
const MAX_BATCH: usize = 256 * 1024;

/// Where one request's reply goes.
#[derive(Debug)]
struct Waiter {
    /// The requester's end.
    tx: oneshot::Sender<io::Result<Bytes>>,
    /// A blocking command (BLPOP...): the peer may rightly stay silent.
    blocking: bool,
}

impl Waiter {
    fn send(self, r: io::Result<Bytes>) {
        // The requester may have timed out and gone: fine.
        let _ = self.tx.send(r);
    }
}

/// The reply of a submitted request ([`Pool::submit`]).
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<io::Result<Bytes>>);

impl Pending {
    /// Waits for the raw reply frame (or the error that failed the link).
    pub(crate) async fn reply(self) -> io::Result<Bytes> {
        self.0
            .await
            .unwrap_or_else(|_| Err(io::Error::other("peer link closed")))
    }
}

/// Requests handed to a link's task and not yet taken into its write buffer.
#[derive(Debug, Default)]
struct Queue {
    /// Encoded requests, back to back.
    out: BytesMut,
    /// Their requesters, in the same order.
    waiting: VecDeque<Waiter>,
    /// The link died (or its pool is gone): it takes no more requests.
    closed: bool,
    /// The peer was reported down: the link's task fails what it carries
    /// with this and exits.
    aborted: Option<Failure>,
}

/// One connection's queue and the wake-up of the task that drives it.
#[derive(Debug, Default)]
struct Link {
    queue: Mutex<Queue>,
    wake: Notify,
    /// Unix time (ms) the link was opened (CLUSTER LINKS).
    created_ms: u64,
}

/// One live link to a peer, as CLUSTER LINKS and MEMORY STATS show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer's RESP address.
    pub addr: SocketAddr,
    /// Unix time (ms) the link was opened.
    pub created_ms: u64,
    /// Bytes allocated for requests queued and not yet written.
    pub send_buffer_allocated: usize,
    /// Bytes of requests queued and not yet written.
    pub send_buffer_used: usize,
}

impl Link {
    /// Fails everything queued or in flight with `failure` at once, and
    /// makes the link's task exit (the peer was reported down).
    fn abort(&self, failure: &Failure) {
        self.queue.lock().aborted = Some(failure.clone());
        self.close(Some(failure));
        self.wake.notify_one();
    }

    /// The failure the link was aborted with, if it was.
    fn aborted(&self) -> Option<Failure> {
        self.queue.lock().aborted.clone()
    }

    /// Fails everything queued and marks the link closed.
    fn close(&self, failure: Option<&Failure>) {
        let waiting = {
            let mut q = self.queue.lock();
            q.closed = true;
            q.out = BytesMut::new();
            std::mem::take(&mut q.waiting)
        };
        if let Some(f) = failure {
            for w in waiting {
                w.send(Err(f.error()));
            }
        }
    }
}

/// A peer's links of one protocol (RESP3 or not) and hop class.
type LinkKey = (SocketAddr, bool, u8);
/// Those links, by lane.
type Lanes = [Option<Arc<Link>>; LINKS_PER_PEER];

/// The links of a pool and the peers it refuses to wait for.
#[derive(Debug, Default)]
struct Links {
    by_key: HashMap<LinkKey, Lanes, ahash::RandomState>,
    /// RESP addresses of the peers the failure detector reports down.
    down: HashSet<SocketAddr, ahash::RandomState>,
}

/// Links to peers, keyed by address, protocol and hop class (see the module docs).
#[derive(Debug)]
pub struct Pool {
    links: Mutex<Links>,
    next: AtomicUsize,
    /// `cluster-node-timeout` in ms, shared with every link's task.
    timeout_ms: Arc<AtomicU64>,
    identity: Arc<Identity>,
}

/// What a link proves itself with (see `peer_auth`).
#[derive(Debug)]
struct Identity {
    /// This node's id.
    id: String,
    /// The cluster secret (`cluster-secret`, fixed at startup).
    secret: String,
}

impl Drop for Pool {
    /// Lets every link's task finish what is outstanding and exit.
    fn drop(&mut self) {
        for link in self.links.get_mut().by_key.values().flatten().flatten() {
            link.close(None);
            link.wake.notify_one();
        }
    }
}

impl Pool {
    /// The pool of node `id`, whose links prove themselves with `secret`.
    pub(crate) fn new(id: &str, secret: &str) -> Pool {
        Pool::with_timeout(id, secret, DEFAULT_NODE_TIMEOUT)
    }

    /// Like [`Pool::new`] with node timeout `timeout` (see the module docs).
    pub(crate) fn with_timeout(id: &str, secret: &str, timeout: Duration) -> Pool {
        Pool {
            links: Mutex::new(Links::default()),
            next: AtomicUsize::new(0),
            timeout_ms: Arc::new(AtomicU64::new(timeout.as_millis() as u64)),
            identity: Arc::new(Identity {
                id: id.to_string(),
                secret: secret.to_string(),
            }),
        }
    }

    /// Sets the node timeout (`cluster-node-timeout`, ms) that bounds the
    /// waits of every link, open ones included.
    pub fn set_node_timeout(&self, ms: u64) {
        self.timeout_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// The live links (read-only: CLUSTER LINKS, MEMORY STATS).
    pub fn link_infos(&self) -> Vec<LinkInfo> {
        let links = self.links.lock();
        links
            .by_key
            .iter()
            .flat_map(|((addr, _, _), lanes)| lanes.iter().flatten().map(move |l| (*addr, l)))
            .filter_map(|(addr, link)| {
                let q = link.queue.lock();
                (!q.closed).then(|| LinkInfo {
                    addr,
                    created_ms: link.created_ms,
                    send_buffer_allocated: q.out.capacity(),
                    send_buffer_used: q.out.len(),
                })
            })
            .collect()
    }

    /// Replaces the set of peers (RESP addresses) the failure detector
    /// reports down: the links to a peer newly down fail everything they
    /// carry at once, and requests to a down peer fail on submission.
    pub fn set_down(&self, down: impl IntoIterator<Item = SocketAddr>) {
        let down: HashSet<SocketAddr, ahash::RandomState> = down.into_iter().collect();
        let mut links = self.links.lock();
        if links.down == down {
            return;
        }
        tracing::debug!(?down, "peers reported down");
        let failure = Failure::peer_down();
        let mut dead = Vec::new();
        links.by_key.retain(|(addr, _, _), lanes| {
            if !down.contains(addr) {
                return true;
            }
            dead.extend(lanes.iter_mut().filter_map(Option::take));
            false
        });
        links.down = down;
        drop(links);
        for link in dead {
            tracing::debug!("peer reported down: failing its link's requests");
            link.abort(&failure);
        }
    }

    /// Sends one request to `addr` and returns its raw reply frame (RESP3
    /// when `resp3`), on a first-hop link.
    pub(crate) async fn request(
        &self,
        shared: &Node,
        addr: SocketAddr,
        resp3: bool,
        args: &[&[u8]],
    ) -> io::Result<Bytes> {
        self.request_at(shared, addr, resp3, 1, args).await
    }

    /// Sends a node-to-node control request (raft messages, migration batches,
    /// PUBLISH fan-out) on links of its own: the receiver answers these without
    /// waiting on anything, and they must never queue behind client requests
    /// that a peer holds (e.g. until a slot flip that needs this very message).
    pub(crate) async fn request_control(
        &self,
        shared: &Node,
        addr: SocketAddr,
        args: &[&[u8]],
    ) -> io::Result<Bytes> {
        self.request_at(shared, addr, false, CONTROL, args).await
    }

    /// Like [`Pool::request`] on a link of hop level `hop` (1..=[`MAX_HOPS`],
    /// or [`CONTROL`]), the links of a peer taken in turn.
    async fn request_at(
        &self,
        shared: &Node,
        addr: SocketAddr,
        resp3: bool,
        hop: u8,
        args: &[&[u8]],
    ) -> io::Result<Bytes> {
        let lane = self.next.fetch_add(1, Ordering::Relaxed);
        let to = Destination {
            addr,
            resp3,
            hop,
            lane,
        };
        self.submit(shared, to, false, args).reply().await
    }

    /// Queues a request on link `to.lane` (modulo [`LINKS_PER_PEER`]) to
    /// `to.addr` at hop level `to.hop` without waiting: requests submitted on
    /// one lane are executed by the peer in submission order. `blocking`: a
    /// blocking command, which the peer may rightly leave unanswered for long.
    pub(crate) fn submit<A: AsRef<[u8]>>(
        &self,
        shared: &Node,
        to: Destination,
        blocking: bool,
        args: &[A],
    ) -> Pending {
        self.queue(
            to,
            blocking,
            |out| encode_command(out, args),
            || shared.config.read().requirepass.clone(),
        )
    }

    /// Appends a request (written by `write`) to a live link, opening one when
    /// the lane has none. `password` is read only for a new connection.
    fn queue(
        &self,
        to: Destination,
        blocking: bool,
        write: impl FnOnce(&mut BytesMut),
        password: impl FnOnce() -> String,
    ) -> Pending {
        let Destination {
            addr,
            resp3,
            hop,
            lane,
        } = to;
        let (tx, rx) = oneshot::channel();
        let tx = Waiter { tx, blocking };
        let mut links = self.links.lock();
        if links.down.contains(&addr) {
            drop(links);
            tx.send(Err(Failure::peer_down().error()));
            return Pending(rx);
        }
        let slot = &mut links.by_key.entry((addr, resp3, hop)).or_default()[lane % LINKS_PER_PEER];
        if let Some(link) = slot {
            let mut q = link.queue.lock();
            if !q.closed {
                write(&mut q.out);
                q.waiting.push_back(tx);
                // The task takes the whole queue when woken: one wake-up per batch.
                let first = q.waiting.len() == 1;
                drop(q);
                if first {
                    link.wake.notify_one();
                }
                return Pending(rx);
            }
        }
        let link = Arc::new(Link {
            created_ms: crate::store::now_ms(),
            ..Link::default()
        });
        {
            let mut q = link.queue.lock();
            write(&mut q.out);
            q.waiting.push_back(tx);
        }
        tokio::spawn(drive(
            link.clone(),
            addr,
            resp3,
            hop,
            password(),
            self.identity.clone(),
            self.timeout_ms.clone(),
        ));
        link.wake.notify_one();
        *slot = Some(link);
        Pending(rx)
    }
}

/// Where a request goes: the peer, the protocol of the reply, the hop
/// class of the links and the lane (see [`Pool::submit`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Destination {
    /// The peer's RESP address.
    pub addr: SocketAddr,
    /// RESP3 replies.
    pub resp3: bool,
    /// Hop level (1..=[`MAX_HOPS`]).
    pub hop: u8,
    /// Requests of one lane keep their order.
    pub lane: usize,
}

/// Why a link died, copied into every request it fails.
#[derive(Clone, Debug)]
struct Failure {
    kind: io::ErrorKind,
    text: String,
}

impl Failure {
    /// The failure detector reports the peer down.
    fn peer_down() -> Failure {
        Failure {
            kind: io::ErrorKind::NotConnected,
            text: "the failure detector reports the node down".into(),
        }
    }

    fn from_io(e: &io::Error) -> Failure {
        Failure {
            kind: e.kind(),
            text: e.to_string(),
        }
    }

    fn error(&self) -> io::Error {
        io::Error::new(self.kind, self.text.clone())
    }
}

/// Runs one link until it fails or its pool is gone with nothing
/// outstanding; then fails what is still waiting or queued.
async fn drive(
    link: Arc<Link>,
    addr: SocketAddr,
    resp3: bool,
    hop: u8,
    password: String,
    identity: Arc<Identity>,
    timeout_ms: Arc<AtomicU64>,
) {
    let mut pending: VecDeque<Waiter> = VecDeque::new();
    let timeout = Duration::from_millis(timeout_ms.load(Ordering::Relaxed));
    let handshake = tokio::time::timeout(timeout, connect(addr, resp3, hop, &password, &identity));
    tokio::pin!(handshake);
    // Requests queued meanwhile wake the task too: only an abort ends the wait.
    let connected = loop {
        tokio::select! {
            r = &mut handshake => break match r {
                Err(_) => Err(Failure {
                    kind: io::ErrorKind::TimedOut,
                    text: "connect timed out".into(),
                }),
                Ok(Err(e)) => Err(Failure::from_io(&e)),
                Ok(Ok(conn)) => Ok(conn),
            },
            _ = link.wake.notified() => {
                if let Some(f) = link.aborted() {
                    break Err(f);
                }
            }
        }
    };
    let result = match connected {
        Ok((sock, buf)) => {
            // The wake-ups consumed while connecting: take the queue now.
            link.wake.notify_one();
            serve(sock, buf, &link, &mut pending, &timeout_ms).await
        }
        Err(f) => Err(f),
    };
    let failure = result.err();
    if let Some(f) = &failure {
        tracing::debug!(%addr, "peer link closed: {}", f.text);
        for p in pending.drain(..) {
            p.send(Err(f.error()));
        }
    }
    link.close(failure.as_ref());
}

/// Opens a connection and runs the peer handshake (see the module docs);
/// returns the socket and any bytes read past the handshake replies.
async fn connect(
    addr: SocketAddr,
    resp3: bool,
    hop: u8,
    password: &str,
    identity: &Identity,
) -> io::Result<(TcpStream, BytesMut)> {
    let mut sock = TcpStream::connect(addr).await?;
    let _ = sock.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut scan = FrameScan::default();
    let mut hello = BytesMut::new();
    if !password.is_empty() {
        encode_command::<&[u8]>(&mut hello, &[b"AUTH", password.as_bytes()]);
    }
    let mine = peer_auth::nonce();
    encode_command::<&[u8]>(
        &mut hello,
        &[
            b"CLUSTER",
            b"PROXY-ORIGIN",
            b"NONCE",
            identity.id.as_bytes(),
            mine.as_bytes(),
        ],
    );
    sock.write_all(&hello).await?;
    if !password.is_empty() {
        handshake_reply(&mut sock, &mut buf, &mut scan).await?;
    }
    let challenge = handshake_reply(&mut sock, &mut buf, &mut scan).await?;
    let malformed = || io::Error::other("malformed peer challenge");
    let Ok(ReplyValue::Array(parts)) = decode_reply(&challenge) else {
        return Err(malformed());
    };
    let [ReplyValue::BulkString(peer_id), ReplyValue::BulkString(nonce), ReplyValue::BulkString(their_proof)] =
        &parts[..]
    else {
        return Err(malformed());
    };
    let peer_id = String::from_utf8_lossy(peer_id);
    let nonce = String::from_utf8_lossy(nonce);
    let (secret, me) = (&identity.secret, &identity.id);
    if !peer_auth::verify(secret, &mine, &peer_id, me, Direction::Accept, their_proof) {
        return Err(io::Error::other("peer failed to prove the cluster secret"));
    }
    let proof = peer_auth::proof(secret, &nonce, me, &peer_id, Direction::Connect);
    let mut level = itoa::Buffer::new();
    hello.clear();
    encode_command::<&[u8]>(
        &mut hello,
        &[
            b"CLUSTER",
            b"PROXY-ORIGIN",
            level.format(hop.max(1)).as_bytes(),
            identity.id.as_bytes(),
            proof.as_bytes(),
        ],
    );
    if resp3 {
        encode_command::<&[u8]>(&mut hello, &[b"HELLO", b"3"]);
    }
    sock.write_all(&hello).await?;
    handshake_reply(&mut sock, &mut buf, &mut scan).await?;
    if resp3 {
        handshake_reply(&mut sock, &mut buf, &mut scan).await?;
    }
    Ok((sock, buf))
}

/// Reads one reply of the handshake; an error reply fails the link.
async fn handshake_reply(
    sock: &mut TcpStream,
    buf: &mut BytesMut,
    scan: &mut FrameScan,
) -> io::Result<BytesMut> {
    let frame = loop {
        if let Some(n) = scan.next(buf)? {
            break buf.split_to(n);
        }
        if sock.read_buf(buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    };
    if frame.first() == Some(&b'-') {
        return Err(io::Error::other(format!(
            "peer refused the proxy handshake: {}",
            String::from_utf8_lossy(&frame).trim_end()
        )));
    }
    Ok(frame)
}

/// The link's loop: take queued requests into one write, match replies to
/// waiting requesters in order. Returns `Ok` when the pool is gone and
/// nothing is outstanding.
async fn serve(
    sock: TcpStream,
    mut inbuf: BytesMut,
    link: &Link,
    pending: &mut VecDeque<Waiter>,
    timeout_ms: &AtomicU64,
) -> Result<(), Failure> {
    // When this link ends (its peer reported down, a timeout), its unsent
    // requests must die with it: a graceful close would let the kernel
    // deliver them after a partition heals, replaying stale writes over
    // newer ones. Linger 0 makes the close a reset that drops them.
    if let Err(e) = crate::util::reset_on_close(&sock) {
        tracing::debug!("peer link: SO_LINGER not set: {e}");
    }
    let (mut rd, mut wr) = sock.into_split();
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut scan = FrameScan::default();
    let mut pool_gone = false;
    // Last time the peer showed progress while something was outstanding,
    // checked by a coarse ticker (one timer per link, not per request),
    // rebuilt when the node timeout changes.
    let mut progress = Instant::now();
    let check_step = |ms: u64| (Duration::from_millis(ms) / 10).min(MAX_CHECK_STEP);
    let mut ticked_ms = timeout_ms.load(Ordering::Relaxed);
    let mut ticker = tokio::time::interval(check_step(ticked_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lost = |text: &str| Failure {
        kind: io::ErrorKind::ConnectionAborted,
        text: text.into(),
    };
    loop {
        if pool_gone && pending.is_empty() && out.is_empty() {
            return Ok(());
        }
        if inbuf.capacity() - inbuf.len() < 4096 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            _ = link.wake.notified(), if !pool_gone && out.len() < MAX_BATCH => {
                // Let every other ready task (clients whose requests arrived
                // in the same poll of the sockets) queue theirs first.
                tokio::task::yield_now().await;
                let mut q = link.queue.lock();
                if let Some(f) = q.aborted.take() {
                    return Err(f);
                }
                if pending.is_empty() && !q.waiting.is_empty() {
                    progress = Instant::now();
                }
                if out.is_empty() {
                    std::mem::swap(&mut out, &mut q.out);
                } else {
                    out.extend_from_slice(&q.out);
                    q.out.clear();
                }
                pending.extend(q.waiting.drain(..));
                pool_gone = q.closed;
            }
            w = wr.write_buf(&mut out), if !out.is_empty() => {
                match w {
                    Ok(0) => return Err(lost("peer closed the connection")),
                    Ok(_) => {}
                    Err(e) => return Err(Failure::from_io(&e)),
                }
            }
            r = rd.read_buf(&mut inbuf) => {
                match r {
                    Ok(0) => return Err(lost("peer closed the connection")),
                    Ok(_) => progress = Instant::now(),
                    Err(e) => return Err(Failure::from_io(&e)),
                }
                while let Some(n) = scan.next(&inbuf).map_err(|e| Failure::from_io(&e.into()))? {
                    let frame = inbuf.split_to(n).freeze();
                    let Some(waiter) = pending.pop_front() else {
                        return Err(lost("unexpected reply from the peer"));
                    };
                    waiter.send(Ok(frame));
                }
            }
            _ = ticker.tick() => {
                // Seen here too when a full batch keeps the wake-up branch off.
                if let Some(f) = link.aborted() {
                    return Err(f);
                }
                let ms = timeout_ms.load(Ordering::Relaxed);
                if ms != ticked_ms {
                    ticked_ms = ms;
                    ticker = tokio::time::interval(check_step(ms));
                    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
                let silence = Duration::from_millis(ms.saturating_mul(2));
                let waits = pending.front().is_some_and(|w| !w.blocking);
                if waits && progress.elapsed() >= silence {
                    return Err(Failure {
                        kind: io::ErrorKind::TimedOut,
                        text: "peer stopped answering".into(),
                    });
                }
            }
        }
    }
}

/// Replies a connection still waits for from commands forwarded by
/// `server::forward::start`, in the order the client sent the commands.
#[derive(Debug, Default)]
pub struct InFlight {
    /// The replies, in the client's order.
    pub entries: Vec<InFlightReply>,
}

/// One forwarded command's reply, still on its way.
#[derive(Debug)]
pub struct InFlightReply {
    /// Where in the reply buffer the command's reply belongs: output written
    /// after the command was sent (e.g. errors of later commands) follows it.
    pub at: usize,
    /// The peer, for the error when it cannot be reached.
    pub addr: SocketAddr,
    /// CLIENT REPLY OFF/SKIP: dropped.
    pub silent: bool,
    /// The reply, once the peer sends it.
    pub reply: Pending,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use tokio::net::TcpListener;

    /// How the fake peer treats requests after the handshake.
    #[derive(Clone, Copy)]
    enum Mode {
        /// Reply to `ECHO x` with `$x`, in order.
        Echo,
        /// Read requests, never reply.
        Silent,
        /// Close the connection after reading this many requests, unanswered.
        DieAfter(usize),
        /// Refuse the handshake.
        Refuse,
    }

    /// A minimal RESP peer on 127.0.0.1: runs the peer handshake (checking
    /// the proof of [`SECRET`]), then behaves as `mode` says. Counts accepted
    /// connections.
    async fn fake_peer(mode: Mode) -> (SocketAddr, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let conns = Arc::new(AtomicUsize::new(0));
        let counter = conns.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(peer_conn(sock, mode));
            }
        });
        (addr, conns)
    }

    /// The secret of the pools and fake peers of these tests.
    const SECRET: &str = "test-secret";

    async fn peer_conn(mut sock: TcpStream, mode: Mode) {
        use crate::resp::{parse_request, ParseLimits, Parsed};
        let mut buf = BytesMut::new();
        let mut seen = 0usize;
        let nonce = peer_auth::nonce();
        let mut handshake = 0;
        let accept = Direction::Accept;
        loop {
            let mut out = BytesMut::new();
            while let Ok(Parsed::Command(items)) = parse_request(&mut buf, ParseLimits::default()) {
                if handshake == 0 {
                    let theirs = String::from_utf8_lossy(&items[4]);
                    let p = peer_auth::proof(SECRET, &theirs, "peer", "me", accept);
                    encode_command(&mut out, &[b"peer", nonce.as_bytes(), p.as_bytes()]);
                    handshake = 1;
                    continue;
                }
                if handshake == 1 {
                    let ok = items.len() == 5
                        && peer_auth::verify(
                            SECRET,
                            &nonce,
                            "me",
                            "peer",
                            Direction::Connect,
                            &items[4],
                        );
                    if matches!(mode, Mode::Refuse) || !ok {
                        out.extend_from_slice(b"-NOPERM not a peer\r\n");
                    } else {
                        out.extend_from_slice(b"+OK\r\n");
                    }
                    handshake = 2;
                    continue;
                }
                seen += 1;
                match mode {
                    Mode::Echo => {
                        crate::resp::encode::put_bulk(
                            &mut out,
                            items.get(1).map_or(&[][..], |v| v),
                        );
                    }
                    Mode::DieAfter(n) if seen >= n => return,
                    _ => {}
                }
            }
            if !out.is_empty() && sock.write_all(&out).await.is_err() {
                return;
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    async fn echo(pool: &Pool, addr: SocketAddr, v: &str) -> io::Result<Bytes> {
        let lane = pool.next.fetch_add(1, Ordering::Relaxed);
        let to = Destination {
            addr,
            resp3: false,
            hop: 1,
            lane,
        };
        pool.queue(
            to,
            false,
            |out| encode_command::<&[u8]>(out, &[b"ECHO", v.as_bytes()]),
            String::new,
        )
        .reply()
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_requests_get_their_own_replies_in_order() {
        let (addr, conns) = fake_peer(Mode::Echo).await;
        let pool = Arc::new(Pool::new("me", SECRET));
        let mut tasks = Vec::new();
        for t in 0..64 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                // Each task's requests are sequential; the tasks interleave.
                for i in 0..50 {
                    let v = format!("t{t}-{i}");
                    let r = echo(&pool, addr, &v).await.expect("reply");
                    assert_eq!(&r[..], format!("${}\r\n{v}\r\n", v.len()).as_bytes());
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        // 3200 requests from 64 requesters over at most LINKS_PER_PEER connections.
        let n = conns.load(Ordering::SeqCst);
        assert!((1..=LINKS_PER_PEER).contains(&n), "{n} connections");
    }

    #[tokio::test]
    async fn peer_death_mid_request_fails_every_waiter_then_reconnects() {
        let (addr, conns) = fake_peer(Mode::DieAfter(1)).await;
        let pool = Arc::new(Pool::new("me", SECRET));
        let start = std::time::Instant::now();
        let mut tasks = Vec::new();
        for i in 0..5 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                echo(&pool, addr, &i.to_string()).await
            }));
        }
        for t in tasks {
            let e = t.await.expect("task").expect_err("peer died");
            // EOF, or a reset when the peer closed with requests unread.
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                ),
                "{e}"
            );
        }
        // Failed at once, not after the 10 s timeout.
        assert!(start.elapsed() < Duration::from_secs(5));
        // The next requests open fresh connections.
        let before = conns.load(Ordering::SeqCst);
        let _ = echo(&pool, addr, "again").await;
        assert!(conns.load(Ordering::SeqCst) > before);
    }

    #[tokio::test]
    async fn silent_peer_times_out_and_the_link_is_dropped() {
        let (addr, conns) = fake_peer(Mode::Silent).await;
        let pool = Pool::with_timeout("me", SECRET, Duration::from_millis(300));
        let e = echo(&pool, addr, "x").await.expect_err("no reply");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        // The link gives up on its own too; a later request reconnects.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = conns.load(Ordering::SeqCst);
        for _ in 0..LINKS_PER_PEER {
            let _ = echo(&pool, addr, "y").await;
        }
        assert!(conns.load(Ordering::SeqCst) > before);
    }

    /// A peer the failure detector reports down: what waits on its links
    /// fails at once (not after a timeout), later requests fail on
    /// submission, and once it is up again requests reach it.
    #[tokio::test]
    async fn a_peer_reported_down_fails_its_requests_at_once() {
        let (addr, _) = fake_peer(Mode::Silent).await;
        let pool = Arc::new(Pool::with_timeout("me", SECRET, Duration::from_secs(30)));
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { echo(&pool, addr, "x").await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = std::time::Instant::now();
        pool.set_down([addr]);
        let e = waiting.await.expect("task").expect_err("down");
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
        assert!(start.elapsed() < Duration::from_secs(1));
        let e = echo(&pool, addr, "y").await.expect_err("still down");
        assert_eq!(e.kind(), io::ErrorKind::NotConnected, "{e}");
        let (up, _) = fake_peer(Mode::Echo).await;
        pool.set_down([addr]);
        assert!(echo(&pool, up, "z").await.is_ok());
        pool.set_down([]);
        pool.set_node_timeout(100);
        // Silent again, but no longer reported down: the link's own silence
        // limit (twice the node timeout, changed at run time) ends the wait.
        let start = std::time::Instant::now();
        let e = echo(&pool, addr, "w").await.expect_err("silent");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn refused_handshake_and_unreachable_peer_are_errors() {
        let (addr, _) = fake_peer(Mode::Refuse).await;
        let pool = Pool::new("me", SECRET);
        let e = echo(&pool, addr, "x").await.expect_err("refused");
        assert!(e.to_string().contains("refused the proxy handshake"), "{e}");
        // Secrets that differ: the peer's proof does not hold, and the link
        // sends nothing to it.
        let (good, _) = fake_peer(Mode::Echo).await;
        let other = Pool::new("me", "other-secret");
        let e = echo(&other, good, "x").await.expect_err("wrong secret");
        assert!(e.to_string().contains("failed to prove"), "{e}");
        assert!(echo(&pool, good, "x").await.is_ok());
        // A port nobody listens on (bound, then released).
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead = l.local_addr().expect("addr");
        drop(l);
        let e = echo(&pool, dead, "x").await.expect_err("unreachable");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    }
}
