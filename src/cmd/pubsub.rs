//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and
//! PUBSUB introspection. Delivery itself lives in `server::pubsub`.

use bytes::Bytes;

use super::ctx::help_reply;
use super::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::node::pubsub::{Kind, Subscriptions};
use crate::resp::Reply;

/// One `[verb, name, count]` confirmation (a push frame in RESP3).
fn confirm(out: &mut Reply, verb: &[u8], name: Option<&[u8]>, count: usize) {
    out.push_len(3);
    out.bulk(verb);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn subscribe_to(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let hub = &ctx.shared.pubsub;
    let handle = &ctx.client.handle;
    let subs = ctx
        .client
        .pubsub
        .get_or_insert_with(|| Box::new(Subscriptions::new(handle.clone())));
    for name in &args[1..] {
        subs.add(hub, kind, name);
        let count = subs.reply_count(kind);
        confirm(ctx.out, kind.subscribe_verb(), Some(name), count);
    }
    subs.publish_counts();
    Ok(())
}

fn unsubscribe_from(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    let hub = &ctx.shared.pubsub;
    let Some(subs) = ctx.client.pubsub.as_mut() else {
        let names = &args[1..];
        if names.is_empty() {
            confirm(ctx.out, kind.unsubscribe_verb(), None, 0);
        }
        for n in names {
            confirm(ctx.out, kind.unsubscribe_verb(), Some(n), 0);
        }
        return Ok(());
    };
    let names = if args.len() == 1 {
        subs.names(kind)
    } else {
        args[1..].to_vec()
    };
    if names.is_empty() {
        confirm(
            ctx.out,
            kind.unsubscribe_verb(),
            None,
            subs.reply_count(kind),
        );
    }
    for name in &names {
        subs.remove(hub, kind, name);
        confirm(
            ctx.out,
            kind.unsubscribe_verb(),
            Some(name),
            subs.reply_count(kind),
        );
    }
    subs.publish_counts();
    Ok(())
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Channel)
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Pattern)
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
pub fn ssubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe_to(ctx, args, Kind::Shard)
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Channel)
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Pattern)
}

/// SUNSUBSCRIBE [shardchannel ...]
pub fn sunsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe_from(ctx, args, Kind::Shard)
}

/// PUBLISH channel message. In a cluster the message also goes to every
/// other node (`cluster::fanout`) unless it is a peer's fan-out (a plain
/// PUBLISH on a proxied connection; one run by a script proxied to this node
/// still fans out); the reply counts this node's receivers, as in Redis Cluster.
pub fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .shared
        .pubsub
        .publish(ctx.shared, false, &args[1], &args[2]);
    let from_fanout = ctx.client.proxied && !ctx.exclusive;
    if !from_fanout {
        if let Some(c) = ctx.shared.cluster.get() {
            crate::cluster::fanout::publish(&ctx.shared.node, c, &args[1], &args[2]);
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// SPUBLISH shardchannel message (routed to the slot's owner by the command
/// table's key position, like any keyed command).
pub fn spublish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .shared
        .pubsub
        .publish(ctx.shared, true, &args[1], &args[2]);
    ctx.out.int(n);
    Ok(())
}

fn list_channels(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[1])
        )));
    }
    let names = ctx
        .shared
        .pubsub
        .channels(kind, args.get(2).map(|p| p.as_ref()));
    ctx.out.bulks(names.iter());
    Ok(())
}

fn count_subscribers(ctx: &mut Ctx<'_>, args: &[Bytes], kind: Kind) -> CmdResult {
    ctx.out.array_len((args.len() - 2) * 2);
    for ch in &args[2..] {
        ctx.out.bulk(ch);
        ctx.out.int(ctx.shared.pubsub.numsub(kind, ch) as i64);
    }
    Ok(())
}

/// PUBSUB CHANNELS [pattern]
pub fn pubsub_channels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(ctx, args, Kind::Channel)
}

/// PUBSUB SHARDCHANNELS [pattern]
pub fn pubsub_shardchannels(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    list_channels(ctx, args, Kind::Shard)
}

/// PUBSUB NUMSUB [channel ...]
pub fn pubsub_numsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, args, Kind::Channel)
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
pub fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, args, Kind::Shard)
}

/// PUBSUB NUMPAT
pub fn pubsub_numpat(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.shared.pubsub.count(Kind::Pattern) as i64);
    Ok(())
}

/// PUBSUB HELP
pub fn pubsub_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}
