//! Transactions: MULTI/EXEC/DISCARD and optimistic locking with WATCH.
//!
//! EXEC runs under the server's exclusive gate, so the queued commands are
//! never interleaved with another client's commands (Redis' guarantee).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::Ctx;
use super::dispatch::call;
use crate::error::{CmdError, CmdResult};

fn unwatch_all(ctx: &mut Ctx<'_>) {
    let c = &mut *ctx.client;
    if !c.watching.is_empty() {
        ctx.shared.watches.unwatch_all(c.id(), &c.watching);
        c.watching.clear();
    }
    c.watch_deadline = None;
    c.handle.dirty.store(false, Ordering::Release);
}

fn end_multi(ctx: &mut Ctx<'_>) {
    ctx.client.multi = None;
    ctx.client.multi_error = false;
    ctx.client.handle.meta.lock().multi = -1;
    unwatch_all(ctx);
}

/// MULTI
pub fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    ctx.client.handle.meta.lock().multi = 0;
    ctx.out.ok();
    Ok(())
}

/// EXEC
pub fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(queued) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    // The lease is checked again now, not only when the commands were
    // queued: like Redis Cluster, a transaction with keys is discarded with
    // -CLUSTERDOWN when this node stopped serving meanwhile.
    if let Some(c) = ctx.shared.cluster.get() {
        let keyed = queued.iter().any(|q| {
            super::command::by_stat(q.stat)
                .is_some_and(|f| !f.cmd.key_positions(&q.args).is_empty())
        });
        if keyed {
            if let Err(e) = crate::cluster::route::lease_fence(c) {
                end_multi(ctx);
                return Err(e);
            }
        }
    }
    if ctx.client.multi_error {
        end_multi(ctx);
        return Err(CmdError::Other(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let expired = ctx.client.watch_deadline.is_some_and(|t| t <= ctx.now_ms);
    if expired || ctx.client.handle.dirty.load(Ordering::Acquire) {
        end_multi(ctx);
        ctx.out.null_array();
        return Ok(());
    }
    end_multi(ctx);
    ctx.out.array_len(queued.len());
    for q in queued {
        let Some(found) = super::command::by_stat(q.stat) else {
            continue;
        };
        call(ctx, found, &q.args);
    }
    Ok(())
}

/// DISCARD
pub fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    end_multi(ctx);
    ctx.out.ok();
    Ok(())
}

/// WATCH key [key ...]
pub fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    for k in &args[1..] {
        if !ctx.client.watching.iter().any(|(d, w)| *d == db && w == k) {
            ctx.shared.watches.watch(db, k.clone(), &ctx.client.handle);
            ctx.client.watching.push((db, k.clone()));
            let key = ctx.key(k);
            let ttl = ctx.lock(&key).get(&key).and_then(|e| e.expire_at());
            if let Some(t) = ttl {
                let d = ctx.client.watch_deadline.get_or_insert(t);
                *d = (*d).min(t);
            }
        }
    }
    ctx.out.ok();
    Ok(())
}

/// UNWATCH
pub fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}
