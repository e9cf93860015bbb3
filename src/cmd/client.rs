//! A connection's command state: what a command reads and changes of the
//! client that sent it (database, auth, MULTI queue, reply mode, WATCHes,
//! subscriptions, forwarded replies in flight).

use std::sync::Arc;

use bytes::Bytes;

use crate::node::clients::ClientHandle;

/// Reply suppression set by CLIENT REPLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Normal.
    On,
    /// No replies until ON.
    Off,
    /// Skip the next command's reply.
    SkipNext,
    /// Skipping the current command's reply.
    Skipping,
}

/// One queued MULTI command.
#[derive(Debug)]
pub struct QueuedCommand {
    /// The command's statistics slot, which also finds it in the registry
    /// (`command::by_stat`).
    pub stat: usize,
    /// Its arguments.
    pub args: Vec<Bytes>,
}

/// Connection-local state that commands read and change.
#[derive(Debug)]
pub struct Client {
    /// Shared handle.
    pub handle: Arc<ClientHandle>,
    /// Selected database.
    pub db: usize,
    /// True once AUTH succeeded (or no password is set).
    pub authenticated: bool,
    /// CLIENT REPLY state.
    pub reply_mode: ReplyMode,
    /// Queued commands while in MULTI.
    pub multi: Option<Vec<QueuedCommand>>,
    /// A queueing error happened (EXEC will answer EXECABORT).
    pub multi_error: bool,
    /// WATCHed keys.
    pub watching: Vec<(usize, Bytes)>,
    /// Earliest expiry of a key that was alive with a TTL when WATCHed: once
    /// it passes, EXEC aborts (Redis 7 treats an expired watched key as changed).
    pub watch_deadline: Option<u64>,
    /// Connection will close after the pending replies are written.
    pub close_after_reply: bool,
    /// CLIENT NO-EVICT flag.
    pub no_evict: bool,
    /// Pub/Sub subscriptions (created by the first SUBSCRIBE; boxed, since
    /// most connections never subscribe and every idle one pays for this
    /// struct).
    pub pubsub: Option<Box<crate::node::pubsub::Subscriptions>>,
    /// An authenticated peer link (the CLUSTER PROXY-ORIGIN handshake
    /// passed): its requests are never re-routed, and only it may send the
    /// internal CLUSTER subcommands.
    pub proxied: bool,
    /// The challenge of a peer-link handshake in progress
    /// (`CLUSTER PROXY-ORIGIN NONCE`), used up by the answer.
    pub peer_nonce: Option<String>,
    /// Hop level announced by a peer link (`CLUSTER PROXY-ORIGIN <hop>`);
    /// 0 for ordinary clients.
    pub proxy_hop: u8,
    /// Full name of the last command (`cmd=` of CLIENT LIST), set by
    /// `cmd::dispatch::execute` so the hot path needs no second table lookup.
    pub last_cmd: &'static str,
    /// Replies of commands forwarded to other cluster nodes and not yet
    /// collected (see `server::forward::start`).
    pub in_flight: crate::cluster::pool::InFlight,
    /// The argument vector of the last command run, handed back to the
    /// parser, which empties it and fills it with the next command (no
    /// allocation per command).
    pub spare_args: Vec<Bytes>,
    /// The replication stream's offset after this client's last command
    /// (Redis' `woff`): what WAIT waits for replicas to acknowledge.
    pub repl_offset: u64,
    /// The port a replica announced with `REPLCONF listening-port`.
    pub repl_listening_port: u16,
}

impl Client {
    /// True when the client is on the loopback interface (what Redis'
    /// `local` options allow).
    pub fn is_local(&self) -> bool {
        self.handle.addr.ip().to_canonical().is_loopback()
    }

    /// A fresh connection state.
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Client {
            handle,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            multi: None,
            multi_error: false,
            watching: Vec::new(),
            watch_deadline: None,
            close_after_reply: false,
            no_evict: false,
            pubsub: None,
            proxied: false,
            peer_nonce: None,
            proxy_hop: 0,
            last_cmd: "",
            in_flight: Default::default(),
            spare_args: Vec::new(),
            repl_offset: 0,
            repl_listening_port: 0,
        }
    }

    /// Client id.
    pub fn id(&self) -> u64 {
        self.handle.id
    }

    /// Number of subscriptions of every kind (RESP2 subscribed mode when > 0).
    pub fn subscriptions(&self) -> usize {
        self.pubsub.as_ref().map_or(0, |p| p.total())
    }
}
