//! The one command dispatcher. Every request that runs on this node, from a
//! RESP connection, a peer's forwarded request, a held request that settled,
//! a blocked client's wake-up or a script, goes through here: routing
//! decision, gate, BUSY, MULTI queueing, auth, OOM, stats, slowlog, MONITOR
//! and WATCH signalling, in Redis' order.

use quanta::Instant;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLockReadGuard;

use super::client::{Client, QueuedCommand, ReplyMode};
use super::command::{self, flags, Command, Found};
use super::ctx::{After, Ctx};
use super::propagate;
use super::shared::Shared;
use crate::error::CmdError;
use crate::resp::Reply;

/// Redis' `%.Ns` of an argument: at most `n` bytes, cut at the first NUL.
fn c_str(arg: &[u8], n: usize) -> &[u8] {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len());
    &arg[..end.min(n)]
}

/// Why a request names no runnable command.
pub enum Rejection {
    /// Unknown command or subcommand: the full error text. Redis echoes the
    /// names byte for byte (binary included), so this is bytes, not a `CmdError`.
    Unknown(Vec<u8>),
    /// Any other error (wrong arity).
    Error(CmdError),
}

impl From<Rejection> for CmdError {
    fn from(r: Rejection) -> CmdError {
        match r {
            Rejection::Unknown(text) => {
                CmdError::Other(String::from_utf8_lossy(&text).into_owned())
            }
            Rejection::Error(e) => e,
        }
    }
}

fn unknown_command(args: &[Bytes]) -> Rejection {
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_str(&args[0], 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    let mut rest: Vec<u8> = Vec::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push(b'\'');
        rest.extend_from_slice(c_str(a, room));
        rest.extend_from_slice(b"' ");
    }
    msg.extend_from_slice(&rest);
    Rejection::Unknown(msg)
}

fn unknown_subcommand(container: &Command, sub: &[u8]) -> Rejection {
    // DEBUG is one plain command in Redis; its own parser rejects unknown
    // subcommands and bad argument counts with one combined message.
    let mut msg = if container.name == "debug" {
        b"ERR unknown subcommand or wrong number of arguments for '".to_vec()
    } else {
        b"ERR unknown subcommand '".to_vec()
    };
    msg.extend_from_slice(c_str(sub, 128));
    msg.extend_from_slice(format!("'. Try {} HELP.", container.container_name()).as_bytes());
    Rejection::Unknown(msg)
}

/// Full table name (`get`, `client|info`) of the command a request invokes,
/// for CLIENT LIST's `cmd=` field; None for unknown commands.
pub fn command_name(name: &[u8], sub: Option<&[u8]>) -> Option<&'static str> {
    let found = command::lookup(name)?;
    if found.cmd.subcommands.is_empty() {
        return Some(found.cmd.name);
    }
    let sub = sub.and_then(|s| command::lookup_sub(found.cmd, s));
    Some(sub.map_or(found.cmd.name, |f| f.cmd.name))
}

/// Resolves `args` to a runnable table row (subcommands included) or the error
/// Redis gives for an unknown command, unknown subcommand or wrong arity.
pub fn resolve(args: &[Bytes]) -> Result<Found, CmdError> {
    resolve_raw(args).map_err(CmdError::from)
}

/// `resolve` keeping unknown names as raw bytes for the wire.
pub fn resolve_raw(args: &[Bytes]) -> Result<Found, Rejection> {
    let found = command::lookup(&args[0]).ok_or_else(|| unknown_command(args))?;
    let found = if found.cmd.subcommands.is_empty() {
        found
    } else if args.len() < 2 {
        if found.cmd.handler.is_none() {
            return Err(Rejection::Error(CmdError::Arity(
                found.cmd.name.to_string(),
            )));
        }
        found
    } else {
        match command::lookup_sub(found.cmd, &args[1]) {
            Some(sub) => sub,
            None => return Err(unknown_subcommand(found.cmd, &args[1])),
        }
    };
    if !found.cmd.arity_ok(args.len()) {
        if let (Some(container), true) = (
            command::lookup(&args[0]).filter(|c| c.cmd.name == "debug"),
            args.len() > 1,
        ) {
            return Err(unknown_subcommand(container.cmd, &args[1]));
        }
        return Err(Rejection::Error(CmdError::Arity(
            found.cmd.name.to_string(),
        )));
    }
    Ok(found)
}

