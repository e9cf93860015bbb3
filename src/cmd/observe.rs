//! What the dispatcher records of the requests it runs (RESP commands and
//! memcached requests alike): the MONITOR feed and SLOWLOG entries (secrets
//! redacted in both, as Redis does).

use std::fmt::Write as _;

use bytes::Bytes;

use super::ctx::{is, Ctx};
use crate::node::slowlog::SlowEntry;
use crate::node::Node;

/// Records a command in SLOWLOG when it ran longer than the threshold.
pub fn maybe_slowlog(ctx: &Ctx<'_>, args: &[Bytes], micros: u64) {
    if !crate::node::slowlog::is_slow(micros) {
        return;
    }
    let h = &ctx.client.handle;
    let name = h.meta.lock().name.clone();
    push_slowlog(
        &ctx.shared.node,
        ctx.now_ms,
        args,
        h.addr.to_string(),
        name,
        micros,
    );
}

/// Adds a SLOWLOG entry for a request that ran `micros` (secrets redacted),
/// from the client at `addr` named `name`.
pub fn push_slowlog(
    node: &Node,
    now_ms: u64,
    args: &[Bytes],
    addr: String,
    name: String,
    micros: u64,
) {
    let max_len = node.config.read().slowlog_max_len;
    let entry = SlowEntry {
        id: 0,
        time: now_ms / 1000,
        micros,
        args: args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if is_secret_arg(args, i) {
                    Bytes::from_static(b"(redacted)")
                } else {
                    a.clone()
                }
            })
            .collect(),
        addr,
        name,
    };
    node.slowlog.lock().push(entry, max_len as usize);
}

/// True for arguments Redis redacts from MONITOR: every AUTH argument and
/// the username/password after HELLO's AUTH option.
fn is_secret_arg(args: &[Bytes], i: usize) -> bool {
    if is(&args[0], "auth") {
        return i >= 1;
    }
    if is(&args[0], "hello") {
        let mut j = 2;
        while j < args.len() {
            if is(&args[j], "auth") && j + 2 < args.len() {
                if i == j + 1 || i == j + 2 {
                    return true;
                }
                j += 3;
            } else {
                j += 2;
            }
        }
    }
    false
}

/// Sends a command to the MONITOR clients, formatted as Redis does.
pub fn feed_monitor(ctx: &Ctx<'_>, args: &[Bytes]) {
    let origin = ctx.client.handle.addr.to_string();
    monitor_line(&ctx.shared.node, ctx.client.db, &origin, args);
}

/// Sends one MONITOR line (`+<time> [<db> <origin>] "arg" ...`, arguments
/// escaped and secrets redacted as Redis does) to the MONITOR clients.
pub fn monitor_line(node: &Node, db: usize, origin: &str, args: &[Bytes]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        db,
        origin
    );
    for (i, a) in args.iter().enumerate() {
        if is_secret_arg(args, i) {
            line.push_str(" \"(redacted)\"");
            continue;
        }
        line.push_str(" \"");
        for &b in a.iter() {
            match b {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                7 => line.push_str("\\a"),
                8 => line.push_str("\\b"),
                0x20..=0x7e => line.push(b as char),
                _ => {
                    let _ = write!(line, "\\x{b:02x}");
                }
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    let _ = node.monitor.send(Bytes::from(line));
}
