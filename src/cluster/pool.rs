//! Multiplexed, pipelined links to peer nodes for proxied requests.
//!
//! A proxy hop used to take one pooled connection per in-flight request and
//! pay a write and a read syscall on both nodes for every request. Here each
//! peer (and protocol, RESP2 or RESP3) gets [`LINKS_PER_PEER`] long-lived
//! connections, each driven by one task ([`drive`]) that
//!
//! - writes every request queued since its last write in one `write` (requests
//!   of many clients share a syscall, and the peer parses them as one batch);
//! - reads replies and hands them, in order, to the requesters waiting on
//!   oneshot channels (RESP replies come back in request order on one
//!   connection, so matching is FIFO);
//! - fails every waiting and queued request with an error when the peer closes
//!   the connection, a read or write fails, a reply is malformed, or the peer
//!   stops answering for [`PEER_TIMEOUT`]; the next request opens a fresh
//!   connection (reconnect on demand, never more than one attempt per link at a
//!   time).
//!
//! Each connection announces itself with `CLUSTER PROXY-ORIGIN <hop>` (after
//! `AUTH` when `requirepass` is set, before `HELLO 3` for RESP3 links), so the
//! receiving node knows the request was proxied and how many hops it took.
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

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::server::Shared;

/// How long a link may take to connect, or stay silent with requests
/// outstanding, before it is dropped as dead and its requests fail (so no
/// proxied request waits much longer than this).
const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per peer and protocol. Two let the peer run two batches in
/// parallel (one per core) while still batching many clients per write.
const LINKS_PER_PEER: usize = 2;
/// The most hops a proxied request may travel (see the module docs).
pub(crate) const MAX_HOPS: u8 = 4;
/// Link class of control requests ([`Pool::request_control`]); announced to
/// the peer as hop 1.
const CONTROL: u8 = 0;
/// A link stops taking new requests into its write buffer past this size
/// until the buffer is written (backpressure on huge pipelines).
const MAX_BATCH: usize = 256 * 1024;

/// One request: its encoded bytes and where its reply goes.
struct Request {
    frame: Bytes,
    reply: oneshot::Sender<io::Result<Bytes>>,
}

/// The queue into one link's task.
type Link = mpsc::UnboundedSender<Request>;

/// Links to peers, keyed by address and protocol (see the module docs).
#[derive(Debug)]
pub struct Pool {
    links: Mutex<HashMap<(SocketAddr, bool, u8), Vec<Link>>>,
    next: AtomicUsize,
    timeout: Duration,
}

