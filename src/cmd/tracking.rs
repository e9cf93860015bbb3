//! Client-side caching commands: CLIENT TRACKING, CACHING, GETREDIR and
//! TRACKINGINFO (the state and the invalidations live in `node::tracking`),
//! and the per-command bookkeeping the dispatcher calls.

use bytes::Bytes;

use super::command::{flags, Command};
use super::ctx::{arg_i64, is, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::node::tracking::{Options, Running};

/// True when one prefix starts the other (Redis' `stringCheckPrefix`).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn text(b: &[u8]) -> String {
    // Redis formats them with %s, which stops at a NUL.
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Redis' `checkPrefixCollisionsOrReply`.
fn check_prefixes(existing: &std::collections::BTreeSet<Bytes>, new: &[Bytes]) -> CmdResult {
    for (i, p) in new.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, p)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(old)
            )));
        }
        if let Some(other) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::err(format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(other)
            )));
        }
    }
    Ok(())
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut opts = Options::default();
    let mut prefixes = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let a = &args[j];
        if is(a, "redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            let id = arg_i64(&args[j])?;
            if u64::try_from(id)
                .ok()
                .and_then(|id| ctx.shared.clients.get(id))
                .is_none()
            {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            opts.redirect = id as u64;
        } else if is(a, "bcast") {
            opts.bcast = true;
        } else if is(a, "optin") {
            opts.optin = true;
        } else if is(a, "optout") {
            opts.optout = true;
        } else if is(a, "noloop") {
            opts.noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            prefixes.push(args[j].clone());
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let id = ctx.client.id();
    let tracking = &ctx.shared.tracking;
    if is(&args[2], "on") {
        if !opts.bcast && !prefixes.is_empty() {
            return Err(CmdError::err(
                "PREFIX option requires BCAST mode to be enabled",
            ));
        }
        let current = tracking.mode(id);
        if current.as_ref().is_some_and(|m| m.bcast != opts.bcast) {
            return Err(CmdError::err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(CmdError::err(
                "OPTIN and OPTOUT are not compatible with BCAST",
            ));
        }
        if opts.optin && opts.optout {
            return Err(CmdError::err(
                "You can't specify both OPTIN mode and OPTOUT mode",
            ));
        }
        if current
            .as_ref()
            .is_some_and(|m| (opts.optin && m.optout) || (opts.optout && m.optin))
        {
            return Err(CmdError::err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if opts.bcast {
            let existing = current.map(|m| m.prefixes).unwrap_or_default();
            check_prefixes(&existing, &prefixes)?;
        }
        tracking.enable(&ctx.shared.node, id, opts, &prefixes);
    } else if is(&args[2], "off") {
        tracking.disable(&ctx.shared.node, id);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO
pub fn client_caching(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let id = ctx.client.id();
    let Some(mode) = ctx.shared.tracking.mode(id) else {
        return Err(CmdError::err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    if is(&args[2], "yes") {
        if !mode.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if is(&args[2], "no") {
        if !mode.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.shared.tracking.set_caching(id);
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETREDIR
pub fn client_getredir(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let redir = ctx
        .shared
        .tracking
        .mode(ctx.client.id())
        .map_or(-1, |m| m.redirect as i64);
    ctx.out.int(redir);
    Ok(())
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let mode = ctx.shared.tracking.mode(ctx.client.id());
    let mut flags: Vec<&[u8]> = Vec::new();
    match &mode {
        None => flags.push(b"off"),
        Some(m) => {
            flags.push(b"on");
            if m.bcast {
                flags.push(b"bcast");
            }
            if m.optin {
                flags.push(b"optin");
                if m.caching {
                    flags.push(b"caching-yes");
                }
            }
            if m.optout {
                flags.push(b"optout");
                if m.caching {
                    flags.push(b"caching-no");
                }
            }
            if m.noloop {
                flags.push(b"noloop");
            }
            if m.broken_redirect {
                flags.push(b"broken_redirect");
            }
        }
    }
    let out = &mut *ctx.out;
    out.map_len(3);
    out.bulk(b"flags");
    out.set_len(flags.len());
    for f in flags {
        out.bulk(f);
    }
    out.bulk(b"redirect");
    out.int(mode.as_ref().map_or(-1, |m| m.redirect as i64));
    out.bulk(b"prefixes");
    let prefixes = mode.map(|m| m.prefixes).unwrap_or_default();
    out.array_len(prefixes.len());
    for p in &prefixes {
        out.bulk(p);
    }
    Ok(())
}

/// The script commands, whose declared keys Redis 7.0 tracks.
fn is_script(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Marks the client running `call` for NOLOOP, while anybody tracks.
pub fn enter(ctx: &Ctx<'_>, cmd: &Command) -> Option<Running> {
    ctx.shared
        .store
        .tracking
        .is_on()
        .then(|| Running::enter(ctx.client.id(), is_script(cmd)))
}

/// A command ended: the invalidations of the keys it wrote go out, unless
/// it failed (and wrote nothing); a script that failed may have written
/// before, so its keys go out either way.
pub fn finish(ctx: &Ctx<'_>, cmd: &Command, running: &Running, ok: bool) {
    running.finish(&ctx.shared.node, ok || is_script(cmd));
}

/// After a command ran, as Redis 7.0's `call`: the keys of a read-only
/// command are remembered for its client. Inside a script it is the
/// script's declared keys that are remembered (when the script is
/// read-only or runs a read-only command), as 7.0 does; EXEC's commands
/// count as their own. Pub/Sub "keys" (shard channels) never do.
pub fn after_call(ctx: &Ctx<'_>, cmd: &Command, args: &[Bytes], running: &Running) {
    let readonly = cmd.has(flags::READONLY);
    if !running.outermost() && readonly && running.note_script_read() {
        return;
    }
    let read = readonly || (running.outermost() && is_script(cmd) && running.script_read());
    if !read || cmd.has(flags::PUBSUB) {
        return;
    }
    let keys = cmd.key_positions(args);
    if keys.is_empty() {
        return;
    }
    ctx.shared
        .tracking
        .remember(ctx.client.id(), keys.iter().map(|&i| &args[i]));
}

/// After a client's request (not a script's or EXEC's command), while
/// anybody tracks: CLIENT CACHING's effect ends (unless the request was a
/// CLIENT subcommand or the client is in MULTI), collected BCAST
/// invalidations go out, and the table is kept within its limit.
pub fn after_request(ctx: &Ctx<'_>) {
    let keep_caching = ctx.client.multi.is_some() || ctx.client.last_cmd.starts_with("client|");
    if !keep_caching {
        ctx.shared.tracking.clear_caching(ctx.client.id());
    }
    between_commands(&ctx.shared.node);
}

/// Redis' `beforeSleep` tracking work: BCAST invalidations collected since
/// the last call, then the table limit. After memcached batches, and in the
/// background cycle (keys expired or dropped outside any request).
pub fn between_commands(node: &crate::node::Node) {
    node.tracking.broadcast(node);
    node.tracking.enforce_limit(node);
}
