//! Function commands: FCALL, FCALL_RO and FUNCTION LOAD|LIST|DELETE|FLUSH|
//! DUMP|RESTORE|STATS|KILL|HELP. Libraries and their VM live in
//! `crate::scripting::functions`; atomicity, BUSY and kill are shared with
//! EVAL (`crate::scripting`).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::help_reply;
use super::ctx::{is, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::scripting::engine::SCRIPT_FLAG_NAMES;
use crate::scripting::functions::Registry;
use crate::scripting::Scripts;

/// Runs `f` on the node's function registry, creating it on first use, and
/// publishes the library/function counts afterwards.
fn with_registry<R>(
    scripts: &Scripts,
    f: impl FnOnce(&mut Registry) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    let mut guard = scripts.functions.lock();
    let reg = match guard.as_mut() {
        Some(r) => r,
        None => guard.insert(
            Registry::new(scripts.run.clone())
                .map_err(|e| CmdError::err(format!("cannot start Lua: {e}")))?,
        ),
    };
    let out = f(reg);
    reg.publish(&scripts.function_counts);
    out
}

fn fcall_generic(ctx: &mut Ctx<'_>, args: &[Bytes], readonly: bool) -> CmdResult {
    // A script may touch any key: it starts only while this node holds
    // its lease (its declared keys were also routed, lease included).
    if let Some(c) = ctx.shared.cluster.get() {
        crate::cluster::route::lease_fence(c)?;
    }
    let shared = ctx.shared;
    let scripts = &shared.scripts;
    with_registry(scripts, |reg| {
        let Some(def) = reg.function(&args[1]) else {
            return Err(CmdError::err("Function not found"));
        };
        let numkeys = crate::util::parse_i64(&args[2])
            .ok_or_else(|| CmdError::err("Bad number of keys provided"))?;
        if numkeys > (args.len() - 3) as i64 {
            return Err(CmdError::err(
                "Number of keys can't be greater than number of args",
            ));
        }
        if numkeys < 0 {
            return Err(CmdError::err("Number of keys can't be negative"));
        }
        let readonly = super::scripting::check_flags(ctx, def.flags, readonly)?;
        let (name, func) = (def.name.clone(), def.func.clone());
        let split = 3 + numkeys as usize;
        let (keys, argv) = (&args[3..split], &args[split..]);
        *scripts.run.function.lock() = Some((name.clone(), args.to_vec()));
        let out = crate::node::gate::off_worker(|| {
            reg.engine()
                .run_function(ctx, &scripts.run, &name, &func, keys, argv, readonly)
        });
        *scripts.run.function.lock() = None;
        out
    })
}

/// FCALL function numkeys [key ...] [arg ...]
pub fn fcall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, false)
}

/// FCALL_RO function numkeys [key ...] [arg ...]
pub fn fcall_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    fcall_generic(ctx, args, true)
}

