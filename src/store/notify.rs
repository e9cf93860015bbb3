//! Keyspace notifications (Redis' `notify-keyspace-events`): the event
//! classes, the node-wide switch and the hand-off of one event to whoever
//! publishes it.
//!
//! Events are raised where they happen: the store raises `expired`,
//! `evicted` and `new` from the slot lock's methods (the only code that
//! changes a slot table), the command layer raises every command's own
//! events (`Ctx::notify`). Both end in [`Store::notify`], which hands the
//! event to the installed [`EventSink`] (the node, which publishes
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages to
//! its Pub/Sub subscribers) at once, so subscribers see events in the order
//! they happened. The store sits below the Pub/Sub hub, hence the sink.
//!
//! Cost when notifications are off (the default): one relaxed load and one
//! branch per raised event; the event name and key are never formatted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, Weak};

use super::Store;
use crate::config::Settings;

/// `K`: publish `__keyspace@<db>__:<key>` messages.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish `__keyevent@<db>__:<event>` messages.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: keys removed because their TTL passed.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: keys removed by maxmemory eviction.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read command looked up a missing key.
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (accepted, never raised: ringcache has no modules).
pub const MODULE: u32 = 1 << 13;
/// `n`: a key was created.
pub const NEW: u32 = 1 << 14;

/// The classes `A` stands for (Redis' `NOTIFY_ALL`: not `m`, not `n`).
const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The configured classes; zero unless `K` or `E` is set too, so a raised
/// event costs one branch while nothing can be published.
static FLAGS: AtomicU32 = AtomicU32::new(0);

/// Parses a `notify-keyspace-events` value (Redis'
/// `keyspaceEventsStringToFlags`; CONFIG SET validated it already, unknown
/// characters are ignored here).
pub fn parse_flags(text: &str) -> u32 {
    text.bytes().fold(0, |f, c| {
        f | match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => 0,
        }
    })
}

/// Publishes the `notify-keyspace-events` setting to the lock-free switch
/// (start-up and CONFIG SET).
pub fn apply_settings(s: &Settings) {
    let flags = parse_flags(&s.notify_keyspace_events);
    let effective = if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    };
    FLAGS.store(effective, Ordering::Relaxed);
}

/// True when events of `class` are published.
#[inline]
pub fn enabled(class: u32) -> bool {
    FLAGS.load(Ordering::Relaxed) & class != 0
}

/// Whoever publishes keyspace events (the node's Pub/Sub hub).
pub trait EventSink: Send + Sync {
    /// Publishes `event` of `key` in database `db`; `flags` are the
    /// configured classes (which of `K` and `E` are on).
    fn publish_event(&self, flags: u32, db: usize, event: &str, key: &[u8]);
}

/// Where a store hands its events (empty until the node installs itself).
#[derive(Default)]
pub struct SinkSlot(OnceLock<Weak<dyn EventSink>>);

impl std::fmt::Debug for SinkSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "SinkSlot(set)"
        } else {
            "SinkSlot(empty)"
        })
    }
}

impl Store {
    /// Installs the publisher of this store's keyspace events (once).
    pub fn set_event_sink(&self, sink: Weak<dyn EventSink>) {
        let _ = self.events.0.set(sink);
    }

    /// Raises `event` of class `class` for `key` in database `db` (Redis'
    /// `notifyKeyspaceEvent`): published when the class is configured.
    #[inline]
    pub fn notify(&self, db: usize, class: u32, event: &str, key: &[u8]) {
        if enabled(class) {
            self.publish_event(db, event, key);
        }
    }

    #[cold]
    fn publish_event(&self, db: usize, event: &str, key: &[u8]) {
        if let Some(sink) = self.events.0.get().and_then(Weak::upgrade) {
            sink.publish_event(FLAGS.load(Ordering::Relaxed), db, event, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `A` is every class but `m` and `n`; K and E stay separate.
    #[test]
    fn parses_classes_like_redis() {
        assert_eq!(parse_flags(""), 0);
        assert_eq!(parse_flags("A") & (KEY_MISS | NEW | KEYSPACE | KEYEVENT), 0);
        assert_eq!(parse_flags("A") & ALL, ALL);
        assert_eq!(parse_flags("Kx"), KEYSPACE | EXPIRED);
        assert_eq!(parse_flags("Eg$"), KEYEVENT | GENERIC | STRING);
        assert_eq!(
            parse_flags("AKEnm"),
            ALL | KEYSPACE | KEYEVENT | NEW | KEY_MISS
        );
    }
}
