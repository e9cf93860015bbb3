//! Lua scripting (EVAL family and functions): a Lua 5.1 VM per node, the
//! script cache and the function libraries.
//!
//! Atomicity: EVAL/EVALSHA/FCALL run under the exclusive side of the node's
//! gate (`node::gate`; their table rows carry `EXCLUSIVE`), so no other
//! client's command interleaves with a script. While a script is busy the
//! dispatcher answers `-BUSY` to everything but the commands allowed then.
//! SCRIPT KILL / FUNCTION KILL set a flag the VM's instruction-count hook
//! checks, aborting the script.
//!
//! Functions (FUNCTION LOAD / FCALL, `functions`) run on a second VM of their
//! own, as in Redis, with the same gate, BUSY and kill machinery.

pub mod engine;
pub mod functions;
pub mod lualib;
pub mod readonly;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::node::gate::ScriptRun;

/// Node-wide scripting state.
#[derive(Debug, Default)]
pub struct Scripts {
    /// The VM and its script cache (created on first use, reset by SCRIPT FLUSH).
    pub engine: Mutex<Option<engine::Engine>>,
    /// The function libraries and their VM (created on first use, reset by FUNCTION FLUSH).
    pub functions: Mutex<Option<functions::Registry>>,
    /// Library and function counts, readable while a function holds `functions`.
    pub function_counts: functions::Counts,
    /// The running script's state (the node's, shared with the VM hook).
    pub run: Arc<ScriptRun>,
}

impl Scripts {
    /// Scripting state whose running-script flags are `run` (the node's).
    pub fn new(run: Arc<ScriptRun>) -> Scripts {
        Scripts {
            run,
            ..Scripts::default()
        }
    }
}
