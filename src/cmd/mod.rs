//! Command execution: the context handlers run in, and `execute`, which applies
//! Redis' checks (unknown command, arity, auth, MULTI queueing, OOM, pub/sub
//! context) in Redis' order before calling the handler from the table.

pub mod cluster;
pub mod connection;
pub mod keys;
pub mod server;
pub mod string;
pub mod table;
pub mod transaction;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::error::{CmdError, CmdResult};
use crate::resp::Reply;
use crate::server::client::{QueuedCommand, ReplyMode};
use crate::server::{Client, Shared};
use crate::store::{Key, Locked, Store};
use table::{flags, Command, Found};

/// A command handler: reads `args` (name included) and writes its reply to `ctx.out`.
pub type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;
/// Finds key argument positions of commands whose keys move (numkeys forms).
pub type KeysFn = fn(&[Bytes]) -> Vec<usize>;

/// Work the connection loop must do after a command returns.
#[derive(Debug)]
pub enum After {
    /// Write pending replies, then close.
    Close,
    /// Enter MONITOR mode.
    Monitor,
    /// Pause this connection (DEBUG SLEEP, WAIT without replicas).
    Sleep(std::time::Duration),
    /// Run a cluster routing plan (proxy to the owner) and append its reply.
    Route(Box<crate::cluster::route::Plan>),
}

/// Everything a handler may touch.
pub struct Ctx<'a> {
    /// Node state.
    pub shared: &'a Arc<Shared>,
    /// This connection.
    pub client: &'a mut Client,
    /// Reply buffer.
    pub out: &'a mut Reply,
    /// Time of the batch in unix ms (consistent within one command).
    pub now_ms: u64,
    /// Follow-up for the connection loop.
    pub after: Option<After>,
    /// True while this command runs under the exclusive gate.
    pub exclusive: bool,
}

