//! A replica's connection to its primary (`REPLICAOF host port`): connects,
//! authenticates with `masteruser`/`masterauth`, does Redis' handshake
//! (`PING`, `REPLCONF listening-port`, `REPLCONF capa`, `PSYNC replid
//! offset`), loads a full sync's snapshot (dropping its old data first) or
//! continues from its offset, then applies the stream in order and
//! acknowledges it (`REPLCONF ACK offset` after each applied batch and every
//! second); a link silent for `repl-timeout` (the primary PINGs every
//! `repl-ping-replica-period`) is dropped. It reconnects with backoff when the link breaks, and stops when
//! the node becomes a primary again.
//!
//! The stream is applied under the exclusive gate, a `MULTI`…`EXEC` unit
//! at once (never half of it), with `store::expire::applying_stream` on: the
//! keys whose TTL passed are still there for the primary's commands, which
//! decide when they go.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::dump::{self, DumpLimits};
use crate::cmd::client::Client;
use crate::cmd::propagate::RECORDS_VERB;
use crate::cmd::{Ctx, Shared};
use crate::node::replication::{LinkState, Role, UpstreamState};
use crate::resp::{encode_command, ParseLimits, Parsed, Reply, RequestParser};
use crate::store::{now_ms, Entry};

/// Why a link ended.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    /// The socket failed or closed.
    #[error("connection lost: {0}")]
    Io(#[from] std::io::Error),
    /// The primary answered the handshake with an error or nonsense.
    #[error("primary replied {0:?}")]
    Refused(String),
    /// The stream could not be parsed or applied.
    #[error("bad stream: {0}")]
    Stream(String),
}

/// Runs for the node's life: follows the role, keeping a link to the
/// primary while this node is a replica.
pub async fn run(shared: Arc<Shared>) {
    let mut role = shared.repl.role.subscribe();
    let mut stop = shared.shutdown.subscribe();
    let mut backoff = Duration::from_millis(100);
    loop {
        let target = role.borrow_and_update().clone();
        let Role::Replica { host, port } = target else {
            tokio::select! {
                _ = role.changed() => continue,
                _ = stop.changed() => return,
            }
        };
        tokio::select! {
            r = link(&shared, &host, port) => {
                if let Err(e) = r {
                    tracing::warn!("replication link to {host}:{port}: {e}");
                }
            }
            _ = role.changed() => {}
            _ = stop.changed() => return,
        }
        shared.repl.link.write().state = LinkState::Connect;
        if role.has_changed().unwrap_or(false) {
            backoff = Duration::from_millis(100);
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = role.changed() => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// A connection to the primary with its read buffer.
struct Upstream {
    sock: TcpStream,
    buf: BytesMut,
}

impl Upstream {
    async fn send(&mut self, args: &[&[u8]]) -> Result<(), LinkError> {
        let mut out = BytesMut::new();
        encode_command(&mut out, args);
        self.sock.write_all(&out).await?;
        Ok(())
    }

    /// Reads one `\r\n`-terminated line (without it).
    async fn line(&mut self) -> Result<String, LinkError> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.advance(i + 2);
                return Ok(line);
            }
            if self.sock.read_buf(&mut self.buf).await? == 0 {
                return Err(LinkError::Refused("connection closed".into()));
            }
        }
    }

    /// Sends a handshake command and expects a `+` reply.
    async fn expect_ok(&mut self, args: &[&[u8]]) -> Result<String, LinkError> {
        self.send(args).await?;
        let line = self.line().await?;
        match line.strip_prefix('+') {
            Some(rest) => Ok(rest.to_string()),
            None => Err(LinkError::Refused(line)),
        }
    }

    /// Reads exactly `n` bytes.
    async fn exact(&mut self, n: usize) -> Result<BytesMut, LinkError> {
        while self.buf.len() < n {
            if self.sock.read_buf(&mut self.buf).await? == 0 {
                return Err(LinkError::Refused("connection closed".into()));
            }
        }
        Ok(self.buf.split_to(n))
    }
}

