//! Replication commands of a standalone node, with Redis 7.0's replies:
//! REPLICAOF/SLAVEOF, the primary's side of the handshake (REPLCONF, PSYNC,
//! SYNC: the connection then becomes a replica link, `server::replica_feed`),
//! WAIT, ROLE and the `INFO replication` section. The state they read and
//! change is `node::replication`; the replica's connection to its primary is
//! `server::replica_task`.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::{arg_i64, is, After, Ctx};
use super::shared::Shared;
use crate::error::{CmdError, CmdResult};
use crate::node::replication::{LinkState, Role, SyncRequest, WaitSpec};

/// Redis' refusal of a write on a read-only replica.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// True when this node is a replica with `replica-read-only yes`: client
/// writes are refused (one atomic load on a primary).
pub fn refuses_writes(shared: &Shared) -> bool {
    shared.store.replica.load(Ordering::Relaxed)
        && shared
            .config
            .read()
            .stored_value("replica-read-only")
            .eq_ignore_ascii_case("yes")
}

/// REPLICAOF host port | REPLICAOF NO ONE (and SLAVEOF)
pub fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.cluster_enabled() {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    let repl = &ctx.shared.repl;
    if is(&args[1], "no") && is(&args[2], "one") {
        if repl.is_replica() {
            repl.promote(crate::node::random_hex_id());
            ctx.shared.store.replica.store(false, Ordering::Relaxed);
            tracing::info!("MASTER MODE enabled (user request)");
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = arg_i64(&args[2])
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::err("Invalid master port"))?;
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let target = Role::Replica {
        host: host.clone(),
        port,
    };
    if *repl.role.borrow() == target {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    if !repl.is_replica() {
        // A primary turned replica asks its new primary to continue its own
        // history (it may be a replica of it that was promoted).
        let s = repl.stream();
        *repl.upstream.lock() = crate::node::replication::UpstreamState {
            replid: Some(s.replid.clone()),
            offset: s.offset,
            db: 0,
        };
    }
    repl.deactivate();
    // This node's own replicas are dropped (no chained replication); they
    // reconnect and are refused until it is a primary again.
    let links: Vec<u64> = repl.replicas.lock().iter().map(|r| r.id).collect();
    for id in links {
        if let Some(h) = ctx.shared.clients.get(id) {
            h.killed.store(true, Ordering::Release);
            h.wake.notify_one();
        }
    }
    ctx.shared.store.replica.store(true, Ordering::Relaxed);
    repl.link.write().state = LinkState::Connect;
    repl.role.send_replace(target);
    tracing::info!("REPLICAOF {host}:{port} enabled (user request)");
    ctx.out.ok();
    Ok(())
}

/// REPLCONF option value [option value ...]: the replica's side of the
/// handshake (its listening port, capabilities). ACKs travel on the
/// replica link itself (`server::replica_feed`).
pub fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in args[1..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if is(opt, "listening-port") {
            let port = arg_i64(val)?;
            ctx.client.repl_listening_port = u16::try_from(port).unwrap_or(0);
        } else if is(opt, "capa") || is(opt, "ip-address") || is(opt, "rdb-only") {
            // Capabilities: the stream format is the same for every replica.
        } else if is(opt, "ack") || is(opt, "getack") {
            // Only meaningful on a replica link; Redis ignores them elsewhere.
            return Ok(());
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

fn start_sync(ctx: &mut Ctx<'_>, replid: String, offset: i64) -> CmdResult {
    if ctx.shared.repl.is_replica() {
        return Err(CmdError::Other(
            "NOMASTERLINK Can't SYNC while not connected with my master".into(),
        ));
    }
    ctx.after = Some(After::Replicate(Box::new(SyncRequest {
        replid,
        offset,
        port: ctx.client.repl_listening_port,
    })));
    Ok(())
}

/// PSYNC replicationid offset
pub fn psync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let offset = arg_i64(&args[2])?;
    start_sync(ctx, String::from_utf8_lossy(&args[1]).into_owned(), offset)
}

/// SYNC: a full sync, always.
pub fn sync(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    start_sync(ctx, "?".into(), -1)
}

/// WAIT numreplicas timeout: how many replicas acknowledged this client's
/// writes, once `numreplicas` did or the timeout passed (0 blocks).
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.repl.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let want = arg_i64(&args[1])?;
    let timeout = arg_i64(&args[2])
        .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let offset = ctx.client.repl_offset;
    let acked = ctx.shared.repl.acked_at_least(offset);
    if acked as i64 >= want || ctx.client.multi.is_some() {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    ctx.after = Some(After::Wait(WaitSpec {
        offset,
        replicas: usize::try_from(want).unwrap_or(usize::MAX),
        timeout: (timeout > 0).then(|| std::time::Duration::from_millis(timeout as u64)),
    }));
    Ok(())
}

/// ROLE: `master offset [[ip port offset] ...]` or
/// `slave host port state offset`.
pub fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    let role = repl.role.borrow().clone();
    match role {
        Role::Primary => {
            let replicas = repl.replicas.lock().clone();
            ctx.out.array_len(3);
            ctx.out.bulk(b"master");
            ctx.out.int(repl.offset() as i64);
            ctx.out.array_len(replicas.len());
            for r in replicas {
                ctx.out.array_len(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk(r.port.to_string().as_bytes());
                ctx.out
                    .bulk(r.acked.load(Ordering::Acquire).to_string().as_bytes());
            }
        }
        Role::Replica { host, port } => {
            let state = repl.link.read().state;
            let offset = match state {
                LinkState::Connected => repl.upstream.lock().offset as i64,
                _ => -1,
            };
            ctx.out.array_len(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(host.as_bytes());
            ctx.out.int(i64::from(port));
            ctx.out.bulk(state.role_name().as_bytes());
            ctx.out.int(offset);
        }
    }
    Ok(())
}

/// The `# Replication` section's fields, in Redis 7.0's order.
pub fn info_section(sh: &Shared, now_ms: u64) -> String {
    let repl = &sh.repl;
    let mut out = String::new();
    let role = repl.role.borrow().clone();
    let read_only = u8::from(
        sh.config
            .read()
            .stored_value("replica-read-only")
            .eq_ignore_ascii_case("yes"),
    );
    let upstream = repl.upstream.lock().clone();
    if let Role::Replica { host, port } = &role {
        let link = repl.link.read().clone();
        let up = link.state == LinkState::Connected;
        let last_io = if link.last_io_ms == 0 {
            -1
        } else {
            (now_ms.saturating_sub(link.last_io_ms) / 1000) as i64
        };
        let _ = write!(
            out,
            "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{off}\r\nslave_repl_offset:{off}\r\nslave_priority:100\r\nslave_read_only:{read_only}\r\nreplica_announced:1\r\n",
            if up { "up" } else { "down" },
            u8::from(link.state == LinkState::Sync),
            off = upstream.offset,
        );
    } else {
        out.push_str("role:master\r\n");
    }
    let replicas = repl.replicas.lock().clone();
    let _ = write!(out, "connected_slaves:{}\r\n", replicas.len());
    for (i, r) in replicas.iter().enumerate() {
        let lag = now_ms.saturating_sub(r.ack_ms.load(Ordering::Acquire)) / 1000;
        let state = if r.online.load(Ordering::Acquire) {
            "online"
        } else {
            "wait_bgsave"
        };
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={state},offset={},lag={lag}\r\n",
            r.ip,
            r.port,
            r.acked.load(Ordering::Acquire)
        );
    }
    let s = repl.stream();
    let (replid, offset) = match (&role, &upstream.replid) {
        (Role::Replica { .. }, Some(id)) => (id.clone(), upstream.offset),
        _ => (s.replid.clone(), s.offset),
    };
    let second = if s.replid2.1 > 0 {
        (s.replid2.1 + 1) as i64
    } else {
        -1
    };
    let active = u8::from(repl.active() || s.backlog_len() > 0);
    let _ = write!(
        out,
        "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{second}\r\nrepl_backlog_active:{active}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        s.replid2.0,
        backlog_size(sh),
        s.backlog_start() + 1,
        s.backlog_len(),
    );
    out
}

/// `repl-backlog-size` in bytes.
pub fn backlog_size(sh: &Shared) -> usize {
    sh.config
        .read()
        .stored_value("repl-backlog-size")
        .parse()
        .unwrap_or(1024 * 1024)
}