impl<'a> Ctx<'a> {
    /// The keyspace.
    pub fn store(&self) -> &'a Store {
        &self.shared.store
    }

    /// Slot and hash of a key.
    pub fn key<'k>(&self, bytes: &'k [u8]) -> Key<'k> {
        self.shared.store.key(bytes)
    }

    /// Locks the slot of `key` in the client's database.
    pub fn lock(&self, key: &Key<'_>) -> Locked<'a> {
        self.shared.store.lock(self.client.db, key, self.now_ms)
    }

    /// The LRU/LFU stamp for a newly written or accessed key.
    pub fn lru_stamp(&self) -> u32 {
        crate::store::evict::new_stamp(self.now_ms)
    }

    /// Records a hit or miss of a read lookup.
    pub fn hit(&self, found: bool) {
        let s = &self.shared.store.stats;
        if found {
            s.keyspace_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            s.keyspace_misses.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Parses an integer argument (`ERR value is not an integer or out of range`).
pub fn arg_i64(b: &[u8]) -> Result<i64, CmdError> {
    crate::util::parse_i64(b).ok_or(CmdError::NotInt)
}

/// Parses a float argument (`ERR value is not a valid float`).
pub fn arg_f64(b: &[u8]) -> Result<f64, CmdError> {
    crate::util::parse_f64(b).ok_or(CmdError::NotFloat)
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], opt: &str) -> bool {
    arg.eq_ignore_ascii_case(opt.as_bytes())
}

fn unknown_command_error(args: &[Bytes]) -> CmdError {
    let name = String::from_utf8_lossy(&args[0]);
    let name: String = name.chars().take(128).collect();
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let s = String::from_utf8_lossy(a);
        let s: String = s.chars().take(room).collect();
        rest.push_str(&format!("'{s}' "));
    }
    CmdError::err(format!(
        "unknown command '{name}', with args beginning with: {rest}"
    ))
}

/// Resolves `args` to a runnable table row (subcommands included) or the error
/// Redis gives for an unknown command, unknown subcommand or wrong arity.
pub fn resolve(args: &[Bytes]) -> Result<Found, CmdError> {
    let found = table::lookup(&args[0]).ok_or_else(|| unknown_command_error(args))?;
    let found = if found.cmd.subcommands.is_empty() {
        found
    } else if args.len() < 2 {
        if found.cmd.handler.is_none() {
            return Err(CmdError::Arity(found.cmd.name.to_string()));
        }
        found
    } else {
        match table::lookup_sub(found.cmd, &args[1]) {
            Some(sub) => sub,
            None => {
                let sub = String::from_utf8_lossy(&args[1]);
                let sub: String = sub.chars().take(128).collect();
                return Err(CmdError::err(format!(
                    "unknown subcommand '{sub}'. Try {} HELP.",
                    found.cmd.container_name()
                )));
            }
        }
    };
    if !found.cmd.arity_ok(args.len()) {
        return Err(CmdError::Arity(found.cmd.name.to_string()));
    }
    Ok(found)
}

/// Runs one client command end to end, writing its reply (or error) to `ctx.out`.
///
/// Returns the arguments back, untouched, when the command must run under the
/// exclusive gate and `ctx.exclusive` is false: the caller then swaps its shared
/// hold of the gate for an exclusive one and calls again.
pub fn execute(ctx: &mut Ctx<'_>, args: Vec<Bytes>) -> Option<Vec<Bytes>> {
    if args.is_empty() {
        return None;
    }
    if !ctx.exclusive && (ctx.client.multi.is_none() || args[0].eq_ignore_ascii_case(b"exec")) {
        if let Ok(f) = resolve(&args) {
            if f.cmd.has(flags::EXCLUSIVE) {
                return Some(args);
            }
        }
    }
    let skip_reply = begin_reply_mode(ctx.client);
    let mark = ctx.out.buf.len();
    let found = match resolve(&args) {
        Ok(f) => f,
        Err(e) => {
            if ctx.client.multi.is_some() {
                ctx.client.multi_error = true;
            }
            reject(ctx, None, e);
            finish_reply_mode(ctx, skip_reply, mark);
            return None;
        }
    };
    let cmd = found.cmd;
    if !ctx.client.authenticated && !cmd.has(flags::NO_AUTH) {
        reject(ctx, Some(found.stat), CmdError::NoAuth);
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    if let Some(c) = ctx.shared.cluster.get() {
        if !ctx.client.proxied {
            let redirect = ctx.shared.config.read().cluster_redirect;
            let in_multi = ctx.client.multi.is_some();
            match crate::cluster::route::decide(c, cmd, &args, redirect, in_multi) {
                crate::cluster::route::Decision::Local => {}
                crate::cluster::route::Decision::Reject(e) => {
                    if in_multi {
                        ctx.client.multi_error = true;
                    }
                    reject(ctx, Some(found.stat), e);
                    finish_reply_mode(ctx, skip_reply, mark);
                    return None;
                }
                crate::cluster::route::Decision::Route(plan) => {
                    ctx.after = Some(After::Route(Box::new(plan)));
                    return None;
                }
            }
        }
    }
    if ctx.client.multi.is_some()
        && !matches!(
            cmd.name,
            "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
        )
    {
        if cmd.has(flags::NO_MULTI) {
            ctx.client.multi_error = true;
            reject(
                ctx,
                Some(found.stat),
                CmdError::err("Command not allowed inside a transaction"),
            );
        } else {
            if let Some(q) = ctx.client.multi.as_mut() {
                q.push(QueuedCommand { cmd, args });
            }
            ctx.out.simple("QUEUED");
        }
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    if cmd.has(flags::DENYOOM) {
        if let Err(e) = crate::store::evict::ensure_memory(ctx.shared) {
            reject(ctx, Some(found.stat), e);
            finish_reply_mode(ctx, skip_reply, mark);
            return None;
        }
    }
    call(ctx, found, &args);
    finish_reply_mode(ctx, skip_reply, mark);
    None
}

/// Executes a resolved command: handler, WATCH invalidation, stats, slowlog, MONITOR.
pub fn call(ctx: &mut Ctx<'_>, found: Found, args: &[Bytes]) {
    let cmd = found.cmd;
    let Some(handler) = cmd.handler else { return };
    if ctx.shared.monitors.load(Ordering::Relaxed) > 0
        && !cmd.has(flags::SKIP_MONITOR)
        && !cmd.has(flags::ADMIN)
    {
        server::feed_monitor(ctx, args);
    }
    let start = Instant::now();
    // A bug in one handler must not take the connection task (or the node) down.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx, args)))
        .unwrap_or_else(|_| {
            tracing::error!(command = cmd.name, "command handler panicked");
            Err(CmdError::err("internal error"))
        });
    let micros = start.elapsed().as_micros() as u64;
    let stat = &ctx.shared.cmd_stats[found.stat];
    stat.calls.fetch_add(1, Ordering::Relaxed);
    stat.usec.fetch_add(micros, Ordering::Relaxed);
    ctx.shared
        .stats
        .commands_processed
        .fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(()) => {
            if cmd.has(flags::WRITE) && !ctx.shared.watches.is_empty() {
                touch_keys(ctx, cmd, args);
            }
        }
        Err(e) => {
            stat.failed.fetch_add(1, Ordering::Relaxed);
            ctx.shared
                .stats
                .error_replies
                .fetch_add(1, Ordering::Relaxed);
            ctx.out.error(&e.to_string());
        }
    }
    if !cmd.has(flags::SKIP_SLOWLOG) {
        server::maybe_slowlog(ctx, args, micros);
    }
}

fn touch_keys(ctx: &Ctx<'_>, cmd: &Command, args: &[Bytes]) {
    for i in cmd.key_positions(args) {
        ctx.shared.watches.touch(ctx.client.db, &args[i]);
    }
}

fn reject(ctx: &mut Ctx<'_>, stat: Option<usize>, e: CmdError) {
    if let Some(s) = stat {
        ctx.shared.cmd_stats[s]
            .rejected
            .fetch_add(1, Ordering::Relaxed);
    }
    ctx.shared
        .stats
        .error_replies
        .fetch_add(1, Ordering::Relaxed);
    ctx.out.error(&e.to_string());
}

fn begin_reply_mode(client: &mut Client) -> ReplyMode {
    let prior = client.reply_mode;
    if prior == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skipping;
        return ReplyMode::Skipping;
    }
    prior
}

/// Drops the reply of a command run under CLIENT REPLY OFF/SKIP (except the
/// `+OK` of a CLIENT REPLY ON that ends OFF).
fn finish_reply_mode(ctx: &mut Ctx<'_>, prior: ReplyMode, mark: usize) {
    match prior {
        ReplyMode::Skipping => {
            ctx.out.buf.truncate(mark);
            if ctx.client.reply_mode == ReplyMode::Skipping {
                ctx.client.reply_mode = ReplyMode::On;
            }
        }
        ReplyMode::Off if ctx.client.reply_mode != ReplyMode::On => ctx.out.buf.truncate(mark),
        _ => {}
    }
}
