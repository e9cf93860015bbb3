//! CLUSTER subcommands, READONLY, READWRITE and ASKING, in Redis Cluster's
//! exact reply formats so `redis-cli -c`, `redis-cli --cluster check` and
//! cluster clients work against ringcache. The data comes from the current
//! `cluster::View` (ring slot map + gossip node table).

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::ctx::{arg_i64, Ctx};
use crate::cluster::peer_auth::{self, Direction};
use crate::cluster::{migrate, Cluster, NodeInfo, View};
use crate::error::{CmdError, CmdResult};
use crate::store::SLOTS;

fn cluster(ctx: &Ctx<'_>) -> Result<Arc<Cluster>, CmdError> {
    ctx.shared
        .cluster
        .get()
        .cloned()
        .ok_or_else(|| CmdError::err("This instance has cluster support disabled"))
}

/// Contiguous slot ranges by effective owner id (`View::effective_owner`:
/// slots mid-migration are reported at the node that serves them now, so
/// cluster clients keep working while slots move).
fn effective_ranges(view: &View, me: &str) -> Vec<(u16, u16, String)> {
    let mut out: Vec<(u16, u16, String)> = Vec::new();
    for s in 0..SLOTS as u16 {
        let Some(o) = view.effective_owner(s, me) else {
            continue;
        };
        match out.last_mut() {
            Some((_, b, id)) if *b + 1 == s && *id == o => *b = s,
            _ => out.push((s, s, o)),
        }
    }
    out
}

/// The nodes CLUSTER NODES/SHARDS/INFO list: all known ones except those
/// removed with CLUSTER FORGET (an alive forgotten node stays in the view
/// while its slots move away, see `gossip::observe`).
fn listed<'v>(c: &Cluster, view: &'v View) -> impl Iterator<Item = &'v NodeInfo> {
    let forgotten = c.forgotten.lock().clone();
    view.nodes
        .iter()
        .filter(move |n| !forgotten.contains(&n.id))
}

/// Slot ranges a node serves (see `effective_ranges`), empty when none.
fn ranges_of(all: &[(u16, u16, String)], id: &str) -> Vec<(u16, u16)> {
    all.iter()
        .filter(|(_, _, o)| o == id)
        .map(|(a, b, _)| (*a, *b))
        .collect()
}

/// CLUSTER HELP
pub fn cluster_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    super::ctx::help_reply(
        ctx,
        "CLUSTER",
        &[
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id>.",
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
            "LINKS",
            "    Return information about all network links between this node and its peers.",
            "    Output format is an array where each array element is a map containing attributes of a link",
            "LEASE <node-id> <epoch>",
            "    Internal: a node asks this voter for its majority lease (peer links only).",
            "MC <request>",
            "    Internal: a memcached request forwarded by a peer node (peer links only).",
            "MEET <ip> <port> [<bus-port>]",
            "    Connect nodes into a working cluster.",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@bus-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "MIGRATE-BATCH <source-id> <epoch> <phase> <slots> <payload>",
            "    Internal: keys of slots migrating to this node (peer links only).",
            "PROXY-ORIGIN NONCE <node-id> <nonce> | <hop> <node-id> <proof>",
            "    Internal: a peer node proves it knows the cluster secret (challenge-response).",
            "RAFT <group> <message> [<message> ...]",
            "    Internal: raft messages between nodes (peer links only).",
            "REBALANCE-STATUS",
            "    Return live-migration progress: slots pending/done, keys, bytes, rate, ETA.",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas (none: ringcache keeps no replicas yet).",
            "SAVECONFIG",
            "    Save current cluster configuration to disk.",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "ADDSLOTS, ADDSLOTSRANGE, DELSLOTS, DELSLOTSRANGE, SETSLOT, FLUSHSLOTS, BUMPEPOCH,",
            "SET-CONFIG-EPOCH, REPLICATE, FAILOVER, RESET",
            "    Not supported: the consistent-hash ring places slots (see docs/CLUSTER.md).",
        ],
    );
    Ok(())
}

