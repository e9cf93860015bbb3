//! CLUSTER subcommands, READONLY, READWRITE and ASKING, in Redis Cluster's
//! exact reply formats so `redis-cli -c`, `redis-cli --cluster check` and
//! cluster clients work against ringcache. The data comes from the current
//! `cluster::View` (ring slot map + gossip node table).

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::{arg_i64, Ctx};
use crate::cluster::{Cluster, NodeInfo, View};
use crate::error::{CmdError, CmdResult};
use crate::store::SLOTS;

fn cluster(ctx: &Ctx<'_>) -> Result<Arc<Cluster>, CmdError> {
    ctx.shared
        .cluster
        .get()
        .cloned()
        .ok_or_else(|| CmdError::err("This instance has cluster support disabled"))
}

/// Slot ranges of a node, empty when it is not a member.
fn ranges_of(view: &View, id: &str) -> Vec<(u16, u16)> {
    view.map
        .index_of(id)
        .map(|m| view.map.ranges_of(m))
        .unwrap_or_default()
}

/// CLUSTER HELP
pub fn help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    super::server::help_reply(
        ctx,
        "CLUSTER",
        &[
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "FORGET <node-id>",
            "    Remove a node from the cluster.",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "MC <request>",
            "    Execute a memcached request forwarded by a peer node (proxy connections only).",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "PROXY-ORIGIN",
            "    Mark this connection as a peer node proxying requests (never re-routed).",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
        ],
    );
    Ok(())
}

/// CLUSTER INFO
pub fn info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let mut ok = 0usize;
    let mut assigned = 0usize;
    let mut sizes = vec![0usize; view.map.members.len()];
    for s in 0..SLOTS as u16 {
        if let Some(m) = view.map.owner(s) {
            assigned += 1;
            sizes[m] += 1;
            if view.node_of(m).is_some_and(|n| n.alive) {
                ok += 1;
            }
        }
    }
    let state = if ok == SLOTS { "ok" } else { "fail" };
    let epoch = view.membership.epoch;
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\ncluster_stats_gossip_rounds:{}\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n",
        assigned - ok,
        view.nodes.len(),
        sizes.iter().filter(|&&n| n > 0).count(),
        c.rounds(),
    );
    ctx.out.verbatim(out.as_bytes());
    Ok(())
}

/// CLUSTER MYID
pub fn myid(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    ctx.out.bulk(c.id.as_bytes());
    Ok(())
}

fn node_line(out: &mut String, view: &View, n: &NodeInfo, me: &str, now: u64) {
    let mut flags = String::new();
    if n.id == me {
        flags.push_str("myself,");
    }
    flags.push_str("master");
    if !n.alive {
        flags.push_str(",fail");
    }
    let _ = write!(
        out,
        "{} {}:{}@{} {} - 0 {} {} {}",
        n.id,
        n.host,
        n.port,
        n.bus_port,
        flags,
        if n.alive { now } else { 0 },
        view.membership.epoch,
        if n.alive { "connected" } else { "disconnected" },
    );
    for (a, b) in ranges_of(view, &n.id) {
        if a == b {
            let _ = write!(out, " {a}");
        } else {
            let _ = write!(out, " {a}-{b}");
        }
    }
    out.push('\n');
}

/// CLUSTER NODES
pub fn nodes(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let mut out = String::new();
    for n in &view.nodes {
        node_line(&mut out, &view, n, &c.id, ctx.now_ms);
    }
    ctx.out.verbatim(out.as_bytes());
    Ok(())
}

/// CLUSTER SLOTS
pub fn slots(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let ranges: Vec<(u16, u16, &NodeInfo)> = view
        .map
        .ranges()
        .into_iter()
        .filter_map(|(a, b, m)| view.node_of(m).map(|n| (a, b, n)))
        .collect();
    ctx.out.array_len(ranges.len());
    for (a, b, n) in ranges {
        ctx.out.array_len(3);
        ctx.out.int(i64::from(a));
        ctx.out.int(i64::from(b));
        ctx.out.array_len(4);
        ctx.out.bulk(n.host.as_bytes());
        ctx.out.int(i64::from(n.port));
        ctx.out.bulk(n.id.as_bytes());
        ctx.out.map_len(0);
    }
    Ok(())
}

