//! LATENCY LATEST / HISTORY / RESET / HELP over the node's latency monitor
//! (`node::latency`). GRAPH, DOCTOR and HISTOGRAM are not in the table.

use bytes::Bytes;

use super::ctx::{help_reply, Ctx};
use crate::error::CmdResult;

/// LATENCY LATEST
pub fn latency_latest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let latest = ctx.shared.latency.lock().latest();
    ctx.out.array_len(latest.len());
    for l in latest {
        ctx.out.array_len(4);
        ctx.out.bulk(l.event.as_bytes());
        ctx.out.int(l.time as i64);
        ctx.out.int(l.latency as i64);
        ctx.out.int(l.max as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event
pub fn latency_history(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let event = String::from_utf8_lossy(&args[2]);
    let samples = ctx.shared.latency.lock().history(&event);
    ctx.out.array_len(samples.len());
    for (time, latency) in samples {
        ctx.out.array_len(2);
        ctx.out.int(time as i64);
        ctx.out.int(latency as i64);
    }
    Ok(())
}

/// LATENCY RESET [event ...]
pub fn latency_reset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let events: Vec<String> = args[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let n = ctx.shared.latency.lock().reset(&events);
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY HELP
pub fn latency_help(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    help_reply(
        ctx,
        "LATENCY",
        &[
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    );
    Ok(())
}