impl Default for Pool {
    fn default() -> Self {
        Pool::with_timeout(PEER_TIMEOUT)
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("len", &self.frame.len())
            .finish()
    }
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
fn frame_len(buf: &[u8], resp3: bool) -> io::Result<Option<usize>> {
    let r = if resp3 {
        redis_protocol::resp3::decode::complete::decode_range(buf).map(|o| o.map(|(_, n)| n))
    } else {
        redis_protocol::resp2::decode::decode_range(buf).map(|o| o.map(|(_, n)| n))
    };
    r.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

impl Pool {
    /// A pool whose links give up after `timeout` of connecting or silence.
    pub(crate) fn with_timeout(timeout: Duration) -> Pool {
        Pool {
            links: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
            timeout,
        }
    }

    /// Sends one request to `addr` and returns its raw reply frame (RESP3
    /// when `resp3`), on a first-hop link.
    pub(crate) async fn request(
        &self,
        shared: &Shared,
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
        shared: &Shared,
        addr: SocketAddr,
        args: &[&[u8]],
    ) -> io::Result<Bytes> {
        self.request_at(shared, addr, false, CONTROL, args).await
    }

    /// Like [`Pool::request`] on a link of hop level `hop` (1..=[`MAX_HOPS`],
    /// or [`CONTROL`]).
    pub(crate) async fn request_at(
        &self,
        shared: &Shared,
        addr: SocketAddr,
        resp3: bool,
        hop: u8,
        args: &[&[u8]],
    ) -> io::Result<Bytes> {
        let mut frame =
            BytesMut::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        encode(&mut frame, args);
        self.send(addr, resp3, hop, frame.freeze(), || {
            shared.config.read().requirepass.clone()
        })
        .await
    }

    /// Queues an encoded request on a link to `addr` and waits for its reply.
    /// `password` is read only when a new connection must be opened.
    async fn send(
        &self,
        addr: SocketAddr,
        resp3: bool,
        hop: u8,
        frame: Bytes,
        password: impl Fn() -> String,
    ) -> io::Result<Bytes> {
        let (tx, rx) = oneshot::channel();
        let mut req = Request { frame, reply: tx };
        // A link may close between picking it and queueing on it: retry once
        // on the replacement.
        for _ in 0..2 {
            let link = self.link(addr, resp3, hop, &password);
            match link.send(req) {
                Ok(()) => {
                    // No timer per request: the link answers every request it
                    // took, with an error at the latest `timeout` after the
                    // peer went silent or a connect attempt started.
                    return rx
                        .await
                        .unwrap_or_else(|_| Err(io::Error::other("peer link closed")));
                }
                Err(mpsc::error::SendError(back)) => req = back,
            }
        }
        Err(io::Error::other("peer link closed"))
    }

    /// A live link to `addr`, opening one when the chosen slot has none.
    fn link(&self, addr: SocketAddr, resp3: bool, hop: u8, password: &impl Fn() -> String) -> Link {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % LINKS_PER_PEER;
        let mut links = self.links.lock();
        let slots = links.entry((addr, resp3, hop)).or_default();
        if let Some(l) = slots.get(i).filter(|l| !l.is_closed()) {
            return l.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(addr, resp3, hop, password(), rx, self.timeout));
        if i < slots.len() {
            slots[i] = tx.clone();
        } else {
            slots.push(tx.clone());
        }
        tx
    }
}

/// Why a link died, copied into every request it fails.
#[derive(Clone, Debug)]
struct Failure {
    kind: io::ErrorKind,
    text: String,
}

impl Failure {
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

/// Runs one link until it fails or every sender is gone; then fails what is
/// still waiting or queued.
async fn drive(
    addr: SocketAddr,
    resp3: bool,
    hop: u8,
    password: String,
    mut rx: mpsc::UnboundedReceiver<Request>,
    timeout: Duration,
) {
    let mut pending: VecDeque<oneshot::Sender<io::Result<Bytes>>> = VecDeque::new();
    let result = match tokio::time::timeout(timeout, connect(addr, resp3, hop, &password)).await {
        Err(_) => Err(Failure {
            kind: io::ErrorKind::TimedOut,
            text: "connect timed out".into(),
        }),
        Ok(Err(e)) => Err(Failure::from_io(&e)),
        Ok(Ok((sock, buf))) => serve(sock, buf, resp3, &mut rx, &mut pending, timeout).await,
    };
    rx.close();
    if let Err(f) = result {
        tracing::debug!(%addr, "peer link closed: {}", f.text);
        for p in pending.drain(..) {
            let _ = p.send(Err(f.error()));
        }
        while let Ok(r) = rx.try_recv() {
            let _ = r.reply.send(Err(f.error()));
        }
    }
}

/// Opens a connection and runs the proxy handshake; returns the socket and
/// any bytes read past the handshake replies.
async fn connect(
    addr: SocketAddr,
    resp3: bool,
    hop: u8,
    password: &str,
) -> io::Result<(TcpStream, BytesMut)> {
    let mut sock = TcpStream::connect(addr).await?;
    let _ = sock.set_nodelay(true);
    let mut hello = BytesMut::new();
    let mut expect = 1;
    if !password.is_empty() {
        encode(&mut hello, &[b"AUTH", password.as_bytes()]);
        expect += 1;
    }
    let mut level = itoa::Buffer::new();
    encode(
        &mut hello,
        &[
            b"CLUSTER",
            b"PROXY-ORIGIN",
            level.format(hop.max(1)).as_bytes(),
        ],
    );
    if resp3 {
        encode(&mut hello, &[b"HELLO", b"3"]);
        expect += 1;
    }
    sock.write_all(&hello).await?;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    for i in 0..expect {
        // The HELLO reply is the last one and already RESP3.
        let frame = loop {
            if let Some(n) = frame_len(&buf, resp3 && i + 1 == expect)? {
                break buf.split_to(n);
            }
            if sock.read_buf(&mut buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        if frame.first() == Some(&b'-') {
            return Err(io::Error::other(format!(
                "peer refused the proxy handshake: {}",
                String::from_utf8_lossy(&frame).trim_end()
            )));
        }
    }
    Ok((sock, buf))
}

/// The link's loop: batch queued requests into one write, match replies to
/// waiting requesters in order. Returns `Ok` when every sender is gone and
/// nothing is outstanding.
async fn serve(
    sock: TcpStream,
    mut inbuf: BytesMut,
    resp3: bool,
    rx: &mut mpsc::UnboundedReceiver<Request>,
    pending: &mut VecDeque<oneshot::Sender<io::Result<Bytes>>>,
    timeout: Duration,
) -> Result<(), Failure> {
    let (mut rd, mut wr) = sock.into_split();
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut senders_gone = false;
    // Last time the peer showed progress while something was outstanding,
    // checked by a coarse ticker (one timer per link, not per request).
    let mut progress = Instant::now();
    let mut ticker = tokio::time::interval(timeout / 4);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let lost = |text: &str| Failure {
        kind: io::ErrorKind::ConnectionAborted,
        text: text.into(),
    };
    loop {
        if senders_gone && pending.is_empty() && out.is_empty() {
            return Ok(());
        }
        if inbuf.capacity() - inbuf.len() < 4096 {
            inbuf.reserve(16 * 1024);
        }
        tokio::select! {
            req = rx.recv(), if !senders_gone && out.len() < MAX_BATCH => {
                let Some(req) = req else {
                    senders_gone = true;
                    continue;
                };
                if pending.is_empty() {
                    progress = Instant::now();
                }
                out.extend_from_slice(&req.frame);
                pending.push_back(req.reply);
                // Everything else already queued goes into the same write.
                while out.len() < MAX_BATCH {
                    let Ok(req) = rx.try_recv() else { break };
                    out.extend_from_slice(&req.frame);
                    pending.push_back(req.reply);
                }
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
                while let Some(n) = frame_len(&inbuf, resp3).map_err(|e| Failure::from_io(&e))? {
                    let frame = inbuf.split_to(n).freeze();
                    let Some(waiter) = pending.pop_front() else {
                        return Err(lost("unexpected reply from the peer"));
                    };
                    // The requester may have timed out and gone: fine.
                    let _ = waiter.send(Ok(frame));
                }
            }
            _ = ticker.tick() => {
                if !pending.is_empty() && progress.elapsed() >= timeout {
                    return Err(Failure {
                        kind: io::ErrorKind::TimedOut,
                        text: "peer stopped answering".into(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use tokio::net::TcpListener;

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

    /// A minimal RESP peer on 127.0.0.1: answers the proxy handshake with
    /// `+OK`, then behaves as `mode` says. Counts accepted connections.
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

    async fn peer_conn(mut sock: TcpStream, mode: Mode) {
        use redis_protocol::resp2::{decode::decode, types::OwnedFrame};
        let mut buf = BytesMut::new();
        let mut seen = 0usize;
        let mut handshake_done = false;
        loop {
            let mut out = BytesMut::new();
            while let Ok(Some((frame, n))) = decode(&buf) {
                let _ = buf.split_to(n);
                let OwnedFrame::Array(items) = frame else {
                    return;
                };
                let arg = |i: usize| match items.get(i) {
                    Some(OwnedFrame::BulkString(b)) => b.clone(),
                    _ => Vec::new(),
                };
                if !handshake_done {
                    if matches!(mode, Mode::Refuse) {
                        out.extend_from_slice(b"-NOAUTH Authentication required.\r\n");
                    } else {
                        out.extend_from_slice(b"+OK\r\n");
                    }
                    handshake_done = true;
                    continue;
                }
                seen += 1;
                match mode {
                    Mode::Echo => {
                        let v = arg(1);
                        out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
                        out.extend_from_slice(&v);
                        out.extend_from_slice(b"\r\n");
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
        let mut f = BytesMut::new();
        encode(&mut f, &[b"ECHO", v.as_bytes()]);
        pool.send(addr, false, 1, f.freeze(), String::new).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_requests_get_their_own_replies_in_order() {
        let (addr, conns) = fake_peer(Mode::Echo).await;
        let pool = Arc::new(Pool::default());
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
        let pool = Arc::new(Pool::default());
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
        let pool = Pool::with_timeout(Duration::from_millis(300));
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

    #[tokio::test]
    async fn refused_handshake_and_unreachable_peer_are_errors() {
        let (addr, _) = fake_peer(Mode::Refuse).await;
        let pool = Pool::default();
        let e = echo(&pool, addr, "x").await.expect_err("refused");
        assert!(e.to_string().contains("refused the proxy handshake"), "{e}");
        // A port nobody listens on (bound, then released).
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let dead = l.local_addr().expect("addr");
        drop(l);
        let e = echo(&pool, dead, "x").await.expect_err("unreachable");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    }
}