/// CLUSTER SHARDS
pub fn shards(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let shards: Vec<(&NodeInfo, Vec<(u16, u16)>)> = view
        .nodes
        .iter()
        .map(|n| (n, ranges_of(&view, &n.id)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    ctx.out.array_len(shards.len());
    for (n, ranges) in shards {
        ctx.out.map_len(2);
        ctx.out.bulk(b"slots");
        ctx.out.array_len(ranges.len() * 2);
        for (a, b) in ranges {
            ctx.out.int(i64::from(a));
            ctx.out.int(i64::from(b));
        }
        ctx.out.bulk(b"nodes");
        ctx.out.array_len(1);
        ctx.out.map_len(7);
        ctx.out.bulk(b"id");
        ctx.out.bulk(n.id.as_bytes());
        ctx.out.bulk(b"port");
        ctx.out.int(i64::from(n.port));
        ctx.out.bulk(b"ip");
        ctx.out.bulk(n.host.as_bytes());
        ctx.out.bulk(b"endpoint");
        ctx.out.bulk(n.host.as_bytes());
        ctx.out.bulk(b"role");
        ctx.out.bulk(b"master");
        ctx.out.bulk(b"replication-offset");
        ctx.out.int(0);
        ctx.out.bulk(b"health");
        ctx.out.bulk(if n.alive { b"online" } else { b"fail" });
    }
    Ok(())
}

/// CLUSTER KEYSLOT key
pub fn keyslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(i64::from(crate::store::key_slot(&args[2])));
    Ok(())
}

fn slot_arg(b: &[u8]) -> Result<Option<u16>, CmdError> {
    let n = arg_i64(b)?;
    Ok(u16::try_from(n).ok().filter(|&s| (s as usize) < SLOTS))
}

/// CLUSTER COUNTKEYSINSLOT slot
pub fn countkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(&args[2])?.ok_or_else(|| CmdError::err("Invalid slot"))?;
    let n = ctx.store().lock_slot(0, slot, ctx.now_ms).table().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// CLUSTER GETKEYSINSLOT slot count
pub fn getkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(&args[2])?;
    let count = arg_i64(&args[3])?;
    let (Some(slot), Ok(count)) = (slot, usize::try_from(count)) else {
        return Err(CmdError::err("Invalid slot or number of keys"));
    };
    let keys: Vec<Vec<u8>> = ctx
        .store()
        .lock_slot(0, slot, ctx.now_ms)
        .table()
        .iter()
        .take(count)
        .map(|e| e.key().to_vec())
        .collect();
    ctx.out.bulks(keys.iter());
    Ok(())
}

/// CLUSTER MEET ip port [bus-port]
pub fn meet(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    if args.len() > 5 {
        return Err(CmdError::Syntax);
    }
    let ip = String::from_utf8_lossy(&args[2]).into_owned();
    let port_text = String::from_utf8_lossy(&args[3]).into_owned();
    let port = crate::util::parse_i64(&args[3])
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| CmdError::err(format!("Invalid TCP base port specified: {port_text}")))?;
    let bus = match args.get(4) {
        Some(b) => crate::util::parse_i64(b)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                CmdError::err(format!(
                    "Invalid TCP bus port specified: {}",
                    String::from_utf8_lossy(b)
                ))
            })?,
        None => port
            .checked_add(10000)
            .ok_or_else(|| CmdError::err(format!("Invalid node address specified: {ip}:{port}")))?,
    };
    let addr: std::net::IpAddr = ip
        .parse()
        .map_err(|_| CmdError::err(format!("Invalid node address specified: {ip}:{port}")))?;
    c.meet.lock().push(std::net::SocketAddr::new(addr, bus));
    ctx.out.ok();
    Ok(())
}

/// CLUSTER FORGET node-id
pub fn forget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let id = String::from_utf8_lossy(&args[2]).into_owned();
    if id == c.id {
        return Err(CmdError::err("I tried hard but I can't forget myself..."));
    }
    if !c.view().nodes.iter().any(|n| n.id == id) {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    c.forgotten.lock().insert(id);
    ctx.out.ok();
    Ok(())
}

/// CLUSTER PROXY-ORIGIN: marks the connection as a peer's proxy connection.
pub fn proxy_origin(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.client.proxied = true;
    ctx.out.ok();
    Ok(())
}

/// READONLY / READWRITE / ASKING: accepted for cluster clients. ringcache has no
/// readable replicas and no slots mid-migration, so they change nothing.
pub fn client_mode(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}
