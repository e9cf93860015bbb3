//! Lua scripting (EVAL family): a Lua 5.1 VM per node, the script cache, and
//! the state other connections consult while a script runs.
//!
//! Atomicity: EVAL/EVALSHA run under the exclusive side of `Shared::gate`
//! (their table rows carry `EXCLUSIVE`), so no other client's command
//! interleaves with a script. Connections wait for the gate with a timed
//! try-lock (`enter_shared` / `enter_exclusive`); once the running script is
//! older than `busy-reply-threshold` they stop waiting and answer `-BUSY`,
//! except for commands allowed while busy (SCRIPT KILL, SHUTDOWN NOSAVE and
//! `ALLOW_BUSY` rows), which run without the gate. SCRIPT KILL sets a flag the
//! VM's instruction-count hook checks, aborting the script.
//!
//! Functions (FUNCTION LOAD / FCALL, `functions`) run on a second VM of their
//! own, as in Redis, with the same gate, BUSY and kill machinery; FUNCTION
//! KILL / FUNCTION STATS are `ALLOW_BUSY` rows.

pub mod engine;
pub mod functions;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLockReadGuard, RwLockWriteGuard};

use crate::server::Shared;

/// How long a connection waits on the gate before re-checking for a busy script.
const GATE_POLL: Duration = Duration::from_millis(5);

/// The `-BUSY` error text of Redis 7.0 while an EVAL script is busy.
pub const BUSY_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// The `-BUSY` error text of Redis 7.0 while a function (FCALL) is busy.
pub const BUSY_FUNCTION_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Progress of the running script, readable without any lock.
#[derive(Debug, Default)]
pub struct RunState {
    /// Start of the running script in unix ms (0: none running).
    pub started_ms: AtomicU64,
    /// Set by SCRIPT KILL; the hook aborts the script when it sees it.
    pub kill: AtomicBool,
    /// The running script executed a write command (SCRIPT KILL refuses then).
    pub wrote: AtomicBool,
    /// Unix ms after which the hook aborts a FUNCTION LOAD (0: no deadline).
    pub load_deadline_ms: AtomicU64,
    /// The running function's name and command line (None for EVAL scripts),
    /// for FUNCTION STATS and the kill/BUSY variants.
    pub function: Mutex<Option<(String, Vec<Bytes>)>>,
}

impl RunState {
    /// The `-BUSY` text matching what is running (EVAL script or function).
    pub fn busy_error(&self) -> &'static str {
        if self.function.lock().is_some() {
            BUSY_FUNCTION_ERROR
        } else {
            BUSY_ERROR
        }
    }
}

/// Node-wide scripting state.
#[derive(Debug, Default)]
pub struct Scripts {
    /// The VM and its script cache (created on first use, reset by SCRIPT FLUSH).
    pub engine: Mutex<Option<engine::Engine>>,
    /// The function libraries and their VM (created on first use, reset by FUNCTION FLUSH).
    pub functions: Mutex<Option<functions::Registry>>,
    /// Library and function counts, readable while a function holds `functions`.
    pub function_counts: functions::Counts,
    /// Shared with the VM hook.
    pub run: Arc<RunState>,
}

impl Scripts {
    /// True when a script has been running longer than `busy-reply-threshold`.
    pub fn busy(&self, shared: &Shared) -> bool {
        let started = self.run.started_ms.load(Ordering::Acquire);
        if started == 0 {
            return false;
        }
        let threshold = shared.config.read().busy_reply_threshold;
        crate::store::now_ms().saturating_sub(started) >= threshold
    }
}

/// Runs `f`, which may block its thread for long (a script, a wait on the
/// gate), without starving the tokio worker it is on: on the multi-threaded
/// runtime the worker's queue is handed to another thread meanwhile.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Takes the gate shared for ordinary commands; None while a script is busy.
pub fn enter_shared(shared: &Shared) -> Option<RwLockReadGuard<'_, ()>> {
    if let Some(g) = shared.gate.try_read() {
        return Some(g);
    }
    blocking(|| loop {
        if let Some(g) = shared.gate.try_read_for(GATE_POLL) {
            return Some(g);
        }
        if shared.scripts.busy(shared) {
            return None;
        }
    })
}

/// Takes the gate exclusively (MULTI/EXEC, scripts); None while a script is busy.
pub fn enter_exclusive(shared: &Shared) -> Option<RwLockWriteGuard<'_, ()>> {
    if let Some(g) = shared.gate.try_write() {
        return Some(g);
    }
    blocking(|| loop {
        if let Some(g) = shared.gate.try_write_for(GATE_POLL) {
            return Some(g);
        }
        if shared.scripts.busy(shared) {
            return None;
        }
    })
}

/// True for commands a client may run while a script is busy.
pub fn allowed_while_busy(args: &[Bytes]) -> bool {
    let Ok(found) = crate::cmd::resolve(args) else {
        return false;
    };
    let cmd = found.cmd;
    cmd.has(crate::cmd::table::flags::ALLOW_BUSY)
        || cmd.name == "script|kill"
        || (cmd.name == "shutdown" && args.iter().skip(1).any(|a| crate::cmd::is(a, "nosave")))
}

/// Runs a command that arrived while a script is busy: allowed ones run
/// without the gate, everything else gets `-BUSY`.
pub fn run_while_busy(ctx: &mut crate::cmd::Ctx<'_>, args: Vec<Bytes>) {
    if allowed_while_busy(&args) {
        ctx.exclusive = true;
        crate::cmd::execute(ctx, args);
        return;
    }
    if ctx.client.multi.is_some() {
        ctx.client.multi_error = true;
    }
    ctx.shared
        .stats
        .error_replies
        .fetch_add(1, Ordering::Relaxed);
    ctx.out.error(ctx.shared.scripts.run.busy_error());
}