/// What became of a dispatched command.
#[derive(Debug)]
pub enum Dispatched {
    /// It ran or was answered; the follow-up its connection must do.
    Done(Option<After>),
    /// It must run after the replies of the commands this client forwarded
    /// before it: the caller collects them and dispatches it again.
    AfterInFlight(Vec<Bytes>),
    /// CLIENT PAUSE holds it: the caller waits for the pause to end
    /// (`Node::pause`) and dispatches it again.
    Paused(Vec<Bytes>),
}

/// The one way into command execution: holds the node's gate shared across a
/// run of commands (a connection's batch, one forwarded request), swaps it
/// for the exclusive side for commands that need it, and answers `-BUSY`
/// while a script is busy (see `node::gate`).
pub struct Dispatcher<'s> {
    shared: &'s Arc<Shared>,
    gate: Option<RwLockReadGuard<'s, ()>>,
    /// When the previous memcached request of this run ended: the next one's
    /// start (one clock read per request; see `dispatch_mc`).
    pub(super) mc_clock: Option<Instant>,
}

impl<'s> Dispatcher<'s> {
    /// A dispatcher that takes the gate at its first command.
    pub fn new(shared: &'s Arc<Shared>) -> Dispatcher<'s> {
        Dispatcher {
            shared,
            gate: None,
            mc_clock: None,
        }
    }

    /// The node this dispatcher runs requests on.
    pub(super) fn shared(&self) -> &'s Arc<Shared> {
        self.shared
    }

    /// Takes the gate shared unless already held; false while a script is
    /// busy (the caller answers with the busy error). For requests that run
    /// outside the command table (memcached's).
    pub fn enter(&mut self) -> bool {
        if self.gate.is_none() {
            self.gate = self.shared.enter_shared();
        }
        self.gate.is_some()
    }

    /// Runs one command for `client` at `now_ms`, writing its reply to `out`.
    pub fn dispatch(
        &mut self,
        client: &mut Client,
        out: &mut Reply,
        now_ms: u64,
        args: Vec<Bytes>,
    ) -> Dispatched {
        let shared = self.shared;
        let entered = self.enter();
        let mut ctx = Ctx::new(shared, client, out, now_ms, false);
        if !entered {
            run_while_busy(&mut ctx, args);
            return Dispatched::Done(ctx.after.take());
        }
        let Some(args) = execute(&mut ctx, args) else {
            if shared.store.tracking.is_on() {
                super::tracking::after_request(&ctx);
            }
            return Dispatched::Done(ctx.after.take());
        };
        if ctx.paused {
            return Dispatched::Paused(args);
        }
        if !client.in_flight.is_empty() {
            return Dispatched::AfterInFlight(args);
        }
        // Swap the shared hold for an exclusive one for this command only;
        // the next command takes the shared side again.
        self.gate = None;
        Dispatched::Done(execute_exclusive(shared, client, out, now_ms, args))
    }
}

/// Runs a command that `execute` handed back (it needs the exclusive gate):
/// takes the gate exclusively, or answers as a busy-script reply when a script
/// holds it, and returns the command's follow-up. The caller must have dropped
/// its shared hold first.
fn execute_exclusive(
    shared: &Arc<Shared>,
    client: &mut Client,
    out: &mut Reply,
    now_ms: u64,
    args: Vec<Bytes>,
) -> Option<After> {
    let exclusive = shared.enter_exclusive();
    let mut ctx = Ctx::new(shared, client, out, now_ms, true);
    if exclusive.is_some() {
        execute(&mut ctx, args);
        if shared.store.tracking.is_on() {
            super::tracking::after_request(&ctx);
        }
    } else {
        run_while_busy(&mut ctx, args);
    }
    ctx.after.take()
}

/// True for commands a client may run while a script is busy.
fn allowed_while_busy(args: &[Bytes]) -> bool {
    let Ok(found) = resolve(args) else {
        return false;
    };
    let cmd = found.cmd;
    cmd.has(flags::ALLOW_BUSY)
        || cmd.name == "script|kill"
        || (cmd.name == "shutdown" && args.iter().skip(1).any(|a| super::ctx::is(a, "nosave")))
}

/// Runs a command that arrived while a script is busy: allowed ones run
/// without the gate, everything else gets `-BUSY`.
fn run_while_busy(ctx: &mut Ctx<'_>, args: Vec<Bytes>) {
    if allowed_while_busy(&args) {
        ctx.exclusive = true;
        propagate::beside_busy(|| execute(ctx, args));
        return;
    }
    ctx.client.last_cmd = command_name(&args[0], args.get(1).map(|a| &a[..])).unwrap_or("");
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
    ctx.shared
        .stats
        .error_replies
        .fetch_add(1, Ordering::Relaxed);
    ctx.out.error(ctx.shared.script_run.busy_error());
}

