//! The node's registry of connected clients: what CLIENT LIST / KILL / INFO
//! read and what other connections may change of a client (kill, wake).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

/// What other connections may see or change of a client.
#[derive(Debug)]
pub struct ClientHandle {
    /// Unique id (CLIENT ID).
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    /// Creation time (unix ms).
    pub created_ms: u64,
    /// Last command time (unix ms).
    pub last_active_ms: AtomicU64,
    /// Mutable descriptive fields.
    pub meta: Mutex<ClientMeta>,
    /// Set by CLIENT KILL; the connection closes at its next wake-up.
    pub killed: AtomicBool,
    /// Set when a WATCHed key was modified.
    pub dirty: AtomicBool,
    /// Wakes the connection (kill, unblock, messages).
    pub wake: Notify,
    /// What the connection's buffers hold, as its task last published it.
    pub mem: ClientMem,
    /// True while the registry holds pushes for this connection
    /// (`ClientRegistry::push_out`), checked without a lock.
    has_pushes: AtomicBool,
}

/// A connection's buffer sizes for CLIENT LIST (`qbuf`, `qbuf-free`, `rbs`,
/// `omem`, `tot-mem`), published by its task when it reads, waits or is
/// stuck writing, since only that task owns the buffers.
#[derive(Debug, Default)]
pub struct ClientMem {
    /// Input received and not yet executed.
    pub qbuf: AtomicUsize,
    /// Bytes allocated for input.
    pub qbuf_alloc: AtomicUsize,
    /// Reply bytes produced and not yet taken by the client's socket.
    pub omem: AtomicUsize,
    /// Everything the connection holds: its state and both buffers.
    pub total: AtomicUsize,
}

impl ClientMem {
    /// Publishes the sizes of the connection's input and of all it holds
    /// (`omem` is stored on its own, by the code that waits to write).
    pub fn publish(&self, qbuf: usize, qbuf_alloc: usize, total: usize) {
        self.qbuf.store(qbuf, Ordering::Relaxed);
        self.qbuf_alloc.store(qbuf_alloc, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }
}

/// `ClientMeta::tracking` bit: tracking is on (`t`).
pub const TRACKING: u8 = 1;
/// `ClientMeta::tracking` bit: the redirect target is gone (`R`).
pub const TRACKING_BROKEN: u8 = 2;
/// `ClientMeta::tracking` bit: BCAST mode (`B`).
pub const TRACKING_BCAST: u8 = 4;

/// Descriptive fields shown by CLIENT LIST / INFO.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    /// CLIENT SETNAME.
    pub name: String,
    /// Selected database.
    pub db: usize,
    /// Last command's full name.
    pub last_cmd: &'static str,
    /// Protocol version (2 or 3).
    pub resp: u8,
    /// Library name (CLIENT SETINFO / HELLO).
    pub lib_name: String,
    /// Library version.
    pub lib_ver: String,
    /// Flags letters (N, x, P, ...).
    pub flags: String,
    /// Subscribed channel count.
    pub sub: usize,
    /// Subscribed pattern count.
    pub psub: usize,
    /// Subscribed shard channel count.
    pub ssub: usize,
    /// Queued MULTI commands (-1 outside MULTI).
    pub multi: i64,
    /// Connection not subject to eviction (CLIENT NO-EVICT).
    pub no_evict: bool,
    /// On a peer link: the id of the node at the other end ("" otherwise;
    /// CLUSTER LINKS).
    pub peer: String,
    /// Client tracking for CLIENT LIST `flags=`: the `TRACKING*` bits.
    pub tracking: u8,
    /// CLIENT LIST `redir=`: the tracking redirection, -1 when not tracking.
    pub redir: i64,
}

impl ClientHandle {
    /// Marks the client killed and wakes it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// True when pushes wait to be written.
    #[inline]
    pub fn has_pushes(&self) -> bool {
        self.has_pushes.load(Ordering::Acquire)
    }

    /// True when the client is in RESP2 subscribed mode or uses RESP3 (it
    /// can receive pushes), as (resp3, subscribed).
    pub fn push_capable(&self) -> (bool, bool) {
        let m = self.meta.lock();
        (m.resp >= 3, m.sub + m.psub + m.ssub > 0)
    }

    /// One CLIENT LIST / CLIENT INFO line (without the trailing newline).
    pub fn describe(&self, now_ms: u64) -> String {
        let m = self.meta.lock().clone();
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_active_ms.load(Ordering::Relaxed)) / 1000;
        // Redis' letter order: P, then x/b, then the tracking letters.
        let mut flags = String::new();
        if m.sub + m.psub + m.ssub > 0 {
            flags.push('P');
        }
        flags.push_str(&m.flags);
        for (bit, letter) in [
            (TRACKING, 't'),
            (TRACKING_BROKEN, 'R'),
            (TRACKING_BCAST, 'B'),
        ] {
            if m.tracking & bit != 0 {
                flags.push(letter);
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        let (qbuf, qbuf_alloc) = (load(&self.mem.qbuf), load(&self.mem.qbuf_alloc));
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
            self.id, self.addr, self.laddr, m.name, age, idle, flags, m.db, m.sub, m.psub, m.ssub, m.multi,
            qbuf, qbuf_alloc.saturating_sub(qbuf), qbuf_alloc, load(&self.mem.omem), load(&self.mem.total),
            if m.last_cmd.is_empty() { "NULL" } else { m.last_cmd }, m.redir, m.resp.max(2), m.lib_name, m.lib_ver
        )
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
    /// Pushes queued for connections by other code (client-tracking
    /// invalidations), already encoded in each one's protocol, by client id
    /// (here rather than in every handle: few connections ever get one).
    pushes: Mutex<HashMap<u64, Vec<u8>>>,
}

impl ClientRegistry {
    /// Registers a new connection and returns its handle.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, now_ms: u64) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let h = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            created_ms: now_ms,
            last_active_ms: AtomicU64::new(now_ms),
            meta: Mutex::new(ClientMeta {
                multi: -1,
                resp: 2,
                redir: -1,
                ..Default::default()
            }),
            killed: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            wake: Notify::new(),
            mem: ClientMem::default(),
            has_pushes: AtomicBool::new(false),
        });
        self.clients.lock().insert(id, h.clone());
        h
    }

    /// Removes a closed connection.
    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
        self.pushes.lock().remove(&id);
    }

    /// Queues `bytes` (complete RESP values) to be written to client `to`
    /// after the reply of the command it runs, and wakes its connection. A
    /// client whose queue passes `limit` bytes (0: no limit) is killed
    /// instead, as Redis' output buffer limits do; returns false then.
    pub fn push_out(&self, to: &ClientHandle, bytes: &[u8], limit: u64) -> bool {
        let over = {
            let mut all = self.pushes.lock();
            let q = all.entry(to.id).or_default();
            q.extend_from_slice(bytes);
            let over = limit > 0 && q.len() as u64 > limit;
            if over {
                all.remove(&to.id);
            }
            over
        };
        if over {
            to.kill();
            return false;
        }
        to.has_pushes.store(true, Ordering::Release);
        to.wake.notify_one();
        true
    }

    /// Moves the pushes queued for `of` to the end of `out`.
    pub fn take_pushes(&self, of: &ClientHandle, out: &mut bytes::BytesMut) {
        if let Some(q) = self.pushes.lock().remove(&of.id) {
            out.extend_from_slice(&q);
        }
        of.has_pushes.store(false, Ordering::Release);
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }

    /// Every client, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        let mut v: Vec<_> = self.clients.lock().values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }
}
