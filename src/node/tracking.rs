//! Server-assisted client-side caching (Redis' `tracking.c`): which clients
//! track keys and how, the table of keys each default-mode client has read,
//! the BCAST prefixes, and the invalidation messages they get.
//!
//! - Default mode: the keys a tracking client reads are remembered (key ->
//!   client ids, with the reverse index so a client's entries go when it
//!   turns tracking off or disconnects); the first change of such a key
//!   sends each of them one invalidation and forgets the key.
//! - BCAST: every changed key matching a prefix is collected per prefix and
//!   sent, sorted and once per key, when the running command (or the
//!   background cycle) ends, like Redis' `beforeSleep` broadcast.
//! - Messages: a RESP3 client (or the RESP3 client it redirects to) gets a
//!   `invalidate` push; a RESP2 client redirecting to a RESP2 client in
//!   subscribed mode has that client receive a `message` on
//!   `__redis__:invalidate`. They are queued for the receiver in the client
//!   registry (`ClientRegistry::push_out`) and written after its current
//!   reply.
//!
//! The store tells the table of every change through `store::mutation`'s
//! `TrackingHook`, which is on only while some client tracks.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use super::Node;
use crate::store::mutation::Change;

/// The Pub/Sub channel RESP2 redirect clients receive invalidations on.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// One client's tracking mode (CLIENT TRACKING ON options).
#[derive(Debug, Clone, Default)]
pub struct Mode {
    /// REDIRECT target id (0: none).
    pub redirect: u64,
    /// BCAST mode.
    pub bcast: bool,
    /// OPTIN mode.
    pub optin: bool,
    /// OPTOUT mode.
    pub optout: bool,
    /// NOLOOP: no invalidations for the client's own changes.
    pub noloop: bool,
    /// CLIENT CACHING given for the next command.
    pub caching: bool,
    /// The redirect target was found gone when sending.
    pub broken_redirect: bool,
    /// BCAST prefixes (sorted, as Redis lists them).
    pub prefixes: BTreeSet<Bytes>,
}

impl Mode {
    /// CLIENT LIST flag bits of a tracking client.
    fn flag_bits(&self) -> u8 {
        use super::clients::{TRACKING, TRACKING_BCAST, TRACKING_BROKEN};
        let mut bits = TRACKING;
        if self.broken_redirect {
            bits |= TRACKING_BROKEN;
        }
        if self.bcast {
            bits |= TRACKING_BCAST;
        }
        bits
    }
}

/// The options of a CLIENT TRACKING ON.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// REDIRECT target id (0: none).
    pub redirect: u64,
    /// BCAST.
    pub bcast: bool,
    /// OPTIN.
    pub optin: bool,
    /// OPTOUT.
    pub optout: bool,
    /// NOLOOP.
    pub noloop: bool,
}

/// One BCAST prefix: its clients and the matching keys changed since the
/// last broadcast, each with the id of the client that changed it last (0:
/// no client) for NOLOOP.
#[derive(Debug, Default)]
struct Prefix {
    clients: BTreeSet<u64>,
    pending: BTreeMap<Bytes, u64>,
}

/// The clients that read one key: one inline (the common case), or several.
#[derive(Debug)]
enum Ids {
    One(u64),
    Many(Box<[u64]>),
}

impl Ids {
    fn as_slice(&self) -> &[u64] {
        match self {
            Ids::One(id) => std::slice::from_ref(id),
            Ids::Many(ids) => ids,
        }
    }

    fn contains(&self, id: u64) -> bool {
        self.as_slice().contains(&id)
    }

    fn add(&mut self, id: u64) {
        let mut all = self.as_slice().to_vec();
        all.push(id);
        *self = Ids::Many(all.into_boxed_slice());
    }

    /// Removes `id`; None when no id is left.
    fn without(&self, id: u64) -> Option<Ids> {
        let rest: Vec<u64> = self
            .as_slice()
            .iter()
            .copied()
            .filter(|&x| x != id)
            .collect();
        match rest[..] {
            [] => None,
            [one] => Some(Ids::One(one)),
            _ => Some(Ids::Many(rest.into_boxed_slice())),
        }
    }
}

/// One key of the default-mode table.
#[derive(Debug)]
struct Tracked {
    key: Box<[u8]>,
    ids: Ids,
}