/// One link to the primary, until it breaks.
async fn link(shared: &Arc<Shared>, host: &str, port: u16) -> Result<(), LinkError> {
    let repl = &shared.repl;
    repl.link.write().state = LinkState::Handshake;
    let sock = TcpStream::connect((host, port)).await?;
    let _ = sock.set_nodelay(true);
    let mut up = Upstream {
        sock,
        buf: BytesMut::new(),
    };
    let (user, pass) = {
        let c = shared.config.read();
        (
            c.stored_value("masteruser").to_string(),
            c.stored_value("masterauth").to_string(),
        )
    };
    if !pass.is_empty() {
        if user.is_empty() {
            up.expect_ok(&[b"AUTH", pass.as_bytes()]).await?;
        } else {
            up.expect_ok(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                .await?;
        }
    }
    up.expect_ok(&[b"PING"]).await?;
    let my_port = shared.bound_port.load(Ordering::Relaxed).to_string();
    up.expect_ok(&[b"REPLCONF", b"listening-port", my_port.as_bytes()])
        .await?;
    up.expect_ok(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await?;
    let have = repl.upstream.lock().clone();
    let (id, off) = match &have.replid {
        Some(id) => (id.clone(), (have.offset + 1).to_string()),
        None => ("?".to_string(), "-1".to_string()),
    };
    let answer = up
        .expect_ok(&[b"PSYNC", id.as_bytes(), off.as_bytes()])
        .await?;
    let mut words = answer.split_whitespace();
    match words.next() {
        Some("FULLRESYNC") => {
            let replid = words.next().unwrap_or_default().to_string();
            let offset: u64 = words
                .next()
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| LinkError::Refused(answer.clone()))?;
            repl.link.write().state = LinkState::Sync;
            let len_line = up.line().await?;
            let len: usize = len_line
                .strip_prefix('$')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| LinkError::Refused(len_line.clone()))?;
            let started = std::time::Instant::now();
            let payload = up.exact(len).await?;
            // Waits for the gate off the async workers (a long script on
            // this replica holds it).
            tokio::task::block_in_place(|| load_snapshot(shared, payload))?;
            tracing::info!(
                bytes = len,
                ms = started.elapsed().as_millis() as u64,
                "MASTER <-> REPLICA sync: finished with success"
            );
            *repl.upstream.lock() = UpstreamState {
                replid: Some(replid),
                offset,
                db: 0,
            };
        }
        Some("CONTINUE") => {
            if let Some(new_id) = words.next() {
                repl.upstream.lock().replid = Some(new_id.to_string());
            }
            tracing::info!("MASTER <-> REPLICA sync: partial resynchronization accepted");
        }
        _ => return Err(LinkError::Refused(answer)),
    }
    let mut client = master_client(shared, &up.sock);
    client.db = repl.upstream.lock().db;
    {
        let mut l = repl.link.write();
        l.state = LinkState::Connected;
        l.last_io_ms = now_ms();
    }
    let result = stream(shared, &mut up, &mut client).await;
    shared.clients.unregister(client.handle.id);
    result
}

/// The replica's client for the primary's commands (CLIENT LIST flag `M`).
fn master_client(shared: &Shared, sock: &TcpStream) -> Client {
    let peer = sock
        .peer_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let local = sock.local_addr().unwrap_or(peer);
    let handle = shared.clients.register(peer, local, now_ms());
    handle.meta.lock().flags = "M".into();
    Client::new(handle, true)
}

/// Applies the live stream until the link breaks.
async fn stream(
    shared: &Arc<Shared>,
    up: &mut Upstream,
    client: &mut Client,
) -> Result<(), LinkError> {
    let repl = &shared.repl;
    let mut parser = RequestParser::default();
    let mut unit: Vec<Vec<Bytes>> = Vec::new();
    let mut unit_bytes = 0u64;
    let mut in_multi = false;
    let mut acked = u64::MAX;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_read = std::time::Instant::now();
    loop {
        // Complete units (single commands, or MULTI..EXEC) apply together.
        let mut ready: Vec<Vec<Bytes>> = Vec::new();
        let mut ready_bytes = 0u64;
        loop {
            let before = up.buf.len();
            match parser.parse(&mut up.buf, ParseLimits::default()) {
                Ok(Parsed::Command(args)) => {
                    let used = (before - up.buf.len()) as u64;
                    if args.is_empty() {
                        ready_bytes += used;
                        continue;
                    }
                    unit_bytes += used;
                    if args[0].eq_ignore_ascii_case(b"multi") {
                        in_multi = true;
                    } else if args[0].eq_ignore_ascii_case(b"exec") {
                        in_multi = false;
                    } else {
                        unit.push(args);
                    }
                    if !in_multi {
                        ready.append(&mut unit);
                        ready_bytes += std::mem::take(&mut unit_bytes);
                    }
                }
                Ok(Parsed::Incomplete) => break,
                Err(e) => return Err(LinkError::Stream(e.to_string())),
            }
        }
        if ready_bytes > 0 {
            tokio::task::block_in_place(|| apply(shared, client, ready))?;
            let mut u = repl.upstream.lock();
            u.offset += ready_bytes;
            u.db = client.db;
        }
        let offset = repl.upstream.lock().offset;
        if offset != acked {
            let off = offset.to_string();
            up.send(&[b"REPLCONF", b"ACK", off.as_bytes()]).await?;
            acked = offset;
        }
        tokio::select! {
            r = up.sock.read_buf(&mut up.buf) => {
                if r? == 0 {
                    return Err(LinkError::Refused("connection closed".into()));
                }
                repl.link.write().last_io_ms = now_ms();
                last_read = std::time::Instant::now();
            }
            _ = tick.tick() => {
                acked = u64::MAX;
                let timeout: u64 = shared
                    .config
                    .read()
                    .stored_value("repl-timeout")
                    .parse()
                    .unwrap_or(60);
                if last_read.elapsed() > Duration::from_secs(timeout) {
                    return Err(LinkError::Refused("timeout: no data from the primary".into()));
                }
            }
            _ = client.handle.wake.notified() => {
                if client.handle.killed.load(Ordering::Acquire) {
                    return Err(LinkError::Refused("master link killed".into()));
                }
            }
        }
    }
}

