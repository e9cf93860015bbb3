//! Request routing in cluster mode.
//!
//! [`decide`] runs inside `cmd::dispatch::execute` (synchronously, no lock held) and
//! uses the command table's key positions to find the slots a command touches:
//!
//! - every key on this node: run here;
//! - one slot owned elsewhere: `-MOVED slot host:port` when `cluster-redirect`
//!   is on (or inside MULTI), else a [`Forwarding::Forward`] to the owner
//!   (SSUBSCRIBE/SUNSUBSCRIBE always get `-MOVED`: a subscription cannot be proxied);
//! - keys in several slots: MGET/MSET/DEL/UNLINK/EXISTS/TOUCH become a
//!   [`Forwarding::Split`] (one sub-command per owner, replies joined) unless all keys
//!   are local; any other command gets `-CROSSSLOT`;
//! - a slot mid-migration (`migrate::SlotState`): migrating ones run here,
//!   importing ones go to the source, paused ones wait ([`Forwarding::Hold`]),
//!   moved ones go to the owner, dropped imports to their source.
//!
//! Before any of this, the lease fence ([`lease_fence`]): a node that does
//! not hold its majority lease (`cluster::lease`) at this instant serves no
//! request with a key, proxied ones included (`-CLUSTERDOWN The cluster is
//! down`), and slots taken from a removed owner wait for that node's lease
//! to expire (`-TRYAGAIN` meanwhile, see `cluster::Takeover`).
//!
//! The decision is pure (the view, the slot states, the lease); the
//! forwarding shell that carries it out (send now, collect later, hold,
//! split and join) is `server::forward`, one for both protocols. See
//! [`target`] for how disagreeing views are kept from bouncing a request.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::migrate::plan::SlotState;
use super::{Cluster, Owner, View};
use crate::error::CmdError;

/// How the replies of a split command are joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// MGET: values put back in key order.
    Values,
    /// MSET: `+OK` when every part said OK.
    Ok,
    /// DEL/UNLINK/EXISTS/TOUCH: sum of the integer replies.
    Sum,
}

/// How a command that does not run here travels.
#[derive(Debug)]
pub enum Forwarding {
    /// Send the command to the owner and relay its reply unchanged.
    Forward(SocketAddr),
    /// Run one sub-command per owner and join the replies.
    Split {
        /// How to join.
        join: Join,
        /// Per owner (`None`: this node): the argument indexes of its keys.
        groups: Vec<(Option<SocketAddr>, Vec<usize>)>,
        /// Arguments per key (2 for MSET's key/value pairs).
        span: usize,
    },
    /// Wait until the slot's route is settled (a slot paused for its
    /// migration flip, or a proxied request while views disagree), then route.
    Hold,
}

/// A routed command, handed from `cmd::dispatch::execute` to the connection loop.
#[derive(Debug)]
pub struct RoutedCommand {
    /// Where it goes.
    pub route: Forwarding,
    /// The full command (name at 0).
    pub args: Vec<Bytes>,
    /// Its reply is dropped (CLIENT REPLY OFF or SKIP).
    pub silent: bool,
}

/// What `execute` must do with a command.
#[derive(Debug)]
pub enum Decision {
    /// Run it here.
    Local,
    /// Answer this error.
    Reject(CmdError),
    /// Hand it to the connection loop.
    Route(Forwarding),
}

fn moved(slot: u16, addr: &str) -> CmdError {
    CmdError::Other(format!("MOVED {slot} {addr}"))
}

fn crossslot() -> CmdError {
    CmdError::Other("CROSSSLOT Keys in request don't hash to the same slot".into())
}

fn down() -> CmdError {
    CmdError::Other("CLUSTERDOWN Hash slot not served".into())
}

/// What the routing core needs to know of a command besides its keys (read
/// from its table row by the dispatcher).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Keys spread over several owners are split per owner and the replies
    /// joined this way; the `usize` is the arguments per key (2 for MSET).
    pub split: Option<(Join, usize)>,
    /// Bound to the client's connection (a subscription): answered `-MOVED`
    /// for another node's slot, never proxied.
    pub redirect_only: bool,
}