/// Default mode's table: key -> the clients that read it, and per client
/// the hashes of its keys (so its entries can be removed when it stops;
/// 8 bytes per item instead of a second copy of the key). Keys are copied
/// out of the request: a table entry never holds a client's input buffer.
#[derive(Debug, Default)]
struct Table {
    hasher: ahash::RandomState,
    entries: hashbrown::HashTable<Tracked>,
    by_client: HashMap<u64, hashbrown::HashSet<u64>>,
    /// Total (key, client) pairs (INFO `tracking_total_items`).
    items: usize,
}

impl Table {
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Lists client `id` under `key`.
    fn add(&mut self, id: u64, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        let hasher = &self.hasher;
        let entry = self
            .entries
            .entry(hash, |e| *e.key == *key, |e| hasher.hash_one(&*e.key));
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let ids = &mut o.get_mut().ids;
                if ids.contains(id) {
                    return;
                }
                ids.add(id);
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Tracked {
                    key: key.into(),
                    ids: Ids::One(id),
                });
            }
        }
        self.items += 1;
        self.by_client.entry(id).or_default().insert(hash);
    }

    /// Removes `key` and returns the clients that read it.
    fn take(&mut self, key: &[u8]) -> Option<Ids> {
        let hash = self.hasher.hash_one(key);
        let found = self.entries.find_entry(hash, |e| *e.key == *key).ok()?;
        let (gone, _) = found.remove();
        for &id in gone.ids.as_slice() {
            if let Some(hashes) = self.by_client.get_mut(&id) {
                hashes.remove(&hash);
            }
        }
        self.items -= gone.ids.as_slice().len();
        Some(gone.ids)
    }

    /// Removes client `id` from every key it is listed under.
    fn forget(&mut self, id: u64) {
        for hash in self.by_client.remove(&id).unwrap_or_default() {
            // Every key with this hash listing `id` (a collision may give more than one).
            while let Ok(mut e) = self.entries.find_entry(hash, |e| e.ids.contains(id)) {
                self.items -= 1;
                match e.get().ids.without(id) {
                    Some(rest) => e.get_mut().ids = rest,
                    None => {
                        e.remove();
                    }
                }
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.by_client.clear();
        self.items = 0;
    }

    /// Some key of the table (the table limit's victim).
    fn any_key(&self) -> Option<Box<[u8]>> {
        self.entries.iter().next().map(|e| e.key.clone())
    }
}

#[derive(Debug, Default)]
struct State {
    clients: BTreeMap<u64, Mode>,
    /// Default mode's keys.
    table: Table,
    prefixes: BTreeMap<Bytes, Prefix>,
    /// Some prefix has pending keys.
    pending: bool,
    /// Consecutive table-limit runs that stayed over the limit (Redis'
    /// `timeout_counter`: the effort grows with it).
    over_limit_runs: usize,
}

/// The value of an invalidation message.
enum Value<'a> {
    /// An array of keys.
    Keys(&'a [&'a [u8]]),
    /// Everything (FLUSHALL/FLUSHDB): a null in the tracking client's protocol.
    Null,
}

/// Node-wide tracking state.
#[derive(Debug, Default)]
pub struct Tracking {
    state: Mutex<State>,
}

/// `tracking-table-max-keys`, published by [`apply_settings`].
static MAX_KEYS: AtomicU64 = AtomicU64::new(1_000_000);

/// Publishes the settings tracking reads (start-up and CONFIG SET).
pub fn apply_settings(s: &crate::config::Settings) {
    let max = s
        .stored
        .get("tracking-table-max-keys")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    MAX_KEYS.store(max, Ordering::Relaxed);
}