/// CLUSTER INFO
pub fn cluster_info(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let mut ok = 0usize;
    let mut assigned = 0usize;
    let mut sizes = vec![0usize; view.map.members.len()];
    let now = std::time::Instant::now();
    // Slots taken from a removed node are served once its lease expired.
    let waits = |s: u16| view.takeover.as_ref().is_some_and(|t| t.waits(s, now));
    for s in 0..SLOTS as u16 {
        if let Some(m) = view.map.owner(s) {
            assigned += 1;
            sizes[m] += 1;
            if view.node_of(m).is_some_and(|n| n.alive) && !waits(s) {
                ok += 1;
            }
        }
    }
    let leased = c.lease.holds();
    let state = if ok == SLOTS && leased { "ok" } else { "fail" };
    let raft = c.raft.status();
    let epoch = view.membership.epoch;
    let mut out = String::new();
    let _ = write!(
        out,
        "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{ok}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:{}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\ncluster_stats_gossip_rounds:{}\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\ncluster_raft_role:{}\r\ncluster_raft_term:{}\r\ncluster_raft_leader:{}\r\ncluster_raft_voters:{}\r\ncluster_raft_learners:{}\r\n{}",
        assigned - ok,
        listed(&c, &view).count(),
        sizes.iter().filter(|&&n| n > 0).count(),
        c.rounds(),
        raft.role.as_str(),
        raft.term,
        raft.leader.as_deref().unwrap_or("-"),
        raft.voters,
        raft.learners,
        lease_lines(leased, epoch),
    );
    ctx.out.verbatim(out.as_bytes());
    Ok(())
}

/// The lease lines of CLUSTER INFO and INFO cluster: whether this node
/// holds its majority lease now and the epoch it serves.
pub(crate) fn lease_lines(leased: bool, epoch: u64) -> String {
    format!(
        "cluster_lease:{}\r\ncluster_lease_epoch:{epoch}\r\n",
        if leased { "ok" } else { "expired" }
    )
}

/// CLUSTER MYID
pub fn cluster_myid(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    ctx.out.bulk(c.id.as_bytes());
    Ok(())
}

fn node_line(
    out: &mut String,
    view: &View,
    all: &[(u16, u16, String)],
    n: &NodeInfo,
    me: &str,
    now: u64,
) {
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
    for (a, b) in ranges_of(all, &n.id) {
        if a == b {
            let _ = write!(out, " {a}");
        } else {
            let _ = write!(out, " {a}-{b}");
        }
    }
    out.push('\n');
}

/// CLUSTER NODES
pub fn cluster_nodes(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let all = effective_ranges(&view, &c.id);
    let mut out = String::new();
    for n in listed(&c, &view) {
        node_line(&mut out, &view, &all, n, &c.id, ctx.now_ms);
    }
    ctx.out.verbatim(out.as_bytes());
    Ok(())
}

/// CLUSTER SLOTS
pub fn cluster_slots(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let ranges: Vec<(u16, u16, &NodeInfo)> = effective_ranges(&view, &c.id)
        .into_iter()
        .filter_map(|(a, b, id)| view.nodes.iter().find(|n| n.id == id).map(|n| (a, b, n)))
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
pub fn cluster_shards(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let all = effective_ranges(&view, &c.id);
    let shards: Vec<(&NodeInfo, Vec<(u16, u16)>)> = listed(&c, &view)
        .map(|n| (n, ranges_of(&all, &n.id)))
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
pub fn cluster_keyslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(i64::from(crate::store::key_slot(&args[2])));
    Ok(())
}

fn slot_arg(b: &[u8]) -> Result<Option<u16>, CmdError> {
    let n = arg_i64(b)?;
    Ok(u16::try_from(n).ok().filter(|&s| (s as usize) < SLOTS))
}

/// CLUSTER COUNTKEYSINSLOT slot
pub fn cluster_countkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let slot = slot_arg(&args[2])?.ok_or_else(|| CmdError::err("Invalid slot"))?;
    let n = ctx.store().lock_slot(0, slot, ctx.now_ms).table().len();
    ctx.out.int(n as i64);
    Ok(())
}

