//! The primary's side of a replica link, once the replica sent PSYNC/SYNC:
//! a partial resync (`+CONTINUE`, the backlog from the replica's offset) or
//! a full one (`+FULLRESYNC replid offset`, then a snapshot of every
//! database as `$len` and `REPLRECORDS` entries), then the live stream,
//! read from the backlog as it grows. The replica's `REPLCONF ACK offset`
//! lines update its acknowledged offset for WAIT. Also WAIT's own wait.
//!
//! The link keeps no buffer of its own: a replica that falls behind the
//! backlog, or more than the `client-output-buffer-limit replica` hard
//! limit, is dropped (it comes back with a full resync), so the primary's
//! memory stays bounded by the backlog.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::cmd::propagate::RECORDS_VERB;
use crate::cmd::Shared;
use crate::node::clients::ClientHandle;
use crate::node::replication::{ReplicaLink, SyncRequest, WaitSpec};
use crate::resp::{encode_command, ParseLimits, Parsed, RequestParser};
use crate::store::{now_ms, SLOTS};

/// Most stream bytes sent in one write.
const CHUNK: usize = 256 * 1024;
/// Snapshot records per `REPLRECORDS` entry, by size.
const SNAPSHOT_ENTRY: usize = 1024 * 1024;

/// Serves the replica link on `sock` until it closes, the replica is
/// dropped or the node stops. `inbuf` holds what the replica sent after its
/// PSYNC.
pub async fn serve(
    shared: &Arc<Shared>,
    sock: &mut TcpStream,
    handle: &Arc<ClientHandle>,
    req: SyncRequest,
    mut inbuf: BytesMut,
) {
    let repl = &shared.repl;
    handle.meta.lock().flags = "S".into();
    let size = crate::cmd::replication::backlog_size(shared);
    // Redis' PSYNC offset is the first byte wanted; the stream counts bytes.
    let wanted = u64::try_from(req.offset - 1).ok();
    let partial = {
        let mut s = repl.stream();
        s.set_backlog_size(size);
        let ok = repl.active() && wanted.is_some_and(|o| s.can_continue(&req.replid, o));
        ok.then(|| (s.replid.clone(), wanted.unwrap_or(0)))
    };
    let mut sent = match partial {
        Some((replid, from)) => {
            repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!(replica = %handle.addr, offset = from, "partial resynchronization accepted");
            if sock
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            from
        }
        None => {
            if req.replid != "?" {
                repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            }
            repl.sync_full.fetch_add(1, Ordering::Relaxed);
            let sh = shared.clone();
            let Ok((replid, offset, payload)) =
                tokio::task::spawn_blocking(move || snapshot(&sh)).await
            else {
                return;
            };
            tracing::info!(replica = %handle.addr, bytes = payload.len(), "full resync: snapshot sent");
            let head = format!("+FULLRESYNC {replid} {offset}\r\n${}\r\n", payload.len());
            if sock.write_all(head.as_bytes()).await.is_err()
                || sock.write_all(&payload).await.is_err()
            {
                return;
            }
            offset
        }
    };
    let link = Arc::new(ReplicaLink {
        id: handle.id,
        ip: handle.addr.ip().to_string(),
        port: req.port,
        acked: 0.into(),
        ack_ms: now_ms().into(),
        online: true.into(),
    });
    repl.attach(link.clone());
    let mut appended = repl.appended.subscribe();
    let mut stop = shared.shutdown.subscribe();
    let mut parser = RequestParser::default();
    loop {
        match send_pending(shared, sock, &mut sent, &mut appended).await {
            Ok(()) => {}
            Err(why) => {
                tracing::warn!(replica = %handle.addr, "dropping replica: {why}");
                break;
            }
        }
        tokio::select! {
            _ = appended.changed() => {}
            r = sock.read_buf(&mut inbuf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => read_acks(shared, &link, &mut parser, &mut inbuf),
            },
            _ = handle.wake.notified() => {
                if handle.killed.load(Ordering::Acquire) {
                    break;
                }
            }
            _ = stop.changed() => break,
        }
    }
    repl.detach(handle.id);
}