/// The routing context of one command.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteContext {
    /// `cluster-redirect yes`: answer `-MOVED` instead of forwarding.
    pub redirect: bool,
    /// Queued inside MULTI (transactions run on one node).
    pub in_multi: bool,
    /// Arrived on a peer's proxy connection.
    pub proxied: bool,
    /// A held request waited long enough: forward it by this node's view.
    pub patient: bool,
}

/// Where one slot's requests go from this node.
enum Target<'v> {
    Local,
    /// Another node: its `host:port` (for `-MOVED`) and socket address.
    Remote(Cow<'v, str>, SocketAddr),
    /// Wait and decide again (slot paused for its flip, views disagree, or
    /// the node holding the slot is not known here yet).
    Hold,
    Down,
}

/// The route of `slot`, migration states first (see `migrate::SlotState`).
///
/// A proxied request is normally executed here: the sender routed it by its
/// view. When this node's view says another node serves the slot and no
/// migration state explains it, the two views disagree (one node adopted a
/// membership the other has not yet): the request is held until this view
/// changes or for [`PATIENCE`], then forwarded, so no request runs on a node
/// without the slot's data and two nodes never bounce a request quickly.
fn target(view: &View, slot: u16, context: RouteContext) -> Target<'_> {
    let by_map = |hold_if_proxied: bool| match view.owner(slot) {
        Owner::Local => Target::Local,
        // A peer whose view makes this node a member routed it here, but this
        // node is no member of its own view yet (a newcomer that lags): it
        // waits for its view however long (<= 5 s), as forwarding by the
        // stale view would bounce the request back.
        Owner::Remote(..) | Owner::Down
            if hold_if_proxied && context.proxied && (!context.patient || view.me.is_none()) =>
        {
            Target::Hold
        }
        Owner::Remote(text, addr) => Target::Remote(Cow::Borrowed(text), addr),
        // Not gossiped yet (a node that just joined): wait for its address.
        Owner::Unknown => Target::Hold,
        // A peer routed it here but this node has no ring yet (it joined
        // and has not adopted a membership): wait for it.
        Owner::Down if context.proxied => Target::Hold,
        Owner::Down => Target::Down,
    };
    // Taken from a removed owner whose lease may not have expired yet.
    if let Some(t) = &view.takeover {
        if t.waits(slot, std::time::Instant::now()) {
            return Target::Hold;
        }
    }
    // No migration (the common case): no hashing of the slot.
    let state = if view.states.is_empty() {
        None
    } else {
        view.states.get(&slot)
    };
    match state {
        Some(SlotState::Migrating) => Target::Local,
        Some(SlotState::Paused) => Target::Hold,
        Some(SlotState::Importing(src)) => match view.addr_of(src) {
            Some((text, addr)) => Target::Remote(Cow::Owned(text), addr),
            // The holder is not known here yet: never serve without the data.
            None => Target::Hold,
        },
        Some(SlotState::Moved) => by_map(false),
        // Follow the data while the source hands it to the new owner.
        Some(SlotState::Dropped(src)) => match view.addr_of(src).filter(|_| view.is_alive(src)) {
            Some((text, addr)) => Target::Remote(Cow::Owned(text), addr),
            None => by_map(false),
        },
        None => by_map(true),
    }
}

/// How long a proxied request is held when views disagree before it is forwarded.
pub const PATIENCE: Duration = Duration::from_millis(300);
/// How long a request waits for a paused slot (or a holder whose address is
/// not known yet) before `-TRYAGAIN`.
pub(crate) const HOLD_LIMIT: Duration = Duration::from_secs(5);
/// How often a held request decides its route again.
pub(crate) const HOLD_STEP: Duration = Duration::from_millis(2);

/// Where a memcached request for `slot` runs, by the same migration states
/// as a RESP command's (after [`lease_fence`]; `server::forward` carries it out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRoute<'v> {
    /// On this node.
    Local,
    /// On another node: its `host:port` (borrowed from the view when it can
    /// be: no allocation per request) and socket address.
    Remote(Cow<'v, str>, SocketAddr),
    /// Wait and decide again (a flip pause, an unknown holder, a lagging view).
    Hold,
    /// Nobody serves the slot.
    Down,
}