/// CLUSTER GETKEYSINSLOT slot count
pub fn cluster_getkeysinslot(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
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
pub fn cluster_meet(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
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
pub fn cluster_forget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let id = String::from_utf8_lossy(&args[2]).into_owned();
    if id == c.id {
        return Err(CmdError::err("I tried hard but I can't forget myself..."));
    }
    if !c.view().nodes.iter().any(|n| n.id == id) {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    // Data-safe: while the node is alive it is treated as leaving (its slots
    // migrate to the others, see `gossip::observe`); it leaves the node table
    // once it is down.
    c.forgotten.lock().insert(id);
    ctx.out.ok();
    Ok(())
}

/// CLUSTER REPLICAS|SLAVES node-id: the node's replicas. ringcache keeps no
/// replicas yet, so a known node has none (an empty list, as Redis answers
/// for a master without replicas).
pub fn cluster_replicas(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let id = String::from_utf8_lossy(&args[2]).into_owned();
    if !listed(&c, &c.view()).any(|n| n.id == id) {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    ctx.out.array_len(0);
    Ok(())
}

/// The Redis Cluster subcommands that assign slots, epochs or replicas by
/// hand (ADDSLOTS, SETSLOT, FAILOVER, ...): ringcache places slots on its
/// consistent-hash ring and moves them itself when nodes join or leave, so
/// these answer an error that says so instead of `unknown subcommand`.
pub fn cluster_ring_managed(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_uppercase();
    let why = match sub.as_str() {
        "REPLICATE" | "FAILOVER" => "ringcache has no replicas to manage by hand",
        "RESET" => "a node leaves the ring with SHUTDOWN (its slots move to the others) and joins with --join",
        _ => "ringcache assigns slots and epochs with its consistent-hash ring; add or remove nodes to move slots",
    };
    Err(CmdError::err(format!(
        "CLUSTER {sub} is not supported: {why} (see docs/CLUSTER.md)"
    )))
}

/// The refusal of every peer-link handshake that fails, whatever the reason
/// (no challenge asked, wrong proof, old form): one answer tells nothing.
fn peer_auth_failed() -> CmdError {
    CmdError::Other("NOPERM cluster peer authentication failed".into())
}

/// Refuses internal CLUSTER subcommands on any connection that did not pass
/// the peer-link handshake (`CLUSTER PROXY-ORIGIN`, see `cluster::peer_auth`).
fn peer_link(ctx: &Ctx<'_>) -> Result<(), CmdError> {
    if ctx.client.proxied {
        Ok(())
    } else {
        Err(CmdError::Other(
            "NOPERM this command is accepted only on an authenticated cluster peer link".into(),
        ))
    }
}

/// CLUSTER PROXY-ORIGIN NONCE <node-id> <nonce> | <hop> <node-id> <proof>:
/// the mutual peer-link handshake (`cluster::peer_auth`). `NONCE` answers this
/// node's id, a fresh challenge kept for this connection and this node's
/// proof over the caller's nonce; the second form answers the challenge with
/// the caller's proof and, when it holds, marks the connection as a peer's
/// link of hop level `hop` (1..=`MAX_HOPS`, see `cluster::pool`). The
/// challenge is used up either way.
pub fn cluster_proxy_origin(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let secret = ctx.shared.config.read().cluster_secret.clone();
    if let [_, _, word, from, theirs] = args {
        if word.eq_ignore_ascii_case(b"NONCE") {
            let nonce = peer_auth::nonce();
            let from = String::from_utf8_lossy(from);
            let theirs = String::from_utf8_lossy(theirs);
            let proof = peer_auth::proof(&secret, &theirs, &c.id, &from, Direction::Accept);
            ctx.out.array_len(3);
            ctx.out.bulk(c.id.as_bytes());
            ctx.out.bulk(nonce.as_bytes());
            ctx.out.bulk(proof.as_bytes());
            ctx.client.peer_nonce = Some(nonce);
            return Ok(());
        }
    }
    let nonce = ctx.client.peer_nonce.take();
    let [_, _, hop, from, proof] = args else {
        return Err(peer_auth_failed());
    };
    let hop = crate::util::parse_i64(hop)
        .and_then(|h| u8::try_from(h).ok())
        .filter(|h| (1..=crate::cluster::pool::MAX_HOPS).contains(h))
        .ok_or(CmdError::Syntax)?;
    let from = String::from_utf8_lossy(from);
    let proven = nonce
        .is_some_and(|n| peer_auth::verify(&secret, &n, &from, &c.id, Direction::Connect, proof));
    if !proven {
        return Err(peer_auth_failed());
    }
    ctx.client.proxied = true;
    ctx.client.proxy_hop = hop;
    ctx.client.handle.meta.lock().peer = from.into_owned();
    ctx.out.ok();
    Ok(())
}

/// CLUSTER RAFT group message...: raft messages from a peer node, accepted
/// only on an authenticated peer link.
pub fn cluster_raft(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    peer_link(ctx)?;
    c.raft.deliver(&args[2], &args[3..]);
    ctx.out.ok();
    Ok(())
}

/// CLUSTER LEASE node-id epoch: a node asks this voter for its majority
/// lease (`cluster::lease`), only on an authenticated peer link. Granted when
/// the requester is a member of this node's committed membership (or leaves
/// gracefully); the reply carries that membership's epoch either way:
/// `+GRANTED <epoch>` / `+DENIED <epoch>`.
pub fn cluster_lease(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    peer_link(ctx)?;
    crate::util::parse_i64(&args[3]).ok_or(CmdError::NotInt)?;
    let from = String::from_utf8_lossy(&args[2]);
    let committed = crate::cluster::membership::Agreement::current(&c.raft);
    let leaving = c.leaving_peers.lock().contains(from.as_ref());
    let granted =
        crate::cluster::lease::grants(committed.members.contains_key(from.as_ref()), leaving);
    ctx.out
        .simple(&crate::cluster::lease::reply_line(granted, committed.epoch));
    Ok(())
}

/// CLUSTER MIGRATE-BATCH source-id epoch phase slots payload: the receiving
/// side of live slot migration (`cluster::migrate`). Accepted only on an
/// authenticated peer link.
pub fn cluster_migrate_batch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    peer_link(ctx)?;
    let src = String::from_utf8_lossy(&args[2]).into_owned();
    let epoch = crate::util::parse_i64(&args[3])
        .and_then(|e| u64::try_from(e).ok())
        .ok_or(CmdError::NotInt)?;
    let phase = migrate::Phase::parse(&args[4]).ok_or(CmdError::Syntax)?;
    let slots = migrate::parse_slots(&args[5]).ok_or_else(|| CmdError::err("Invalid slot"))?;
    migrate::apply_batch(ctx.shared, &c, &src, epoch, phase, &slots, &args[6])?;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER REBALANCE-STATUS: live-migration progress of this node as
/// `name:value` lines (the same fields as INFO cluster).
pub fn cluster_rebalance_status(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    ctx.out.verbatim(migrate::status(&c).as_bytes());
    Ok(())
}

/// READONLY / READWRITE / ASKING: accepted for cluster clients. ringcache has no
/// readable replicas and does not answer `-ASK`, so they change nothing.
pub fn client_mode(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER MC <request>`: executes one memcached request forwarded by a peer
/// (only on an authenticated peer link) and answers its raw reply as a bulk
/// string.
pub fn cluster_mc(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    peer_link(ctx)?;
    let Some(exec) = ctx.shared.mc_exec.get() else {
        return Err(CmdError::err("This instance has cluster support disabled"));
    };
    let addr = ctx.client.handle.addr.to_string();
    let origin = super::McOrigin {
        addr: &addr,
        now_ms: ctx.now_ms,
    };
    let reply = exec(ctx.shared, &args[2], origin)?;
    ctx.out.bulk(&reply);
    Ok(())
}

/// CLUSTER COUNT-FAILURE-REPORTS node-id: how many other nodes report
/// `node-id` down. Gossip here carries heartbeats, not failure reports
/// (each node's detector is its own, see `cluster::gossip`), so no other
/// node's report ever reaches this one: the count is 0 for every known node.
pub fn cluster_count_failure_reports(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let id = String::from_utf8_lossy(&args[2]);
    if !c.view().nodes.iter().any(|n| n.id == id) {
        return Err(CmdError::err(format!("Unknown node {id}")));
    }
    ctx.out.int(0);
    Ok(())
}

/// One CLUSTER LINKS entry.
struct LinkRow {
    direction: &'static str,
    node: String,
    created_ms: u64,
    events: &'static str,
    allocated: usize,
    used: usize,
}

/// CLUSTER LINKS: the peer links of this node, in Redis' form: outgoing
/// ones (`to`) from the peer pool, incoming ones (`from`) from the clients
/// that proved themselves peers (`CLUSTER PROXY-ORIGIN`). One entry per
/// connection: the pool keeps several per peer (lanes, hop classes), where
/// Redis' bus keeps one each way.
pub fn cluster_links(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let view = c.view();
    let id_of = |addr: std::net::SocketAddr| {
        view.nodes
            .iter()
            .find(|n| n.addr().parse::<std::net::SocketAddr>().ok() == Some(addr))
            .map(|n| n.id.clone())
    };
    let mut rows: Vec<LinkRow> = c
        .pool
        .link_infos()
        .into_iter()
        .filter_map(|l| {
            Some(LinkRow {
                direction: "to",
                node: id_of(l.addr)?,
                created_ms: l.created_ms,
                events: if l.send_buffer_used > 0 { "rw" } else { "r" },
                allocated: l.send_buffer_allocated,
                used: l.send_buffer_used,
            })
        })
        .collect();
    for h in ctx.shared.clients.all() {
        let peer = h.meta.lock().peer.clone();
        if peer.is_empty() {
            continue;
        }
        let omem = h.mem.omem.load(std::sync::atomic::Ordering::Relaxed);
        rows.push(LinkRow {
            direction: "from",
            node: peer,
            created_ms: h.created_ms,
            events: if omem > 0 { "rw" } else { "r" },
            allocated: omem,
            used: omem,
        });
    }
    ctx.out.array_len(rows.len());
    for r in rows {
        ctx.out.map_len(6);
        ctx.out.bulk(b"direction");
        ctx.out.bulk(r.direction.as_bytes());
        ctx.out.bulk(b"node");
        ctx.out.bulk(r.node.as_bytes());
        ctx.out.bulk(b"create-time");
        ctx.out.int(r.created_ms as i64);
        ctx.out.bulk(b"events");
        ctx.out.bulk(r.events.as_bytes());
        ctx.out.bulk(b"send-buffer-allocated");
        ctx.out.int(r.allocated as i64);
        ctx.out.bulk(b"send-buffer-used");
        ctx.out.int(r.used as i64);
    }
    Ok(())
}

/// CLUSTER SAVECONFIG: writes the node's cluster state file
/// (`<dir>/nodes.json`: its id and the membership it adopted) now.
pub fn cluster_saveconfig(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let c = cluster(ctx)?;
    let file = crate::cluster::node::NodeFile {
        id: c.id.clone(),
        membership: c.view().membership.clone(),
    };
    crate::cluster::node::save(&c.dir, &file)
        .map_err(|e| CmdError::err(format!("error saving the cluster node config: {e}")))?;
    ctx.out.ok();
    Ok(())
}