thread_local! {
    /// The client whose command runs on this thread (0: none), for NOLOOP.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
    /// The running outermost command is a script (EVAL, FCALL, ...).
    static IN_SCRIPT: Cell<bool> = const { Cell::new(false) };
    /// A read-only command ran inside the running script.
    static SCRIPT_READ: Cell<bool> = const { Cell::new(false) };
    /// Keys written or deleted by the running command, invalidated when it
    /// succeeds (Redis signals a modification only then; a command failing
    /// after opening its key for a write changed nothing).
    static DEFERRED: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// Marks the client running a command on this thread until dropped; nested
/// commands (a script's, EXEC's) keep the outermost client, as Redis'
/// `server.current_client`.
#[derive(Debug)]
pub struct Running {
    outermost: bool,
    /// Deferred keys noted before this command started.
    mark: usize,
}

impl Running {
    /// Marks client `id` as running a command (a script when `script`),
    /// unless a command already runs.
    pub fn enter(id: u64, script: bool) -> Running {
        let outermost = CURRENT.with(|c| c.get() == 0);
        if outermost {
            CURRENT.with(|c| c.set(id));
            IN_SCRIPT.with(|c| c.set(script));
            SCRIPT_READ.with(|c| c.set(false));
        }
        let mark = DEFERRED.with(|d| d.borrow().len());
        Running { outermost, mark }
    }

    /// The command ended: the keys it wrote are invalidated (by the
    /// outermost command, for all its nested ones) if it succeeded, and
    /// forgotten if it failed.
    pub fn finish(&self, node: &Node, ok: bool) {
        if !ok {
            DEFERRED.with(|d| d.borrow_mut().truncate(self.mark));
        }
        if self.outermost {
            let keys = DEFERRED.with(|d| std::mem::take(&mut *d.borrow_mut()));
            for k in keys {
                node.tracking.invalidate(node, &k, true);
            }
        }
    }

    /// True for the outermost command (the client's request itself).
    pub fn outermost(&self) -> bool {
        self.outermost
    }

    /// Inside a script: notes that one of its commands was read-only.
    /// False when not in a script.
    pub fn note_script_read(&self) -> bool {
        let in_script = IN_SCRIPT.with(Cell::get);
        if in_script {
            SCRIPT_READ.with(|c| c.set(true));
        }
        in_script
    }

    /// For the outermost command: whether a read-only command ran inside it
    /// (a script's).
    pub fn script_read(&self) -> bool {
        SCRIPT_READ.with(Cell::get)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.outermost {
            CURRENT.with(|c| c.set(0));
            IN_SCRIPT.with(|c| c.set(false));
            SCRIPT_READ.with(|c| c.set(false));
        }
    }
}

/// The client running a command on this thread (0: none).
pub fn running() -> u64 {
    CURRENT.with(Cell::get)
}

/// INFO figures: (tracking clients, keys, items, prefixes).
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Clients with tracking on.
    pub clients: usize,
    /// Keys in the tracking table.
    pub keys: usize,
    /// (key, client) pairs in the table.
    pub items: usize,
    /// BCAST prefixes.
    pub prefixes: usize,
}

impl Tracking {
    /// The mode of client `id`, None when it does not track.
    pub fn mode(&self, id: u64) -> Option<Mode> {
        self.state.lock().clients.get(&id).cloned()
    }

    /// Turns tracking on for client `id` (options already validated), adding
    /// `prefixes` to its BCAST prefixes (the empty prefix when none).
    pub fn enable(&self, node: &Node, id: u64, opts: Options, prefixes: &[Bytes]) {
        let mut st = self.state.lock();
        let mode = st.clients.entry(id).or_default();
        mode.redirect = opts.redirect;
        mode.broken_redirect = false;
        mode.bcast = opts.bcast;
        mode.optin = opts.optin;
        mode.optout = opts.optout;
        mode.noloop = opts.noloop;
        let mut added = Vec::new();
        if opts.bcast {
            if prefixes.is_empty() {
                added.push(Bytes::new());
            }
            added.extend(prefixes.iter().cloned());
            mode.prefixes.extend(added.iter().cloned());
        }
        let bits = mode.flag_bits();
        for p in added {
            st.prefixes.entry(p).or_default().clients.insert(id);
        }
        drop(st);
        node.store.tracking.set_on(true);
        publish_meta(node, id, bits, opts.redirect as i64);
    }