/// The route of a memcached request for `slot`; `proxied` when a peer sent
/// it (it then waits rather than bounce while this node's view lags).
pub fn slot_route(view: &View, slot: u16, proxied: bool) -> SlotRoute<'_> {
    let context = RouteContext {
        proxied,
        patient: true,
        ..RouteContext::default()
    };
    match target(view, slot, context) {
        Target::Local => SlotRoute::Local,
        Target::Remote(text, addr) => SlotRoute::Remote(text, addr),
        Target::Hold => SlotRoute::Hold,
        Target::Down => SlotRoute::Down,
    }
}

/// `-TRYAGAIN`: the slot is being migrated (or its route is not settled).
pub fn tryagain() -> CmdError {
    CmdError::Other("TRYAGAIN Slot is being migrated, try again".into())
}

/// `Ok` when this node serves `slot` now (a request for it may run here);
/// else the error that sends the requester on: `-MOVED slot host:port`,
/// `-TRYAGAIN` (wait and decide again) or `-CLUSTERDOWN`. Used by the
/// memcached proxy's receiving side, where only the requester forwards.
pub fn serve_here(view: &View, slot: u16, proxied: bool) -> Result<(), CmdError> {
    match slot_route(view, slot, proxied) {
        SlotRoute::Local => Ok(()),
        SlotRoute::Remote(text, _) => Err(moved(slot, &text)),
        SlotRoute::Hold => Err(tryagain()),
        SlotRoute::Down => Err(down()),
    }
}

/// `-TRYAGAIN` for a peer's request while this node does not hold its
/// lease: the requester waits and decides again (a newcomer gets its lease
/// moments after it adopted the membership that routes requests to it).
pub fn no_lease_yet() -> CmdError {
    CmdError::Other("TRYAGAIN This node does not hold its cluster lease, try again".into())
}

/// `-CLUSTERDOWN The cluster is down`: this node does not hold its lease.
pub fn cluster_down() -> CmdError {
    CmdError::Other("CLUSTERDOWN The cluster is down".into())
}

/// The lease fence of every request with a key, both protocols, direct and
/// proxied alike ([`decide`], the memcached proxy on both sides, EXEC,
/// scripts, blocked pops): a node that does not hold its majority lease
/// now (monotonic clock, `cluster::lease`) serves none of them. A proxied
/// request is fenced by the receiver's own lease, not its sender's.
pub fn lease_fence(cluster: &Cluster) -> Result<(), CmdError> {
    if cluster.lease.holds() {
        Ok(())
    } else {
        Err(cluster_down())
    }
}

