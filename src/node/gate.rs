//! The node-wide gate that makes MULTI/EXEC, scripts and SWAPDB atomic.
//!
//! Ordinary commands hold the gate shared; commands whose table rows carry
//! `EXCLUSIVE` (EXEC, EVAL, FCALL, SWAPDB, ...) hold it exclusively, so no
//! other client's command interleaves with them. Connections wait for the
//! gate with a timed try-lock ([`Gate::enter_shared`] /
//! [`Gate::enter_exclusive`]); once the running script is older than
//! `busy-reply-threshold` they stop waiting and the dispatcher answers
//! `-BUSY`, except for commands allowed while busy, which run without the
//! gate. SCRIPT KILL / FUNCTION KILL set [`ScriptRun::kill`], which the VM's
//! instruction-count hook checks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
pub struct ScriptRun {
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

impl ScriptRun {
    /// The `-BUSY` text matching what is running (EVAL script or function).
    pub fn busy_error(&self) -> &'static str {
        if self.function.lock().is_some() {
            BUSY_FUNCTION_ERROR
        } else {
            BUSY_ERROR
        }
    }

    /// True when a script has been running for `threshold_ms` or longer.
    pub fn busy(&self, threshold_ms: u64) -> bool {
        let started = self.started_ms.load(Ordering::Acquire);
        started != 0 && crate::store::now_ms().saturating_sub(started) >= threshold_ms
    }
}

/// The gate itself (see the module documentation).
#[derive(Debug, Default)]
pub struct Gate {
    lock: RwLock<()>,
}

/// Runs `f`, which may block its thread for long (a script, a wait on the
/// gate), without starving the tokio worker it is on: on the multi-threaded
/// runtime the worker's queue is handed to another thread meanwhile.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// Takes a guard with `now` or, failing that, waits for it in steps of
/// [`GATE_POLL`] off the tokio worker until `busy` says to give up.
fn wait_unless_busy<G>(
    now: impl FnOnce() -> Option<G>,
    wait: impl Fn(Duration) -> Option<G>,
    busy: impl Fn() -> bool,
) -> Option<G> {
    if let Some(g) = now() {
        return Some(g);
    }
    off_worker(|| loop {
        if let Some(g) = wait(GATE_POLL) {
            return Some(g);
        }
        if busy() {
            return None;
        }
    })
}

impl Gate {
    /// Takes the gate shared for ordinary commands; None once `busy` says a
    /// script holding it is busy.
    pub fn enter_shared(&self, busy: impl Fn() -> bool) -> Option<RwLockReadGuard<'_, ()>> {
        wait_unless_busy(|| self.lock.try_read(), |t| self.lock.try_read_for(t), busy)
    }

    /// Takes the gate exclusively (MULTI/EXEC, scripts); None once `busy`
    /// says a script holding it is busy.
    pub fn enter_exclusive(&self, busy: impl Fn() -> bool) -> Option<RwLockWriteGuard<'_, ()>> {
        wait_unless_busy(
            || self.lock.try_write(),
            |t| self.lock.try_write_for(t),
            busy,
        )
    }

    /// Takes the gate shared, waiting however long (background work that
    /// must not interleave with a transaction, such as serving blocked clients).
    pub fn read(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read()
    }

    /// Takes the gate shared if nobody holds it exclusively now (periodic
    /// background work that skips a round rather than block a worker).
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, ()>> {
        self.lock.try_read()
    }

    /// Takes the gate exclusively, waiting however long (the replication
    /// stream's applier and the primary's snapshot for a full sync).
    pub fn write(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write()
    }

    /// Blocks until every command that held the gate when called has
    /// finished (one exclusive pass): a migration's flip uses it so that no
    /// command routed before a pause is still running.
    pub fn drain(&self) {
        drop(self.lock.write());
    }
}