/// FUNCTION LOAD [REPLACE] code
pub fn function_load(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut replace = false;
    let code_at = args.len() - 1;
    for opt in &args[2..code_at] {
        if is(opt, "replace") {
            replace = true;
        } else {
            return Err(CmdError::err(format!(
                "Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    let scripts = &ctx.shared.scripts;
    let name = with_registry(scripts, |reg| {
        crate::node::gate::off_worker(|| reg.load(&args[code_at], replace, &scripts.run))
            .map_err(CmdError::err)
    })?;
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]
pub fn function_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < args.len() {
        if !with_code && is(&args[i], "withcode") {
            with_code = true;
        } else if pattern.is_none() && is(&args[i], "libraryname") {
            if i + 1 >= args.len() {
                return Err(CmdError::err("library name argument was not given"));
            }
            i += 1;
            pattern = Some(&args[i]);
        } else {
            return Err(CmdError::err(format!(
                "Unknown argument {}",
                String::from_utf8_lossy(&args[i])
            )));
        }
        i += 1;
    }
    let out = &mut *ctx.out;
    with_registry(&ctx.shared.scripts, |reg| {
        let libs: Vec<_> = reg
            .libraries()
            .filter(|l| pattern.is_none_or(|p| crate::util::glob_match(p, l.name.as_bytes(), true)))
            .collect();
        out.array_len(libs.len());
        for lib in libs {
            out.map_len(if with_code { 4 } else { 3 });
            out.bulk(b"library_name");
            out.bulk(lib.name.as_bytes());
            out.bulk(b"engine");
            out.bulk(b"LUA");
            out.bulk(b"functions");
            out.array_len(lib.functions.len());
            for f in &lib.functions {
                out.map_len(3);
                out.bulk(b"name");
                out.bulk(f.name.as_bytes());
                out.bulk(b"description");
                match &f.description {
                    Some(d) => out.bulk(d),
                    None => out.null(),
                }
                out.bulk(b"flags");
                let names: Vec<&str> = SCRIPT_FLAG_NAMES
                    .iter()
                    .filter(|(bit, _)| f.flags & bit != 0)
                    .map(|(_, n)| *n)
                    .collect();
                out.set_len(names.len());
                for n in names {
                    out.simple(n);
                }
            }
            if with_code {
                out.bulk(b"library_code");
                out.bulk(&lib.code);
            }
        }
        Ok(())
    })
}

/// FUNCTION DELETE library-name
pub fn function_delete(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let name = String::from_utf8_lossy(&args[2]);
    let found = with_registry(&ctx.shared.scripts, |reg| Ok(reg.delete(&name)))?;
    if !found {
        return Err(CmdError::err("Library not found"));
    }
    ctx.out.ok();
    Ok(())
}

/// The FUNCTION subcommand syntax error (`'<as typed>'`).
fn subcommand_error(args: &[Bytes]) -> CmdError {
    CmdError::err(format!(
        "unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
        String::from_utf8_lossy(&args[1])
    ))
}

/// Replaces the registry with `new` (a fresh VM on next use when None).
fn swap_registry(scripts: &Scripts, new: Option<Registry>) {
    let mut guard = scripts.functions.lock();
    *guard = new;
    match guard.as_ref() {
        Some(reg) => reg.publish(&scripts.function_counts),
        None => {
            scripts
                .function_counts
                .libraries
                .store(0, Ordering::Relaxed);
            scripts
                .function_counts
                .functions
                .store(0, Ordering::Relaxed);
        }
    }
}

/// FUNCTION FLUSH [ASYNC|SYNC]
pub fn function_flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(subcommand_error(args));
    }
    if args.len() == 3 && !is(&args[2], "sync") && !is(&args[2], "async") {
        return Err(CmdError::err(
            "FUNCTION FLUSH only supports SYNC|ASYNC option",
        ));
    }
    swap_registry(&ctx.shared.scripts, None);
    ctx.out.ok();
    Ok(())
}

/// FUNCTION DUMP
pub fn function_dump(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let payload = with_registry(&ctx.shared.scripts, |reg| Ok(reg.dump()))?;
    ctx.out.bulk(&payload);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]
pub fn function_restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(subcommand_error(args));
    }
    let policy = args.get(3).map(|p| p.as_ref()).unwrap_or(b"append");
    let (flush, replace) = if is(policy, "append") {
        (false, false)
    } else if is(policy, "replace") {
        (false, true)
    } else if is(policy, "flush") {
        (true, false)
    } else {
        return Err(CmdError::err(
            "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        ));
    };
    let scripts = &ctx.shared.scripts;
    if flush {
        let fresh =
            crate::node::gate::off_worker(|| Registry::restored(&args[2], scripts.run.clone()))
                .map_err(CmdError::err)?;
        swap_registry(scripts, Some(fresh));
    } else {
        with_registry(scripts, |reg| {
            crate::node::gate::off_worker(|| reg.restore(&args[2], replace, &scripts.run))
                .map_err(CmdError::err)
        })?;
    }
    ctx.out.ok();
    Ok(())
}

/// FUNCTION STATS (allowed while a function is busy: reads no locked state).
pub fn function_stats(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let scripts = &ctx.shared.scripts;
    let out = &mut *ctx.out;
    out.map_len(2);
    out.bulk(b"running_script");
    let started = scripts.run.started_ms.load(Ordering::Acquire);
    match scripts.run.function.lock().clone() {
        Some((name, command)) if started != 0 => {
            out.map_len(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.bulks(command.iter());
            out.bulk(b"duration_ms");
            out.int(crate::store::now_ms().saturating_sub(started) as i64);
        }
        _ => out.null(),
    }
    out.bulk(b"engines");
    out.map_len(1);
    out.bulk(b"LUA");
    out.map_len(2);
    out.bulk(b"libraries_count");
    out.int(scripts.function_counts.libraries.load(Ordering::Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(scripts.function_counts.functions.load(Ordering::Relaxed) as i64);
    Ok(())
}

/// FUNCTION KILL (runs without the gate while a function is busy).
pub fn function_kill(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    super::scripting::kill(ctx, true)
}

/// FUNCTION HELP
pub fn function_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}