    /// Turns tracking off for client `id` (CLIENT TRACKING OFF, RESET, or
    /// its connection closed) and forgets everything it was listed for.
    pub fn disable(&self, node: &Node, id: u64) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let Some(mode) = st.clients.remove(&id) else {
            return;
        };
        for p in &mode.prefixes {
            if let Some(entry) = st.prefixes.get_mut(p) {
                entry.clients.remove(&id);
                if entry.clients.is_empty() {
                    st.prefixes.remove(p);
                }
            }
        }
        st.table.forget(id);
        let none_left = st.clients.is_empty();
        drop(guard);
        if none_left {
            node.store.tracking.set_on(false);
        }
        publish_meta(node, id, 0, -1);
    }

    /// CLIENT CACHING YES|NO accepted: the next command's keys are (OPTIN)
    /// or are not (OPTOUT) remembered.
    pub fn set_caching(&self, id: u64) {
        if let Some(m) = self.state.lock().clients.get_mut(&id) {
            m.caching = true;
        }
    }

    /// Ends the effect of CLIENT CACHING after a command.
    pub fn clear_caching(&self, id: u64) {
        if let Some(m) = self.state.lock().clients.get_mut(&id) {
            m.caching = false;
        }
    }

    /// Remembers that client `id` read `keys` (Redis' `trackingRememberKeys`,
    /// after every read-only command), unless it is in BCAST mode or its
    /// OPTIN/OPTOUT choice says no.
    pub fn remember<'k>(&self, id: u64, keys: impl Iterator<Item = &'k Bytes>) {
        let mut st = self.state.lock();
        let Some(m) = st.clients.get(&id) else {
            return;
        };
        if m.bcast || (m.optin && !m.caching) || (m.optout && m.caching) {
            return;
        }
        for k in keys {
            st.table.add(id, k);
        }
    }

    /// `key` changed (Redis' `trackingInvalidateKey`): collected for the
    /// matching BCAST prefixes when `bcast`, and sent now to the
    /// default-mode clients that read it, which then forget it.
    pub fn invalidate(&self, node: &Node, key: &[u8], bcast: bool) {
        let current = running();
        let mut st = self.state.lock();
        if bcast && !st.prefixes.is_empty() {
            let mut any = false;
            for (p, entry) in st.prefixes.iter_mut() {
                if key.starts_with(p) {
                    entry.pending.insert(Bytes::copy_from_slice(key), current);
                    any = true;
                }
            }
            st.pending |= any;
        }
        let Some(ids) = st.table.take(key) else {
            return;
        };
        for &id in ids.as_slice() {
            let Some(m) = st.clients.get(&id) else {
                continue;
            };
            if m.bcast || (m.noloop && id == current) {
                continue;
            }
            send(node, &mut st, id, &Value::Keys(&[key]));
        }
    }

    /// FLUSHALL/FLUSHDB (Redis' `trackingInvalidateKeysOnFlush`): every
    /// tracking client gets a null invalidation and the table is emptied.
    pub fn flushed(&self, node: &Node) {
        if !node.store.tracking.is_on() {
            return;
        }
        let mut st = self.state.lock();
        let ids: Vec<u64> = st.clients.keys().copied().collect();
        for id in ids {
            send(node, &mut st, id, &Value::Null);
        }
        st.table.clear();
    }

    /// Sends the BCAST invalidations collected since the last call (Redis'
    /// `trackingBroadcastInvalidationMessages`): per prefix, the changed
    /// keys in order, without a NOLOOP client's own changes.
    pub fn broadcast(&self, node: &Node) {
        let mut st = self.state.lock();
        if !st.pending {
            return;
        }
        st.pending = false;
        let mut batches = Vec::new();
        for entry in st.prefixes.values_mut() {
            if !entry.pending.is_empty() {
                let pending = std::mem::take(&mut entry.pending);
                batches.push((entry.clients.iter().copied().collect::<Vec<_>>(), pending));
            }
        }
        for (clients, pending) in batches {
            let all: Vec<&[u8]> = pending.keys().map(|k| &k[..]).collect();
            for id in clients {
                let noloop = st.clients.get(&id).is_some_and(|m| m.noloop);
                if noloop {
                    let theirs: Vec<&[u8]> = pending
                        .iter()
                        .filter(|(_, &by)| by != id)
                        .map(|(k, _)| &k[..])
                        .collect();
                    if !theirs.is_empty() {
                        send(node, &mut st, id, &Value::Keys(&theirs));
                    }
                } else {
                    send(node, &mut st, id, &Value::Keys(&all));
                }
            }
        }
    }

    /// Keeps the table within `tracking-table-max-keys` (Redis'
    /// `trackingLimitUsedSlots`): invalidates keys, as if they changed, until
    /// under the limit or out of this run's effort, which grows with every
    /// run that ends still over. Called between commands (no client
    /// running, so NOLOOP clients are told too, as in Redis).
    pub fn enforce_limit(&self, node: &Node) {
        let max = MAX_KEYS.load(Ordering::Relaxed) as usize;
        let mut effort = {
            let mut st = self.state.lock();
            if max == 0 || st.table.len() <= max {
                st.over_limit_runs = 0;
                return;
            }
            100 * (st.over_limit_runs + 1)
        };
        while effort > 0 {
            effort -= 1;
            let Some(key) = self.state.lock().table.any_key() else {
                break;
            };
            self.invalidate(node, &key, false);
            let mut st = self.state.lock();
            if st.table.len() <= max {
                st.over_limit_runs = 0;
                return;
            }
        }
        self.state.lock().over_limit_runs += 1;
    }

    /// INFO figures.
    pub fn figures(&self) -> Figures {
        let st = self.state.lock();
        Figures {
            clients: st.clients.len(),
            keys: st.table.len(),
            items: st.table.items,
            prefixes: st.prefixes.len(),
        }
    }
}

