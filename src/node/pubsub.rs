//! The Pub/Sub hub: who is subscribed to what, and per-connection mailboxes
//! that PUBLISH pushes messages into.
//!
//! Publishing never writes to a socket: it appends the message to each
//! receiver's `Mailbox` and wakes the receiver's connection task, which encodes
//! the pending messages in its own protocol (RESP2 array or RESP3 push) and
//! writes them. A mailbox whose unwritten bytes exceed the
//! `client-output-buffer-limit pubsub` hard limit gets its client killed, so a
//! subscriber that never reads cannot grow the node's memory without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::clients::ClientHandle;
use super::Node;
use crate::resp::Reply;
use crate::store::notify::{self, EventSink};

/// Which family a subscription belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE channels.
    Channel,
    /// PSUBSCRIBE glob patterns.
    Pattern,
    /// SSUBSCRIBE shard channels.
    Shard,
}

impl Kind {
    /// Reply verb of a subscription confirmation.
    pub fn subscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    /// Reply verb of an unsubscription confirmation.
    pub fn unsubscribe_verb(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// One delivered message waiting to be written.
#[derive(Debug)]
struct Message {
    /// The matching pattern for `pmessage`.
    pattern: Option<Bytes>,
    channel: Bytes,
    payload: Bytes,
    shard: bool,
}

impl Message {
    /// Approximate output bytes, counted against the pubsub limit.
    fn cost(&self) -> usize {
        self.channel.len() + self.payload.len() + self.pattern.as_ref().map_or(0, |p| p.len()) + 48
    }
}

/// Called with a dropped shard channel while draining: removes the
/// subscription, returns the client's remaining shard subscriptions (`None`:
/// it was not subscribed).
pub type OnShardDropped<'a> = &'a mut dyn FnMut(&[u8]) -> Option<usize>;

/// One queued delivery.
#[derive(Debug)]
enum Delivery {
    Message(Message),
    /// This node no longer serves the slot of this shard channel (cluster
    /// rebalancing): the connection drops the subscription and tells the
    /// client with a `sunsubscribe` message, like Redis Cluster, so it
    /// subscribes again at the slot's new owner.
    ShardDropped(Bytes),
}

impl Delivery {
    fn cost(&self) -> usize {
        match self {
            Delivery::Message(m) => m.cost(),
            Delivery::ShardDropped(c) => c.len() + 48,
        }
    }
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<Delivery>,
    bytes: usize,
}

/// The pending messages of one subscribed connection.
#[derive(Debug)]
pub struct Mailbox {
    handle: Arc<ClientHandle>,
    queue: Mutex<Queue>,
}

impl Mailbox {
    /// A mailbox delivering to the connection of `handle`.
    pub fn new(handle: Arc<ClientHandle>) -> Arc<Self> {
        Arc::new(Mailbox {
            handle,
            queue: Mutex::new(Queue::default()),
        })
    }

    /// True when messages wait to be written.
    pub fn has_pending(&self) -> bool {
        !self.queue.lock().messages.is_empty()
    }

    /// Queues a delivery; kills the client when its backlog passes `limit` bytes.
    fn push(&self, node: &Node, msg: Delivery, limit: u64) {
        if self.handle.killed.load(Ordering::Relaxed) {
            return;
        }
        let over = {
            let mut q = self.queue.lock();
            q.bytes += msg.cost();
            q.messages.push_back(msg);
            limit > 0 && q.bytes as u64 > limit
        };
        if over {
            self.queue.lock().messages.clear();
            node.stats
                .client_output_limit_disconnections
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                id = self.handle.id,
                "closing pubsub client that reached the output buffer limit"
            );
            self.handle.kill();
        } else {
            self.handle.wake.notify_one();
        }
    }

    /// Encodes pending messages into `out` until it holds `max` bytes. A
    /// dropped shard channel is passed to `dropped`, which removes the
    /// subscription and returns the client's remaining shard subscriptions
    /// (`None`: it was not subscribed); without `dropped` the notice stays
    /// queued and draining stops there (returns true).
    pub fn drain_into(
        &self,
        out: &mut Reply,
        max: usize,
        mut dropped: Option<OnShardDropped<'_>>,
    ) -> bool {
        let mut q = self.queue.lock();
        while out.buf.len() < max {
            let Some(d) = q.messages.pop_front() else {
                break;
            };
            let m = match d {
                Delivery::Message(m) => m,
                Delivery::ShardDropped(channel) => {
                    let Some(dropped) = dropped.as_mut() else {
                        q.messages.push_front(Delivery::ShardDropped(channel));
                        return true;
                    };
                    q.bytes = q.bytes.saturating_sub(channel.len() + 48);
                    if let Some(left) = dropped(&channel) {
                        out.push_len(3);
                        out.bulk(Kind::Shard.unsubscribe_verb());
                        out.bulk(&channel);
                        out.int(left as i64);
                    }
                    continue;
                }
            };
            q.bytes = q.bytes.saturating_sub(m.cost());
            match &m.pattern {
                Some(p) => {
                    out.push_len(4);
                    out.bulk(b"pmessage");
                    out.bulk(p);
                }
                None => {
                    out.push_len(3);
                    out.bulk(if m.shard { b"smessage" } else { b"message" });
                }
            }
            out.bulk(&m.channel);
            out.bulk(&m.payload);
        }
        false
    }
}

type Subscribers = HashMap<Bytes, HashMap<u64, Arc<Mailbox>>>;

#[derive(Debug, Default)]
struct Tables {
    channels: Subscribers,
    patterns: Subscribers,
    shard: Subscribers,
}

impl Tables {
    fn of(&mut self, kind: Kind) -> &mut Subscribers {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// `client-output-buffer-limit pubsub` hard limit in bytes, published by
/// [`apply_settings`] so that delivery never takes the settings lock.
static PUBSUB_LIMIT: AtomicU64 = AtomicU64::new(0);

/// Publishes the settings delivery reads (start-up and CONFIG SET).
pub fn apply_settings(s: &crate::config::Settings) {
    PUBSUB_LIMIT.store(s.client_output_buffer_limit_pubsub, Ordering::Relaxed);
}

/// The `client-output-buffer-limit pubsub` hard limit in bytes (0: none).
pub fn pubsub_limit() -> u64 {
    PUBSUB_LIMIT.load(Ordering::Relaxed)
}

/// Keyspace notifications: the node publishes the store's events (see
/// `store::notify`) like Redis' `notifyKeyspaceEvent`, the `__keyspace@`
/// message first, through the ordinary PUBLISH path, so SUBSCRIBE and
/// PSUBSCRIBE clients of either protocol receive them. Each node publishes
/// its own keys' events to its own subscribers (Redis Cluster does the same).
impl EventSink for Node {
    fn publish_event(&self, flags: u32, db: usize, event: &str, key: &[u8]) {
        let event = Bytes::copy_from_slice(event.as_bytes());
        let key = Bytes::copy_from_slice(key);
        let limit = pubsub_limit();
        if flags & notify::KEYSPACE != 0 {
            let mut chan = format!("__keyspace@{db}__:").into_bytes();
            chan.extend_from_slice(&key);
            self.pubsub
                .deliver(self, false, &Bytes::from(chan), &event, limit);
        }
        if flags & notify::KEYEVENT != 0 {
            let mut chan = format!("__keyevent@{db}__:").into_bytes();
            chan.extend_from_slice(&event);
            self.pubsub
                .deliver(self, false, &Bytes::from(chan), &key, limit);
        }
    }
}

/// Node-wide subscription registry.
#[derive(Debug, Default)]
pub struct Hub {
    tables: Mutex<Tables>,
}

impl Hub {
    /// Registers `mailbox` (client `id`) for `name`.
    pub fn subscribe(&self, kind: Kind, name: &Bytes, id: u64, mailbox: &Arc<Mailbox>) {
        self.tables
            .lock()
            .of(kind)
            .entry(name.clone())
            .or_default()
            .insert(id, mailbox.clone());
    }

    /// Removes client `id` from `name`.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) {
        let mut t = self.tables.lock();
        let table = t.of(kind);
        if let Some(subs) = table.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                table.remove(name);
            }
        }
    }