/// Routes one command (see the module documentation).
pub fn decide(
    cluster: &Cluster,
    shape: Shape,
    positions: &[usize],
    args: &[Bytes],
    context: RouteContext,
) -> Decision {
    let Some(&first) = positions.first() else {
        return Decision::Local;
    };
    if let Err(e) = lease_fence(cluster) {
        // A peer routed it here by a view in which this node serves the
        // slot: this node may have just adopted that view and be about to
        // get its lease (a newcomer), so it waits (then `-CLUSTERDOWN`).
        return if context.proxied && !context.in_multi {
            Decision::Route(Forwarding::Hold)
        } else {
            Decision::Reject(e)
        };
    }
    let slot = crate::store::key_slot(&args[first]);
    let single = positions
        .iter()
        .all(|&p| crate::store::key_slot(&args[p]) == slot);
    let view = cluster.view();
    // A subscription lives on the client's own connection: always redirect.
    let redirect =
        (!context.proxied && (context.redirect || context.in_multi)) || shape.redirect_only;
    let hold = || {
        if context.in_multi {
            Decision::Reject(tryagain())
        } else {
            Decision::Route(Forwarding::Hold)
        }
    };
    if single {
        return match target(&view, slot, context) {
            Target::Local => Decision::Local,
            Target::Remote(text, addr) => {
                if redirect {
                    Decision::Reject(moved(slot, &text))
                } else {
                    if context.proxied {
                        tracing::trace!(slot, %addr, epoch = view.membership.epoch, state = ?view.states.get(&slot), patient = context.patient, "forwarding a proxied request");
                    }
                    Decision::Route(Forwarding::Forward(addr))
                }
            }
            Target::Hold => hold(),
            Target::Down => Decision::Reject(down()),
        };
    }
    let Some((join, span)) = shape.split else {
        return Decision::Reject(crossslot());
    };
    if !(args.len() - 1).is_multiple_of(span) {
        // Malformed (MSET with a key but no value): the handler answers it.
        return Decision::Local;
    }
    let mut groups: Vec<(Option<SocketAddr>, Vec<usize>)> = Vec::new();
    for &p in positions {
        let to = match target(&view, crate::store::key_slot(&args[p]), context) {
            Target::Local => None,
            Target::Remote(_, addr) => Some(addr),
            Target::Hold => return hold(),
            Target::Down => return Decision::Reject(down()),
        };
        match groups.iter_mut().find(|g| g.0 == to) {
            Some(g) => g.1.push(p),
            None => groups.push((to, vec![p])),
        }
    }
    if groups.len() == 1 && groups[0].0.is_none() {
        return Decision::Local;
    }
    if redirect {
        return Decision::Reject(crossslot());
    }
    Decision::Route(Forwarding::Split { join, groups, span })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::cluster::membership::Membership;
    use crate::cluster::NodeInfo;

    fn node(id: &str, port: u16) -> NodeInfo {
        NodeInfo {
            id: id.to_string(),
            host: "127.0.0.1".into(),
            port,
            bus_port: port + 10000,
            alive: true,
            weight: 1,
            last_seen_ms: 0,
        }
    }

    /// A slot whose holder's address is not gossiped yet waits (then
    /// `-TRYAGAIN`), it is never served here nor failed at once.
    #[test]
    fn unknown_holder_holds_requests() {
        let (me, other, third) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let membership = Membership {
            epoch: 2,
            members: [(me.clone(), 1), (other.clone(), 1)].into(),
            by: me.clone(),
            ..Membership::default()
        };
        let mut view = View::new(&me, membership, vec![node(&me, 7000)], None);
        let context = RouteContext::default();
        let slot_of = |mine: bool| {
            (0..crate::store::SLOTS as u16)
                .find(|&s| (view.map.owner_id(s) == Some(me.as_str())) == mine)
                .expect("slot")
        };
        let (theirs, mine) = (slot_of(false), slot_of(true));
        assert!(matches!(target(&view, theirs, context), Target::Hold));
        // No ring yet (a newcomer): clients are told at once, peers wait.
        let empty = View::new(&me, Membership::default(), vec![node(&me, 7000)], None);
        assert!(matches!(target(&empty, 0, context), Target::Down));
        let proxied = RouteContext {
            proxied: true,
            patient: true,
            ..context
        };
        assert!(matches!(target(&empty, 0, proxied), Target::Hold));
        // A member forwards a patient proxied request by its map; a node
        // that is no member of its own view (a lagging newcomer) keeps it.
        let nodes = vec![node(&me, 7000), node(&other, 7001)];
        let member = View::new(&me, view.membership.clone(), nodes.clone(), None);
        assert!(matches!(
            target(&member, theirs, proxied),
            Target::Remote(..)
        ));
        let outsider = View::new(&third, view.membership.clone(), nodes, None);
        assert!(matches!(target(&outsider, theirs, proxied), Target::Hold));
        assert!(matches!(target(&view, mine, context), Target::Local));
        view.states = Arc::new(HashMap::from([(mine, SlotState::Importing(third.clone()))]));
        assert!(matches!(target(&view, mine, context), Target::Hold));
        // Once gossiped: forwarded.
        view.nodes.push(node(&third, 7002));
        assert!(matches!(target(&view, mine, context), Target::Remote(..)));
    }
}