/// Shows client `id`'s tracking flags and redirection in CLIENT LIST.
fn publish_meta(node: &Node, id: u64, bits: u8, redir: i64) {
    if let Some(h) = node.clients.get(id) {
        let mut m = h.meta.lock();
        m.tracking = bits;
        m.redir = redir;
    }
}

/// Sends one invalidation for tracking client `id` (Redis'
/// `sendTrackingMessage`): to it, or to its redirect target, in the
/// receiver's protocol; a vanished target marks the redirection broken and
/// tells a RESP3 client so.
fn send(node: &Node, st: &mut State, id: u64, value: &Value<'_>) {
    let Some(mode) = st.clients.get_mut(&id) else {
        return;
    };
    let Some(client) = node.clients.get(id) else {
        return;
    };
    let (own_resp3, _) = client.push_capable();
    let target = if mode.redirect == 0 {
        client.clone()
    } else if let Some(t) = node.clients.get(mode.redirect) {
        t
    } else {
        if !mode.broken_redirect {
            mode.broken_redirect = true;
            publish_meta(node, id, mode.flag_bits(), mode.redirect as i64);
        }
        if own_resp3 {
            let msg = format!(
                ">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n",
                mode.redirect
            );
            node.clients.push_out(&client, msg.as_bytes(), 0);
        }
        return;
    };
    let (resp3, subscribed) = target.push_capable();
    let mut out = Vec::new();
    if resp3 {
        out.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
    } else if mode.redirect != 0 && subscribed {
        out.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n");
        out.extend_from_slice(format!("${}\r\n", INVALIDATE_CHANNEL.len()).as_bytes());
        out.extend_from_slice(INVALIDATE_CHANNEL);
        out.extend_from_slice(b"\r\n");
    } else {
        // RESP2 has no pushes: nothing can be sent.
        return;
    }
    match value {
        Value::Keys(keys) => {
            out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys.iter() {
                out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
                out.extend_from_slice(k);
                out.extend_from_slice(b"\r\n");
            }
        }
        // The null of the tracking client's protocol, as Redis sends it.
        Value::Null if own_resp3 => out.extend_from_slice(b"_\r\n"),
        Value::Null => out.extend_from_slice(b"$-1\r\n"),
    }
    // Pub/Sub clients are held to the pubsub output limit, others to none
    // (Redis' default `normal` class).
    let limit = if subscribed {
        super::pubsub::pubsub_limit()
    } else {
        0
    };
    if !node.clients.push_out(&target, &out, limit) {
        node.stats
            .client_output_limit_disconnections
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Node hook: the store's changes reach the tracking table here.
/// Writes and deletions by a running command wait for its outcome
/// (`Running::finish`); expiry, eviction and dropped slots are sent at once.
impl crate::store::mutation::InvalidationSink for Node {
    fn invalidate(&self, key: &[u8], change: Change) {
        if matches!(change, Change::Written | Change::Deleted) && running() != 0 {
            DEFERRED.with(|d| d.borrow_mut().push(key.into()));
        } else {
            self.tracking.invalidate(self, key, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use std::sync::Arc;

    fn node() -> Node {
        Node::new(Settings::default(), 1)
    }

    fn client(n: &Node, resp3: bool) -> Arc<crate::node::clients::ClientHandle> {
        let addr = "127.0.0.1:1".parse().expect("addr");
        let h = n.clients.register(addr, addr, 0);
        h.meta.lock().resp = if resp3 { 3 } else { 2 };
        h
    }

    fn pushes(n: &Node, h: &crate::node::clients::ClientHandle) -> String {
        let mut out = bytes::BytesMut::new();
        n.clients.take_pushes(h, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn key(k: &str) -> Bytes {
        Bytes::copy_from_slice(k.as_bytes())
    }

    /// A read key is invalidated once, then forgotten; turning tracking off
    /// removes the client's entries and switches the store hook off.
    #[test]
    fn remember_invalidate_forget_and_disable() {
        let n = node();
        let a = client(&n, true);
        n.tracking.enable(&n, a.id, Options::default(), &[]);
        assert!(n.store.tracking.is_on());
        n.tracking.remember(a.id, [key("k"), key("j")].iter());
        n.tracking.remember(a.id, [key("k")].iter());
        let f = n.tracking.figures();
        assert_eq!((f.clients, f.keys, f.items), (1, 2, 2));
        n.tracking.invalidate(&n, b"k", true);
        assert_eq!(
            pushes(&n, &a),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        n.tracking.invalidate(&n, b"k", true);
        assert_eq!(pushes(&n, &a), "");
        n.tracking.disable(&n, a.id);
        let f = n.tracking.figures();
        assert_eq!((f.clients, f.keys, f.items), (0, 0, 0));
        assert!(!n.store.tracking.is_on());
        assert_eq!(a.meta.lock().redir, -1);
    }

    /// BCAST: keys collected per prefix go out sorted and once each; a
    /// NOLOOP client does not get the keys it changed itself.
    #[test]
    fn broadcast_sorted_and_noloop() {
        let n = node();
        let a = client(&n, true);
        let b = client(&n, true);
        let bcast = Options {
            bcast: true,
            ..Options::default()
        };
        n.tracking.enable(&n, a.id, bcast.clone(), &[key("p:")]);
        let noloop = Options {
            noloop: true,
            ..bcast
        };
        n.tracking.enable(&n, b.id, noloop, &[key("p:")]);
        n.tracking.invalidate(&n, b"p:2", true);
        n.tracking.invalidate(&n, b"q:1", true);
        {
            let _b_runs = Running::enter(b.id, false);
            n.tracking.invalidate(&n, b"p:1", true);
        }
        n.tracking.invalidate(&n, b"p:2", true);
        n.tracking.broadcast(&n);
        assert_eq!(
            pushes(&n, &a),
            ">2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\np:1\r\n$3\r\np:2\r\n"
        );
        assert_eq!(
            pushes(&n, &b),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\np:2\r\n"
        );
        n.tracking.broadcast(&n);
        assert_eq!(pushes(&n, &a), "");
    }

    /// Over `tracking-table-max-keys`, keys are invalidated until within it.
    #[test]
    fn limit_invalidates_down_to_the_maximum() {
        let n = node();
        let a = client(&n, true);
        n.tracking.enable(&n, a.id, Options::default(), &[]);
        let keys: Vec<Bytes> = (0..10).map(|i| key(&format!("k{i}"))).collect();
        n.tracking.remember(a.id, keys.iter());
        let mut s = Settings::default();
        s.stored.insert("tracking-table-max-keys", "4".into());
        apply_settings(&s);
        n.tracking.enforce_limit(&n);
        apply_settings(&Settings::default());
        assert_eq!(n.tracking.figures().keys, 4);
        assert_eq!(pushes(&n, &a).matches("invalidate").count(), 6);
    }

    /// Through the store: keys dropped with a slot (a migration hand-over)
    /// are invalidated one by one, FLUSH's drop is not (it sends the null
    /// invalidation itself, `Tracking::flushed`).
    #[test]
    fn store_drops_invalidate_but_flush_does_not() {
        let n = Arc::new(node());
        let sink: std::sync::Weak<Node> = Arc::downgrade(&n);
        n.store.tracking.set_sink(sink);
        let a = client(&n, true);
        let set = |k: &str| {
            let key = n.store.key(k.as_bytes());
            n.store
                .lock(0, &key, 0)
                .set_str(&key, &Bytes::from_static(b"v"), false, 0);
            key.slot
        };
        let slot = set("d1");
        n.tracking.enable(&n, a.id, Options::default(), &[]);
        n.tracking.remember(a.id, [key("d1"), key("f1")].iter());
        set("f1");
        assert_eq!(
            pushes(&n, &a),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nf1\r\n"
        );
        drop(n.store.lock_slot(0, slot, 0).drop_all());
        assert_eq!(
            pushes(&n, &a),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nd1\r\n"
        );
        n.tracking.remember(a.id, [key("f1")].iter());
        n.store.flush_db(0);
        assert_eq!(pushes(&n, &a), "");
        assert_eq!(n.tracking.figures().keys, 1);
        n.tracking.flushed(&n);
        assert_eq!(pushes(&n, &a), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
        assert_eq!(n.tracking.figures().keys, 0);
    }
}