    /// Delivers a message and returns how many receivers got it.
    pub fn publish(&self, node: &Node, shard: bool, channel: &Bytes, payload: &Bytes) -> i64 {
        self.deliver(node, shard, channel, payload, pubsub_limit())
    }

    /// `publish` with the subscribers' backlog limit given (keyspace events
    /// are published under a slot lock, where the settings lock is not taken).
    fn deliver(
        &self,
        node: &Node,
        shard: bool,
        channel: &Bytes,
        payload: &Bytes,
        limit: u64,
    ) -> i64 {
        let t = self.tables.lock();
        let mut receivers = 0;
        let direct = if shard { &t.shard } else { &t.channels };
        if let Some(subs) = direct.get(channel) {
            for mb in subs.values() {
                let msg = Delivery::Message(Message {
                    pattern: None,
                    channel: channel.clone(),
                    payload: payload.clone(),
                    shard,
                });
                mb.push(node, msg, limit);
                receivers += 1;
            }
        }
        if !shard {
            for (pattern, subs) in &t.patterns {
                if !crate::util::glob_match(pattern, channel, false) {
                    continue;
                }
                for mb in subs.values() {
                    let msg = Delivery::Message(Message {
                        pattern: Some(pattern.clone()),
                        channel: channel.clone(),
                        payload: payload.clone(),
                        shard,
                    });
                    mb.push(node, msg, limit);
                    receivers += 1;
                }
            }
        }
        receivers
    }

