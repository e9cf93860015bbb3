//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP: the node's settings (`config`)
//! read and changed at run time, and the statistics reset.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::{help_reply, Ctx};
use crate::config::SetBy;
use crate::error::{CmdError, CmdResult};

/// CONFIG GET parameter [parameter ...]
pub fn config_get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let cfg = ctx.shared.config.read().clone();
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pat in &args[2..] {
        for (n, v) in cfg.get_matching(pat) {
            if !pairs.iter().any(|(x, _)| *x == n) {
                pairs.push((n, v));
            }
        }
    }
    ctx.out.map_len(pairs.len());
    for (n, v) in pairs {
        ctx.out.bulk(n.as_bytes());
        ctx.out.bulk(v.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value ...]
pub fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Arity("config|set".into()));
    }
    let by = SetBy::Client {
        local: ctx.client.is_local(),
    };
    let mut cfg = ctx.shared.config.write();
    let mut next = cfg.clone();
    for (i, pair) in args[2..].chunks(2).enumerate() {
        let name = String::from_utf8_lossy(&pair[0]).into_owned();
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        if args[2..2 + 2 * i]
            .iter()
            .step_by(2)
            .any(|earlier| earlier.eq_ignore_ascii_case(&pair[0]))
        {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
            )));
        }
        next.set(&name, &value, by)
            .map_err(|e| CmdError::err(e.to_string()))?;
    }
    let shrunk = next.maxmemory != 0 && (cfg.maxmemory == 0 || next.maxmemory < cfg.maxmemory);
    *cfg = next;
    crate::node::apply_hot_settings(&cfg);
    drop(cfg);
    if shrunk {
        // Like Redis, a lowered limit evicts right away rather than at the
        // next write; under noeviction nothing happens until writes get -OOM.
        let _ = ctx.shared.ensure_memory();
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE: the start-up config file updated with the current
/// settings (`config_rewrite`).
pub fn config_rewrite(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let cfg = ctx.shared.config.read().clone();
    let Some(path) = cfg.config_file.as_deref() else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    crate::config_rewrite::rewrite_config_file(path, &cfg)
        .map_err(|e| CmdError::err(format!("Rewriting config file: {e}")))?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT
pub fn config_resetstat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let sh = ctx.shared;
    for s in sh.cmd_stats.iter() {
        s.calls.store(0, Ordering::Relaxed);
        s.usec.store(0, Ordering::Relaxed);
        s.rejected.store(0, Ordering::Relaxed);
        s.failed.store(0, Ordering::Relaxed);
        s.latency.reset();
    }
    let st = &sh.stats;
    for c in [
        &st.commands_processed,
        &st.connections_received,
        &st.rejected_connections,
        &st.net_input_bytes,
        &st.net_output_bytes,
        &st.error_replies,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    st.error_codes.lock().clear();
    let ks = &sh.store.stats;
    for c in [
        &ks.expired_keys,
        &ks.evicted_keys,
        &ks.keyspace_hits,
        &ks.keyspace_misses,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    sh.slowlog.lock().reset();
    ctx.out.ok();
    Ok(())
}

/// CONFIG HELP
pub fn config_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
