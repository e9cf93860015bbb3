//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (FCALL and
//! FUNCTION are in `cmd/function.rs`). The VM
//! and its atomicity/BUSY mechanism live in `crate::scripting`.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::help_reply;
use super::ctx::{arg_i64, is, Ctx};
use crate::cmd::Shared;
use crate::error::{CmdError, CmdResult};
use crate::scripting::engine::Engine;
use crate::scripting::engine::{ALLOW_OOM, NO_CLUSTER, NO_WRITES};

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// Key positions of the EVAL family: `numkeys` keys after the numkeys argument.
pub fn eval_keys(args: &[Bytes]) -> Vec<usize> {
    match args.get(2).and_then(|n| crate::util::parse_i64(n)) {
        Some(n) if n > 0 && (n as usize) <= args.len().saturating_sub(3) => {
            (3..3 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

/// Runs `f` on the node's VM, creating it on first use.
fn with_engine<R>(
    shared: &Shared,
    f: impl FnOnce(&mut Engine) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    let scripts = &shared.scripts;
    let mut guard = scripts.engine.lock();
    let engine = match guard.as_mut() {
        Some(e) => e,
        None => guard.insert(
            Engine::new(scripts.run.clone())
                .map_err(|e| CmdError::err(format!("cannot start Lua: {e}")))?,
        ),
    };
    f(engine)
}

fn eval_generic(ctx: &mut Ctx<'_>, args: &[Bytes], by_sha: bool, readonly: bool) -> CmdResult {
    // A script may touch any key: it starts only while this node holds
    // its lease (its declared keys were also routed, lease included).
    if let Some(c) = ctx.shared.cluster.get() {
        crate::cluster::route::lease_fence(c)?;
    }
    if by_sha && args[1].len() != 40 {
        return Err(CmdError::Other(NOSCRIPT.into()));
    }
    let numkeys = arg_i64(&args[2])?;
    if numkeys > (args.len() - 3) as i64 {
        return Err(CmdError::err(
            "Number of keys can't be greater than number of args",
        ));
    }
    if numkeys < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    let split = 3 + numkeys as usize;
    let (keys, argv) = (&args[3..split], &args[split..]);
    let shared = ctx.shared;
    with_engine(shared, |engine| {
        let sha = if by_sha {
            String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
        } else {
            engine.load(&args[1])?
        };
        let mut readonly = readonly;
        if let Some(Some(flags)) = engine.script_flags(&sha) {
            readonly = check_flags(ctx, flags, readonly)?;
        }
        crate::node::gate::off_worker(|| {
            engine.run_script(ctx, &shared.scripts.run, &sha, keys, argv, readonly)
        })
    })
}

/// Redis' `scriptPrepareForRun` checks for a script or function declaring
/// flags (shebang scripts, functions); returns whether it must run read-only.
pub(crate) fn check_flags(ctx: &Ctx<'_>, flags: u8, readonly: bool) -> Result<bool, CmdError> {
    if flags & NO_CLUSTER != 0 && ctx.shared.cluster.get().is_some() {
        return Err(CmdError::err(
            "Can not run script on cluster, 'no-cluster' flag is set.",
        ));
    }
    let no_writes = flags & NO_WRITES != 0;
    if readonly && !no_writes {
        return Err(CmdError::err(
            "Can not execute a script with write flag using *_ro command.",
        ));
    }
    if flags & (NO_WRITES | ALLOW_OOM) == 0 {
        ctx.shared.ensure_memory()?;
    }
    Ok(readonly || no_writes)
}

/// EVAL script numkeys [key ...] [arg ...]
pub fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, false, false)
}

/// EVALSHA sha1 numkeys [key ...] [arg ...]
pub fn evalsha(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, true, false)
}

/// EVAL_RO script numkeys [key ...] [arg ...]
pub fn eval_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, false, true)
}

/// EVALSHA_RO sha1 numkeys [key ...] [arg ...]
pub fn evalsha_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    eval_generic(ctx, args, true, true)
}

/// SCRIPT LOAD script
pub fn script_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sha = with_engine(ctx.shared, |e| e.load(&args[2]))?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

/// SCRIPT EXISTS sha1 [sha1 ...]
pub fn script_exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let found = with_engine(ctx.shared, |e| {
        Ok(args[2..]
            .iter()
            .map(|s| e.exists(&String::from_utf8_lossy(s).to_ascii_lowercase()))
            .collect::<Vec<_>>())
    })?;
    ctx.out.array_len(found.len());
    for f in found {
        ctx.out.int(f as i64);
    }
    Ok(())
}

/// SCRIPT FLUSH [ASYNC|SYNC]
pub fn script_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 || (args.len() == 3 && !is(&args[2], "sync") && !is(&args[2], "async")) {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    // A new VM is created on next use, dropping every cached script (as Redis does).
    *ctx.shared.scripts.engine.lock() = None;
    ctx.out.ok();
    Ok(())
}

/// SCRIPT KILL / FUNCTION KILL (`function`): stops the busy script if it
/// wrote nothing and is of the matching kind (Redis' `scriptKill` checks).
pub(crate) fn kill(ctx: &mut Ctx<'_>, function: bool) -> CmdResult {
    let run = &ctx.shared.scripts.run;
    if run.started_ms.load(Ordering::Acquire) == 0 {
        return Err(CmdError::Other(
            "NOTBUSY No scripts in execution right now.".into(),
        ));
    }
    if run.wrote.load(Ordering::Acquire) {
        return Err(CmdError::Other("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.".into()));
    }
    let running_function = run.function.lock().is_some();
    if running_function != function {
        return Err(CmdError::Other(run.busy_error().into()));
    }
    run.kill.store(true, Ordering::Release);
    ctx.out.ok();
    Ok(())
}

/// SCRIPT KILL (runs without the gate while a script is busy).
pub fn script_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    kill(ctx, false)
}

/// SCRIPT HELP
pub fn script_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}