/// Redis' refusal of DEBUG when `enable-debug-command` does not allow it.
const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// The refusal of a protected command (DEBUG, with any subcommand, known or
/// not, like Redis where DEBUG is one command) that `enable-debug-command`
/// does not allow this client; checked after the arity, before AUTH, as
/// Redis does.
fn protected_refusal(
    ctx: &Ctx<'_>,
    args: &[Bytes],
    resolved: &Result<Found, Rejection>,
) -> Option<CmdError> {
    let protected = args.len() >= 2
        && match resolved {
            Ok(f) => f.cmd.has(flags::PROTECTED),
            Err(_) => command::lookup(&args[0]).is_some_and(|f| f.cmd.has(flags::PROTECTED)),
        };
    let allowed = || {
        ctx.shared
            .config
            .read()
            .enable_debug_command
            .allows(ctx.client.is_local())
    };
    (protected && !allowed()).then(|| CmdError::Other(DEBUG_NOT_ALLOWED.into()))
}

/// Runs one client command end to end, writing its reply (or error) to `ctx.out`.
///
/// Returns the arguments back, untouched, when the command cannot run yet:
/// it must run under the exclusive gate and `ctx.exclusive` is false (the
/// caller then swaps its shared hold of the gate for an exclusive one and
/// calls again), or in cluster mode it would run here while commands this
/// client forwarded to other nodes are still in flight (the caller collects
/// their replies, `cluster::route::settle`, and calls again).
pub fn execute(ctx: &mut Ctx<'_>, args: Vec<Bytes>) -> Option<Vec<Bytes>> {
    if args.is_empty() {
        return None;
    }
    let resolved = resolve_raw(&args);
    ctx.client.last_cmd = match &resolved {
        Ok(f) => f.cmd.name,
        Err(_) => command_name(&args[0], args.get(1).map(|a| &a[..])).unwrap_or(""),
    };
    if let Ok(f) = &resolved {
        let queued = ctx.client.multi.is_some() && !args[0].eq_ignore_ascii_case(b"exec");
        if f.cmd.has(flags::EXCLUSIVE) && !ctx.exclusive && !queued {
            return Some(args);
        }
    }
    let skip_reply = begin_reply_mode(ctx.client);
    let mark = ctx.out.buf.len();
    if let Some(e) = protected_refusal(ctx, &args, &resolved) {
        if ctx.client.multi.is_some() {
            ctx.client.multi_error = true;
        }
        reject(ctx, resolved.as_ref().ok().map(|f| f.stat), e);
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    let found = match resolved {
        Ok(f) => f,
        Err(r) => {
            if ctx.client.multi.is_some() {
                ctx.client.multi_error = true;
            }
            match r {
                Rejection::Unknown(text) => reject_text(ctx, None, &text),
                Rejection::Error(e) => reject(ctx, None, e),
            }
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
        {
            let in_multi = ctx.client.multi.is_some();
            let context = crate::cluster::route::RouteContext {
                redirect: ctx.shared.config.read().cluster_redirect,
                in_multi,
                proxied: ctx.client.proxied,
                patient: false,
            };
            match crate::cluster::route::decide(
                c,
                cmd.route_shape(),
                &cmd.key_positions(&args),
                &args,
                context,
            ) {
                crate::cluster::route::Decision::Local => {
                    // Its effects must follow those of the commands this
                    // client forwarded before it: the caller collects their
                    // replies first, then runs it.
                    if !ctx.client.in_flight.is_empty() {
                        return Some(args);
                    }
                }
                crate::cluster::route::Decision::Reject(e) => {
                    if in_multi {
                        ctx.client.multi_error = true;
                    }
                    reject(ctx, Some(found.stat), e);
                    finish_reply_mode(ctx, skip_reply, mark);
                    return None;
                }
                crate::cluster::route::Decision::Route(route) => {
                    // The reply comes from elsewhere, later: CLIENT REPLY
                    // OFF/SKIP drop it then.
                    let silent = skip_reply != ReplyMode::On;
                    finish_reply_mode(ctx, skip_reply, mark);
                    ctx.after = Some(After::Route(Box::new(
                        crate::cluster::route::RoutedCommand {
                            route,
                            args,
                            silent,
                        },
                    )));
                    return None;
                }
            }
        }
    }
    if cmd.has(flags::WRITE) && super::replication::refuses_writes(ctx.shared) {
        if ctx.client.multi.is_some() {
            ctx.client.multi_error = true;
        }
        reject(
            ctx,
            Some(found.stat),
            CmdError::Other(super::replication::READONLY.into()),
        );
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    if ctx.client.subscriptions() > 0 && !ctx.out.resp3() && !cmd.has(flags::SUBSCRIBED_OK) {
        reject(
            ctx,
            Some(found.stat),
            CmdError::err(format!("Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", cmd.name)),
        );
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    if !ctx.exclusive
        && !ctx.client.proxied
        && ctx.shared.pause.holds(may_write(ctx, cmd)).is_some()
    {
        // Undo the reply-mode step: the command runs again after the pause.
        ctx.client.reply_mode = skip_reply_restore(skip_reply, ctx.client.reply_mode);
        ctx.paused = true;
        return Some(args);
    }
    if ctx.client.multi.is_some() && !cmd.has(flags::NOT_QUEUED) {
        if cmd.has(flags::NO_MULTI) {
            ctx.client.multi_error = true;
            reject(
                ctx,
                Some(found.stat),
                CmdError::err("Command not allowed inside a transaction"),
            );
        } else {
            if let Some(q) = ctx.client.multi.as_mut() {
                q.push(QueuedCommand {
                    stat: found.stat,
                    args,
                });
            }
            ctx.out.simple("QUEUED");
        }
        finish_reply_mode(ctx, skip_reply, mark);
        return None;
    }
    let shared = ctx.shared;
    if cmd.has(flags::DENYOOM) {
        // Evictions go to the replicas as DELs (see `propagate`).
        if let Err(e) = propagate::record(&shared.node, None, || shared.ensure_memory()) {
            reject(ctx, Some(found.stat), e);
            finish_reply_mode(ctx, skip_reply, mark);
            return None;
        }
    }
    let db = ctx.client.db;
    propagate::record(&shared.node, Some((db, &args)), || {
        let at = ctx.out.buf.len();
        call(ctx, found, &args);
        // SPOP's picks are in its reply: the stream sends them as SREM.
        propagate::note_reply(&args, &ctx.out.buf[at..]);
    });
    if shared.repl.active() {
        // WAIT counts the replicas that have this client's writes.
        ctx.client.repl_offset = shared.repl.offset();
    }
    // Hand elements pushed by this command (or this EXEC) to blocked clients,
    // in cluster mode only while this node holds its lease (checked now, at
    // the wake-up: the waiters stay blocked otherwise).
    if shared
        .cluster
        .get()
        .is_none_or(|c| crate::cluster::route::lease_fence(c).is_ok())
    {
        propagate::record(&shared.node, None, || {
            shared
                .blocking
                .serve_ready(&shared.node, super::blocking_pop::attempt)
        });
    }
    // (P|S)(UN)SUBSCRIBE confirm with pushes, which Redis 7.0 delivers
    // under CLIENT REPLY OFF/SKIP too: keep them (the mode still advances).
    let mark = if confirms_with_pushes(cmd) {
        ctx.out.buf.len()
    } else {
        mark
    };
    finish_reply_mode(ctx, skip_reply, mark);
    // Emptied by the parser when it takes the vector back.
    ctx.client.spare_args = args;
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
        super::observe::feed_monitor(ctx, args);
    }
    // Keys longer than the store can hold (only a key of exactly 512 MB fits
    // the protocol but not the store) are refused, never truncated.
    let key_too_long = args
        .iter()
        .any(|a| a.len() > crate::store::thin::MAX_KEY_LEN)
        && cmd
            .key_positions(args)
            .iter()
            .any(|&i| args[i].len() > crate::store::thin::MAX_KEY_LEN);
    // The client whose changes NOLOOP skips, while anybody tracks.
    let tracking = super::tracking::enter(ctx, cmd);
    let start = Instant::now();
    // Only write commands modify keys (some read paths borrow entries
    // mutably for LRU stamps), and PFCOUNT's cache; scripts' and EXEC's
    // commands record their own.
    let watching = cmd.has(flags::WRITE | flags::WRITES_ON_READ) && !ctx.shared.watches.is_empty();
    let shared = ctx.shared;
    let db = ctx.client.db;
    // A bug in one handler must not take the connection task (or the node) down.
    let mut run = || {
        if key_too_long {
            return Err(CmdError::err("key is too long (512 MB - 1 byte at most)"));
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx, args)))
            .unwrap_or_else(|_| {
                tracing::error!(command = cmd.name, "command handler panicked");
                Err(CmdError::err("internal error"))
            })
    };
    // WATCH invalidation: only keys the store really modified (Redis'
    // signalModifiedKey), recorded only while somebody watches. A command
    // that fails (WRONGTYPE after looking its key up for a write) modified
    // nothing in Redis' sense, so its notes are dropped.
    let result = if !watching {
        run()
    } else {
        shared.watches.signal_modified_by(run, Result::is_ok)
    };
    let micros = start.elapsed().as_micros() as u64;
    if let Some(running) = &tracking {
        super::tracking::finish(ctx, cmd, running, result.is_ok());
    }
    crate::node::stats::observe_command(micros);
    let stat = &ctx.shared.cmd_stats[found.stat];
    stat.calls.fetch_add(1, Ordering::Relaxed);
    stat.usec.fetch_add(micros, Ordering::Relaxed);
    if crate::node::latency_histogram::tracking() {
        stat.latency.record(micros);
    }
    ctx.shared
        .stats
        .commands_processed
        .fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(()) => {
            if cmd.has(flags::WRITE) {
                // FLUSHALL inside EXEC or a script (see `propagate`).
                propagate::note_whole_db(&shared.node, db, args);
            }
            if cmd.has(flags::WRITE) && ctx.shared.blocking.has_waiters() {
                for i in cmd.key_positions(args) {
                    ctx.shared.blocking.signal(ctx.client.db, &args[i]);
                }
            }
        }
        Err(e) => {
            stat.failed.fetch_add(1, Ordering::Relaxed);
            let text = e.to_string();
            ctx.shared.stats.count_error(text.as_bytes());
            ctx.out.error(&text);
        }
    }
    if let Some(running) = &tracking {
        super::tracking::after_call(ctx, cmd, args, running);
    }
    drop(tracking);
    if !cmd.has(flags::SKIP_SLOWLOG) {
        super::observe::maybe_slowlog(ctx, args, micros);
    }
    if let Some(ms) = crate::node::latency::over_threshold(micros) {
        let event = if cmd.has(flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        ctx.shared
            .latency
            .lock()
            .add_sample(event, ctx.now_ms / 1000, ms);
    }
}

fn reject(ctx: &mut Ctx<'_>, stat: Option<usize>, e: CmdError) {
    reject_text(ctx, stat, e.to_string().as_bytes());
}

fn reject_text(ctx: &mut Ctx<'_>, stat: Option<usize>, text: &[u8]) {
    if let Some(s) = stat {
        ctx.shared.cmd_stats[s]
            .rejected
            .fetch_add(1, Ordering::Relaxed);
    }
    ctx.shared.stats.count_error(text);
    ctx.out.error_bytes(text);
}

fn begin_reply_mode(client: &mut Client) -> ReplyMode {
    let prior = client.reply_mode;
    if prior == ReplyMode::SkipNext {
        client.reply_mode = ReplyMode::Skipping;
        return ReplyMode::Skipping;
    }
    prior
}

/// Whether CLIENT PAUSE WRITE holds `cmd` back: it may write (Redis'
/// write and may-replicate commands), or it is the EXEC of a transaction
/// that queued such a command (as in Redis 7.0, a write being queued inside
/// MULTI is held too).
fn may_write(ctx: &Ctx<'_>, cmd: &Command) -> bool {
    let writes = flags::WRITE | flags::MAY_REPLICATE;
    match &ctx.client.multi {
        Some(queued) if cmd.name == "exec" => queued
            .iter()
            .any(|q| command::by_stat(q.stat).is_some_and(|f| f.cmd.has(writes))),
        _ => cmd.has(writes),
    }
}

/// The reply mode to keep when a command is handed back before running:
/// CLIENT REPLY SKIP must still skip it when it runs.
fn skip_reply_restore(taken: ReplyMode, now: ReplyMode) -> ReplyMode {
    if taken == ReplyMode::Skipping && now == ReplyMode::Skipping {
        ReplyMode::SkipNext
    } else {
        now
    }
}

/// The subscription commands, whose replies are push messages.
fn confirms_with_pushes(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "ssubscribe" | "sunsubscribe"
    )
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