/// Writes the stream from `sent` to its end; an error when the replica fell
/// out of the backlog or past its output limit (checked again whenever the
/// stream grows while a write waits), or the socket failed.
async fn send_pending(
    shared: &Shared,
    sock: &mut TcpStream,
    sent: &mut u64,
    appended: &mut watch::Receiver<u64>,
) -> Result<(), &'static str> {
    let hard = shared.config.read().client_output_buffer_limit_replica.hard;
    loop {
        let (chunk, end) = {
            let s = shared.repl.stream();
            (s.read_from(*sent, CHUNK), s.offset)
        };
        if hard > 0 && end - *sent > hard {
            shared
                .stats
                .client_output_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            return Err("over its output buffer limit");
        }
        let chunk = chunk.ok_or("fell behind the backlog")?;
        if chunk.is_empty() {
            return Ok(());
        }
        // A cancel-safe write: a replica that stopped reading is dropped as
        // soon as the stream outgrows its limit, not when it reads again.
        tokio::select! {
            r = sock.write(&chunk) => match r {
                Ok(0) | Err(_) => return Err("write failed"),
                Ok(n) => *sent += n as u64,
            },
            _ = appended.changed() => {}
        }
    }
}

/// Takes the replica's `REPLCONF ACK offset` lines from `inbuf`.
fn read_acks(
    shared: &Shared,
    link: &ReplicaLink,
    parser: &mut RequestParser,
    inbuf: &mut BytesMut,
) {
    while let Ok(Parsed::Command(args)) = parser.parse(inbuf, ParseLimits::default()) {
        let is_ack = args.len() >= 3
            && args[0].eq_ignore_ascii_case(b"replconf")
            && args[1].eq_ignore_ascii_case(b"ack");
        let offset = is_ack
            .then(|| crate::util::parse_i64(&args[2]))
            .flatten()
            .and_then(|o| u64::try_from(o).ok());
        if let Some(o) = offset {
            link.acked.fetch_max(o, Ordering::AcqRel);
            link.ack_ms.store(now_ms(), Ordering::Release);
            shared.repl.acks.notify_waiters();
        }
    }
}

/// The snapshot of a full sync, taken with the gate held exclusively (no
/// command runs half in it), and the stream position it stands for.
/// Turns stream recording on.
fn snapshot(shared: &Shared) -> (String, u64, Vec<u8>) {
    let _gate = shared.gate.write();
    let repl = &shared.repl;
    repl.activate();
    let (replid, offset) = {
        let mut s = repl.stream();
        // The stream's next command selects its database again.
        s.db = None;
        (s.replid.clone(), s.offset)
    };
    let mut out = BytesMut::new();
    let store = &shared.store;
    for db in 0..store.db_count() {
        if store.db_if_used(db).is_none() {
            continue;
        }
        let mut records = Vec::new();
        for slot in 0..SLOTS as u16 {
            let mut l = store.lock_slot(db, slot, 0);
            let t = l.table();
            for pos in 0..t.len() {
                if let Some(e) = t.at(pos) {
                    crate::cluster::dump::encode_entry(&mut records, e);
                }
            }
            if records.len() >= SNAPSHOT_ENTRY {
                let db_arg = db.to_string();
                encode_command(&mut out, &[RECORDS_VERB, db_arg.as_bytes(), &records]);
                records.clear();
            }
        }
        if !records.is_empty() {
            let db_arg = db.to_string();
            encode_command(&mut out, &[RECORDS_VERB, db_arg.as_bytes(), &records]);
        }
    }
    (replid, offset, out.to_vec())
}

/// WAIT's wait: until `spec.replicas` replicas acknowledged `spec.offset`,
/// the timeout passed, the client was killed or the node stops; the number
/// of replicas that acknowledged.
pub async fn wait_acks(
    shared: &Shared,
    handle: &ClientHandle,
    spec: WaitSpec,
    stop: &mut watch::Receiver<bool>,
) -> usize {
    let repl = &shared.repl;
    let until = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let notified = repl.acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let n = repl.acked_at_least(spec.offset);
        if n >= spec.replicas {
            return n;
        }
        tokio::select! {
            _ = notified => {}
            _ = sleep_until(until) => return repl.acked_at_least(spec.offset),
            _ = stop.changed() => return n,
            _ = handle.wake.notified() => {
                if handle.killed.load(Ordering::Acquire) {
                    return n;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
