//! memcached requests in the one dispatcher (Dragonfly's `DispatchMC`): the
//! memcached engine (`memcache::Exec`) executes a request as the equivalent
//! store operations, with its flags and CAS; the dispatcher wraps it with
//! the same gate, WATCH signalling, latency metric, INFO commandstats,
//! SLOWLOG and MONITOR as a RESP command. A request shows under its
//! memcached name with an `mc_` prefix (`cmdstat_mc_set`, `"mc_get" "k"`),
//! so it is never mistaken for the RESP command of the same name.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use quanta::Instant;

use super::dispatch::Dispatcher;
use super::shared::McOrigin;
use crate::node::stats::CmdStat;
use crate::node::Node;

/// The memcached verbs the dispatcher keeps books for, in INFO order, with
/// the name they show under (`mc_<verb>`).
pub const MC_VERBS: &[(&str, &str)] = &[
    ("get", "mc_get"),
    ("gets", "mc_gets"),
    ("gat", "mc_gat"),
    ("gats", "mc_gats"),
    ("set", "mc_set"),
    ("add", "mc_add"),
    ("replace", "mc_replace"),
    ("append", "mc_append"),
    ("prepend", "mc_prepend"),
    ("cas", "mc_cas"),
    ("incr", "mc_incr"),
    ("decr", "mc_decr"),
    ("touch", "mc_touch"),
    ("delete", "mc_delete"),
    ("flush_all", "mc_flush_all"),
    ("stats", "mc_stats"),
    ("version", "mc_version"),
    ("verbosity", "mc_verbosity"),
    ("quit", "mc_quit"),
    ("mg", "mc_mg"),
    ("ms", "mc_ms"),
    ("md", "mc_md"),
    ("ma", "mc_ma"),
    ("mn", "mc_mn"),
    ("me", "mc_me"),
];

/// Index in `MC_VERBS` of the verb that starts raw request `raw` (None for
/// an unknown verb: it is answered `ERROR` and not counted, as Redis does
/// not count unknown commands).
pub fn mc_verb(raw: &[u8]) -> Option<usize> {
    let end = raw
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(raw.len());
    // A match compiles to a length switch and word compares, not a scan.
    let verb = match &raw[..end] {
        b"get" => 0,
        b"gets" => 1,
        b"gat" => 2,
        b"gats" => 3,
        b"set" => 4,
        b"add" => 5,
        b"replace" => 6,
        b"append" => 7,
        b"prepend" => 8,
        b"cas" => 9,
        b"incr" => 10,
        b"decr" => 11,
        b"touch" => 12,
        b"delete" => 13,
        b"flush_all" => 14,
        b"stats" => 15,
        b"version" => 16,
        b"verbosity" => 17,
        b"quit" => 18,
        b"mg" => 19,
        b"ms" => 20,
        b"md" => 21,
        b"ma" => 22,
        b"mn" => 23,
        b"me" => 24,
        _ => return None,
    };
    Some(verb)
}

/// The request's words for SLOWLOG and MONITOR: its verb as `mc_<verb>`,
/// then the words of its line and, for a storage request, its data block.
fn mc_args(verb: usize, raw: &[u8]) -> Vec<Bytes> {
    let line_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    let line = raw[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&raw[..line_end]);
    let mut args = vec![Bytes::from_static(MC_VERBS[verb].1.as_bytes())];
    args.extend(
        line.split(|&b| b == b' ')
            .filter(|w| !w.is_empty())
            .skip(1)
            .map(Bytes::copy_from_slice),
    );
    let data = raw.get(line_end + 1..).unwrap_or_default();
    if !data.is_empty() {
        let data = data.strip_suffix(b"\r\n").unwrap_or(data);
        args.push(Bytes::copy_from_slice(data));
    }
    args
}

/// The commandstats slot of memcached verb `verb` (after the table's).
fn stat_slot(verb: usize) -> usize {
    super::command::stat_slots() + verb
}

/// Number of counter slots the node keeps: one per table command and one
/// per memcached verb.
pub fn stat_slots_with_mc() -> usize {
    super::command::stat_slots() + MC_VERBS.len()
}