    /// Active channels (or shard channels) matching an optional pattern.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut t = self.tables.lock();
        t.of(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| crate::util::glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Number of subscribers of one channel (or shard channel).
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.tables
            .lock()
            .of(kind)
            .get(channel)
            .map_or(0, |s| s.len())
    }

    /// Number of distinct entries of one kind (INFO pubsub_channels/patterns, NUMPAT).
    pub fn count(&self, kind: Kind) -> usize {
        self.tables.lock().of(kind).len()
    }

    /// Drops every shard channel for which `served` is false (its slot
    /// moved to another node) and tells its subscribers' connections.
    /// Returns how many channels were dropped.
    pub fn drop_shard_channels(&self, node: &Node, served: impl Fn(&[u8]) -> bool) -> usize {
        let mut t = self.tables.lock();
        let gone: Vec<Bytes> = t.shard.keys().filter(|c| !served(c)).cloned().collect();
        for channel in &gone {
            for mb in t
                .shard
                .remove(channel)
                .into_iter()
                .flat_map(|subs| subs.into_values())
            {
                mb.push(node, Delivery::ShardDropped(channel.clone()), 0);
            }
        }
        gone.len()
    }
}

/// What one connection is subscribed to.
#[derive(Debug)]
pub struct Subscriptions {
    /// Where the hub delivers this connection's messages.
    pub mailbox: Arc<Mailbox>,
    channels: hashbrown::HashSet<Bytes>,
    patterns: hashbrown::HashSet<Bytes>,
    shard: hashbrown::HashSet<Bytes>,
}

impl Subscriptions {
    /// No subscriptions yet, delivering to `handle`'s connection.
    pub fn new(handle: Arc<ClientHandle>) -> Self {
        Subscriptions {
            mailbox: Mailbox::new(handle),
            channels: Default::default(),
            patterns: Default::default(),
            shard: Default::default(),
        }
    }

    fn set(&mut self, kind: Kind) -> &mut hashbrown::HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Count Redis reports in (un)subscribe replies: channels plus patterns,
    /// or shard channels alone for the shard family.
    pub fn reply_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Total subscriptions of every kind (subscribed mode when non-zero).
    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// Adds a subscription; false when it already existed. Registers with
    /// the hub either way (the hub may have dropped a shard channel whose
    /// notice this connection has not drained yet).
    pub fn add(&mut self, hub: &Hub, kind: Kind, name: &Bytes) -> bool {
        let new = self.set(kind).insert(name.clone());
        hub.subscribe(kind, name, self.mailbox.handle.id, &self.mailbox);
        new
    }

    /// Encodes pending deliveries into `out` (see [`Mailbox::drain_into`]),
    /// dropping the shard subscriptions the hub gave up.
    pub fn drain_into(&mut self, out: &mut Reply, max: usize) {
        let mailbox = self.mailbox.clone();
        let shard = &mut self.shard;
        let mut any = false;
        mailbox.drain_into(
            out,
            max,
            Some(&mut |channel: &[u8]| {
                any = true;
                shard.remove(channel).then_some(shard.len())
            }),
        );
        if any {
            self.publish_counts();
        }
    }

    /// Removes a subscription; false when it did not exist.
    pub fn remove(&mut self, hub: &Hub, kind: Kind, name: &[u8]) -> bool {
        if !self.set(kind).remove(name) {
            return false;
        }
        hub.unsubscribe(kind, name, self.mailbox.handle.id);
        true
    }

    /// Every subscription of one kind.
    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.iter().cloned().collect(),
            Kind::Shard => self.shard.iter().cloned().collect(),
        }
    }

    /// Publishes the counts to CLIENT LIST.
    pub fn publish_counts(&self) {
        let mut m = self.mailbox.handle.meta.lock();
        m.sub = self.channels.len();
        m.psub = self.patterns.len();
        m.ssub = self.shard.len();
    }

    /// Drops every subscription (connection closed or RESET).
    pub fn clear(&mut self, hub: &Hub) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in self.names(kind) {
                self.remove(hub, kind, &name);
            }
        }
        self.publish_counts();
    }
}
