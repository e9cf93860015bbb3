//! The connection side of a blocked client (BLPOP and friends): waits for the
//! node's blocking registry to serve it, for its timeout, a kill or its
//! socket closing, and keeps reading (and, for a RESP3 subscriber, writing
//! push messages) meanwhile.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::cmd::Shared;
use crate::node::blocking::BlockSpec;
use crate::node::clients::ClientHandle;
use crate::node::pubsub::Mailbox;
use crate::resp::reply::Proto;
use crate::resp::Reply;

/// Writes a blocked subscriber's pending push messages; false when the
/// connection failed.
async fn deliver<S: AsyncWrite + Unpin>(
    shared: &Shared,
    mailbox: &Mailbox,
    proto: Proto,
    sock: &mut S,
) -> bool {
    while mailbox.has_pending() {
        let mut out = Reply {
            buf: BytesMut::new(),
            proto,
        };
        // A dropped shard channel waits for the connection loop, which
        // owns the subscription set.
        let stopped = mailbox.drain_into(&mut out, 64 * 1024, None);
        shared
            .stats
            .net_output_bytes
            .fetch_add(out.buf.len() as u64, Ordering::Relaxed);
        if sock.write_all(&out.buf).await.is_err() {
            return false;
        }
        if stopped {
            break;
        }
    }
    true
}

async fn deadline(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Blocks the connection for `spec`: returns the reply to send (the served
/// element, a WRONGTYPE error or the timeout's null array), or None when the
/// connection must close (peer gone, CLIENT KILL, shutdown). Input arriving
/// meanwhile is buffered in `inbuf` for after the wait.
#[allow(clippy::too_many_arguments)]
pub async fn wait<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Arc<Shared>,
    handle: &ClientHandle,
    spec: BlockSpec,
    sock: &mut S,
    inbuf: &mut BytesMut,
    stop: &mut watch::Receiver<bool>,
    mailbox: Option<&Mailbox>,
) -> Option<BytesMut> {
    let until = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let proto = spec.proto;
    let b = &shared.blocking;
    shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
    let flags = std::mem::replace(&mut handle.meta.lock().flags, "b".to_string());
    let waiting = {
        // Serving pops keys: never in the middle of an EXEC or script.
        let _gate = shared.gate.read();
        crate::cmd::propagate::record(&shared.node, None, || {
            b.enter(
                &shared.node,
                crate::cmd::blocking_pop::attempt,
                handle.id,
                spec,
            )
        })
    };
    let open = loop {
        tokio::select! {
            _ = waiting.served() => break true,
            _ = deadline(until) => break true,
            r = sock.read_buf(inbuf) => match r {
                Ok(0) | Err(_) => break false,
                Ok(n) => {
                    shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let limit = shared.config.read().client_query_buffer_limit as usize;
                    if inbuf.len() > limit {
                        break false;
                    }
                }
            },
            _ = handle.wake.notified() => {
                if handle.killed.load(Ordering::Acquire) {
                    break false;
                }
                // A RESP3 subscriber gets its messages while blocked, as in Redis.
                if let Some(mb) = mailbox {
                    if !deliver(shared, mb, proto, sock).await {
                        break false;
                    }
                }
                // And a tracking client its invalidations.
                if handle.has_pushes() {
                    let mut out = BytesMut::new();
                    shared.clients.take_pushes(handle, &mut out);
                    shared.stats.net_output_bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
                    if sock.write_all(&out).await.is_err() {
                        break false;
                    }
                }
            }
            _ = stop.changed() => break false,
        }
    };
    let reply = b.leave(waiting);
    handle.meta.lock().flags = flags;
    shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    open.then_some(reply)
}