impl Dispatcher<'_> {
    /// Runs one parsed memcached request (`raw` its bytes, data block
    /// included) with `run`, the memcached engine, under the books every
    /// command gets. The caller holds the gate (`enter`).
    pub fn run_memcached<R>(
        &mut self,
        raw: &[u8],
        origin: McOrigin<'_>,
        run: impl FnOnce() -> R,
    ) -> R {
        let node: &Node = &self.shared().node;
        // memcached writes go to the replicas as their effects (the
        // value with its flags and absolute expiry; see `propagate`).
        let run = || super::propagate::record(node, None, run);
        let Some(verb) = mc_verb(raw) else {
            return node.watches.signal_modified_by(run, |_| true);
        };
        if node.monitors.load(Ordering::Relaxed) > 0 {
            let origin = format!("mc:{}", origin.addr);
            super::observe::monitor_line(node, 0, &origin, &mc_args(verb, raw));
        }
        // A request's time runs from the end of the previous one in this run
        // (its parsing included): one clock read per request.
        let start = self.mc_clock.unwrap_or_else(Instant::now);
        let r = node.watches.signal_modified_by(run, |_| true);
        let end = Instant::now();
        self.mc_clock = Some(end);
        let micros = end.duration_since(start).as_micros() as u64;
        crate::node::stats::observe_command(micros);
        if let Some(stat) = node.cmd_stats.get(stat_slot(verb)) {
            stat.calls.fetch_add(1, Ordering::Relaxed);
            stat.usec.fetch_add(micros, Ordering::Relaxed);
        }
        node.stats
            .commands_processed
            .fetch_add(1, Ordering::Relaxed);
        if crate::node::slowlog::is_slow(micros) {
            let args = mc_args(verb, raw);
            let addr = format!("mc:{}", origin.addr);
            super::observe::push_slowlog(node, origin.now_ms, &args, addr, String::new(), micros);
        }
        r
    }
}

/// The counters of the memcached verbs, as (`mc_<verb>`, counters), for
/// INFO commandstats and the metrics export.
pub fn mc_command_stats(node: &Node) -> impl Iterator<Item = (&'static str, &CmdStat)> {
    MC_VERBS
        .iter()
        .enumerate()
        .filter_map(|(verb, (_, name))| Some((*name, node.cmd_stats.get(stat_slot(verb))?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verbs are recognised by the first word only, unknown ones are not.
    #[test]
    fn verbs_are_the_first_word() {
        assert_eq!(mc_verb(b"get a b\r\n").map(|v| MC_VERBS[v].0), Some("get"));
        assert_eq!(mc_verb(b"mn\r\n").map(|v| MC_VERBS[v].0), Some("mn"));
        assert_eq!(mc_verb(b"gets"), Some(1));
        assert_eq!(mc_verb(b"getx a\r\n"), None);
        assert_eq!(mc_verb(b"GET a\r\n"), None);
        for (i, (verb, name)) in MC_VERBS.iter().enumerate() {
            assert_eq!(mc_verb(verb.as_bytes()), Some(i), "{verb}");
            assert_eq!(*name, format!("mc_{verb}"));
        }
    }

    /// SLOWLOG/MONITOR words: prefixed verb, line words, then the data.
    #[test]
    fn args_show_line_and_data() {
        let v = mc_verb(b"set").expect("set");
        let args = mc_args(v, b"set k 0 0 5\r\nhello\r\n");
        let want: Vec<&[u8]> = vec![b"mc_set", b"k", b"0", b"0", b"5", b"hello"];
        assert_eq!(args.iter().map(|a| &a[..]).collect::<Vec<_>>(), want);
        let v = mc_verb(b"get").expect("get");
        let args = mc_args(v, b"get a  b\r\n");
        let want: Vec<&[u8]> = vec![b"mc_get", b"a", b"b"];
        assert_eq!(args.iter().map(|a| &a[..]).collect::<Vec<_>>(), want);
    }
}