/// Applies stream commands under the exclusive gate.
fn apply(
    shared: &Arc<Shared>,
    client: &mut Client,
    commands: Vec<Vec<Bytes>>,
) -> Result<(), LinkError> {
    let _gate = shared.gate.write();
    let now = now_ms();
    crate::store::expire::applying_stream(|| {
        for args in commands {
            if args[0].as_ref() == RECORDS_VERB && args.len() == 3 {
                let db = crate::util::parse_i64(&args[1])
                    .and_then(|d| usize::try_from(d).ok())
                    .filter(|&d| d < shared.store.db_count())
                    .ok_or_else(|| LinkError::Stream("bad records database".into()))?;
                apply_records(shared, db, &args[2], now)?;
                continue;
            }
            let found = crate::cmd::dispatch::resolve(&args)
                .map_err(|e| LinkError::Stream(e.to_string()))?;
            let mut out = Reply::new();
            let mut ctx = Ctx::new(shared, client, &mut out, now, true);
            crate::cmd::dispatch::call(&mut ctx, found, &args);
            if out.buf.first() == Some(&b'-') {
                tracing::debug!(
                    "stream command failed: {}",
                    String::from_utf8_lossy(&out.buf)
                );
            }
        }
        Ok(())
    })
}

/// Stores (or, for a tombstone, deletes) every record of `payload` in `db`.
fn apply_records(shared: &Shared, db: usize, payload: &[u8], now: u64) -> Result<(), LinkError> {
    let lim = DumpLimits::of(&shared.config.read());
    let mut buf = payload;
    while let Some(rec) =
        dump::decode(&mut buf, &lim).map_err(|e| LinkError::Stream(e.to_string()))?
    {
        let key = shared.store.key(&rec.key);
        let mut l = shared.store.lock(db, &key, now);
        match rec.value {
            Some((value, expire, flags)) => {
                let mut e = Entry::new(&rec.key, value, crate::store::evict::new_stamp(now))
                    .with_expire(expire);
                e.set_mc_flags(flags);
                l.insert_entry(&key, e);
            }
            None => {
                l.remove(&key);
            }
        }
    }
    Ok(())
}

/// Replaces every database's data with a full sync's snapshot.
fn load_snapshot(shared: &Arc<Shared>, mut payload: BytesMut) -> Result<(), LinkError> {
    {
        let _gate = shared.gate.write();
        for db in 0..shared.store.db_count() {
            shared.store.flush_db(db);
        }
        shared.watches.touch_db(None);
    }
    let mut parser = RequestParser::default();
    let now = now_ms();
    loop {
        match parser.parse(&mut payload, ParseLimits::default()) {
            Ok(Parsed::Command(args)) if args.len() == 3 && args[0].as_ref() == RECORDS_VERB => {
                let db = crate::util::parse_i64(&args[1])
                    .and_then(|d| usize::try_from(d).ok())
                    .filter(|&d| d < shared.store.db_count())
                    .ok_or_else(|| LinkError::Stream("bad snapshot database".into()))?;
                let _gate = shared.gate.write();
                crate::store::expire::applying_stream(|| apply_records(shared, db, &args[2], now))?;
            }
            Ok(Parsed::Incomplete) if payload.is_empty() => return Ok(()),
            Ok(_) | Err(_) => return Err(LinkError::Stream("bad snapshot".into())),
        }
    }
}
