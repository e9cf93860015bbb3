//! Redis 7.0 parameters that ringcache accepts and remembers but does not act
//! on (persistence, replication of the Redis kind, TLS, defragmentation, ...).
//!
//! Test harnesses and client libraries set them before every run (`CONFIG SET
//! save ""`, `appendonly no`, `notify-keyspace-events`, ...) and stop at the
//! first refusal. So every parameter Redis 7.0.15 knows is here with Redis'
//! default, its validation and its error texts (read from a live redis-server
//! 7.0.15: names, defaults, which ones `CONFIG SET` refuses, and the reason
//! texts for bad values), and CONFIG GET returns what was set, normalised as
//! Redis does. None of them changes what the node does (but
//! `notify-keyspace-events`, which the node acts on: `store::notify`, and
//! `latency-tracking` / `latency-tracking-info-percentiles`, read by the
//! latency histograms: `node::latency_histogram`, INFO latencystats, and
//! `tracking-table-max-keys`: `node::tracking`); README ("Configuration")
//! says so.

use crate::util::parse_memory;

/// How a stored parameter's value is checked and normalised.
#[derive(Clone, Copy, Debug)]
pub enum StoredKind {
    /// `yes` / `no`.
    Bool,
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// A memory value (`1kb`, `5mb`, bytes); shown in bytes.
    Mem,
    /// A memory value or a percentage (`maxmemory-clients`).
    MemOrPercent,
    /// One of a fixed set of words (case-insensitive, shown as listed).
    Enum(&'static [&'static str]),
    /// Any text.
    Text,
    /// `save`: pairs of seconds and changes, or empty.
    Save,
    /// `oom-score-adj-values`: three integers in -2000..=2000.
    OomScoreAdjValues,
    /// `latency-tracking-info-percentiles`: numbers in 0..=100.
    Percentiles,
    /// `proc-title-template`: Redis' `sdstemplate` syntax with its variables.
    ProcTitle,
    /// `notify-keyspace-events`: event class characters.
    KeyspaceEvents,
    /// Set at start-up only.
    Immutable,
    /// Set at run time only when `enable-protected-configs` allows it.
    Protected,
}

/// One remembered Redis parameter.
#[derive(Debug)]
pub struct StoredParam {
    /// redis.conf name.
    pub name: &'static str,
    /// Redis 7.0's default.
    pub default: &'static str,
    /// Validation and normalisation.
    pub kind: StoredKind,
}

const fn stored(name: &'static str, default: &'static str, kind: StoredKind) -> StoredParam {
    StoredParam {
        name,
        default,
        kind,
    }
}

use StoredKind::*;

/// Every remembered parameter, by name.
pub static STORED_PARAMS: &[StoredParam] = &[
    stored(
        "acl-pubsub-default",
        "resetchannels",
        Enum(&["allchannels", "resetchannels"]),
    ),
    stored("aclfile", "", Immutable),
    stored("acllog-max-len", "128", Int(0, i64::MAX)),
    stored("active-defrag-cycle-max", "25", Int(1, 99)),
    stored("active-defrag-cycle-min", "1", Int(1, 99)),
    stored("active-defrag-ignore-bytes", "104857600", Mem),
    stored("active-defrag-max-scan-fields", "1000", Int(1, i64::MAX)),
    stored("active-defrag-threshold-lower", "10", Int(0, 1000)),
    stored("active-defrag-threshold-upper", "100", Int(0, 1000)),
    stored("active-expire-effort", "1", Int(1, 10)),
    stored("activedefrag", "no", Bool),
    stored("activerehashing", "yes", Bool),
    stored("always-show-logo", "no", Immutable),
    stored("aof-disable-auto-gc", "no", Bool),
    stored("aof-load-truncated", "yes", Bool),
    stored("aof-rewrite-incremental-fsync", "yes", Bool),
    stored("aof-timestamp-enabled", "no", Bool),
    stored("aof-use-rdb-preamble", "yes", Bool),
    stored("aof_rewrite_cpulist", "", Immutable),
    stored("appenddirname", "appendonlydir", Immutable),
    stored("appendfilename", "appendonly.aof", Immutable),
    stored(
        "appendfsync",
        "everysec",
        Enum(&["everysec", "always", "no"]),
    ),
    stored("appendonly", "no", Bool),
    stored("auto-aof-rewrite-min-size", "67108864", Mem),
    stored("auto-aof-rewrite-percentage", "100", Int(0, 2147483647)),
    stored("bgsave_cpulist", "", Immutable),
    stored("bind-source-addr", "", Text),
    stored("bio_cpulist", "", Immutable),
    stored("cluster-allow-pubsubshard-when-down", "yes", Bool),
    stored("cluster-allow-reads-when-down", "no", Bool),
    stored("cluster-allow-replica-migration", "yes", Bool),
    stored("cluster-announce-bus-port", "0", Int(0, 65535)),
    stored("cluster-announce-hostname", "", Text),
    stored("cluster-announce-port", "0", Int(0, 65535)),
    stored("cluster-announce-tls-port", "0", Int(0, 65535)),
    stored("cluster-config-file", "nodes.conf", Immutable),
    stored("cluster-link-sendbuf-limit", "0", Mem),
    stored("cluster-migration-barrier", "1", Int(0, 2147483647)),
    stored(
        "cluster-preferred-endpoint-type",
        "ip",
        Enum(&["ip", "hostname", "unknown-endpoint"]),
    ),
    stored("cluster-replica-no-failover", "no", Bool),
    stored("cluster-replica-validity-factor", "10", Int(0, 2147483647)),
    stored("cluster-require-full-coverage", "yes", Bool),
    stored("cluster-slave-no-failover", "no", Bool),
    stored("cluster-slave-validity-factor", "10", Int(0, 2147483647)),
    stored("crash-log-enabled", "yes", Bool),
    stored("crash-memcheck-enabled", "yes", Bool),
    stored("dbfilename", "dump.rdb", Protected),
    stored("disable-thp", "yes", Immutable),
    stored("dynamic-hz", "yes", Bool),
    stored("enable-module-command", "no", Immutable),
    stored("ignore-warnings", "", Text),
    stored("io-threads-do-reads", "no", Immutable),
    stored("jemalloc-bg-thread", "yes", Bool),
    stored("latency-tracking", "yes", Bool),
    stored(
        "latency-tracking-info-percentiles",
        "50 99 99.9",
        Percentiles,
    ),
    stored("lazyfree-lazy-eviction", "no", Bool),
    stored("lazyfree-lazy-expire", "no", Bool),
    stored("lazyfree-lazy-server-del", "no", Bool),
    stored("lazyfree-lazy-user-del", "no", Bool),
    stored("lazyfree-lazy-user-flush", "no", Bool),
    stored("list-compress-depth", "0", Int(0, 2147483647)),
    stored("logfile", "", Immutable),
    stored("masterauth", "", Text),
    stored("masteruser", "", Text),
    stored("maxmemory-clients", "0", MemOrPercent),
    stored("maxmemory-eviction-tenacity", "10", Int(0, 100)),
    stored("min-replicas-max-lag", "10", Int(0, 2147483647)),
    stored("min-replicas-to-write", "0", Int(0, 2147483647)),
    stored("min-slaves-max-lag", "10", Int(0, 2147483647)),
    stored("min-slaves-to-write", "0", Int(0, 2147483647)),
    stored("no-appendfsync-on-rewrite", "no", Bool),
    stored("notify-keyspace-events", "", KeyspaceEvents),
    stored(
        "oom-score-adj",
        "no",
        Enum(&["no", "yes", "relative", "absolute"]),
    ),
    stored("oom-score-adj-values", "0 200 800", OomScoreAdjValues),
    stored("pidfile", "", Immutable),
    stored(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        ProcTitle,
    ),
    stored(
        "propagation-error-behavior",
        "ignore",
        Enum(&["ignore", "panic", "panic-on-replicas"]),
    ),
    stored("rdb-del-sync-files", "no", Bool),
    stored("rdb-save-incremental-fsync", "yes", Bool),
    stored("rdbchecksum", "yes", Immutable),
    stored("rdbcompression", "yes", Bool),
    stored("repl-backlog-size", "1048576", Mem),
    stored("repl-backlog-ttl", "3600", Int(0, i64::MAX)),
    stored("repl-disable-tcp-nodelay", "no", Bool),
    stored(
        "repl-diskless-load",
        "disabled",
        Enum(&["disabled", "on-empty-db", "swapdb"]),
    ),
    stored("repl-diskless-sync", "yes", Bool),
    stored("repl-diskless-sync-delay", "5", Int(0, 2147483647)),
    stored("repl-diskless-sync-max-replicas", "0", Int(0, 2147483647)),
    stored("repl-ping-replica-period", "10", Int(1, 2147483647)),
    stored("repl-ping-slave-period", "10", Int(1, 2147483647)),
    stored("repl-timeout", "60", Int(1, 2147483647)),
    stored("replica-announce-ip", "", Text),
    stored("replica-announce-port", "0", Int(0, 65535)),
    stored("replica-announced", "yes", Bool),
    stored("replica-ignore-disk-write-errors", "no", Bool),
    stored("replica-ignore-maxmemory", "yes", Bool),
    stored("replica-lazy-flush", "no", Bool),
    stored("replica-priority", "100", Int(0, 2147483647)),
    stored("replica-read-only", "yes", Bool),
    stored("replica-serve-stale-data", "yes", Bool),
    stored("replicaof", "", Immutable),
    stored("save", "", Save),
    stored("server_cpulist", "", Immutable),
    stored("set-proc-title", "yes", Immutable),
    stored(
        "shutdown-on-sigint",
        "default",
        Enum(&["default", "save", "nosave", "now", "force"]),
    ),
    stored(
        "shutdown-on-sigterm",
        "default",
        Enum(&["default", "save", "nosave", "now", "force"]),
    ),
    stored("shutdown-timeout", "10", Int(0, 2147483647)),
    stored("slave-announce-ip", "", Text),
    stored("slave-announce-port", "0", Int(0, 65535)),
    stored("slave-ignore-maxmemory", "yes", Bool),
    stored("slave-lazy-flush", "no", Bool),
    stored("slave-priority", "100", Int(0, 2147483647)),
    stored("slave-read-only", "yes", Bool),
    stored("slave-serve-stale-data", "yes", Bool),
    stored("slaveof", "", Immutable),
    stored("socket-mark-id", "0", Immutable),
    stored("stop-writes-on-bgsave-error", "yes", Bool),
    stored("stream-node-max-bytes", "4096", Mem),
    stored("stream-node-max-entries", "100", Int(0, i64::MAX)),
    stored("supervised", "no", Immutable),
    stored("syslog-enabled", "no", Immutable),
    stored("syslog-facility", "local0", Immutable),
    stored("syslog-ident", "redis", Immutable),
    stored("tcp-backlog", "511", Immutable),
    stored("tcp-keepalive", "300", Int(0, 2147483647)),
    stored("tls-auth-clients", "yes", Enum(&["no", "yes", "optional"])),
    stored("tls-ca-cert-dir", "", Text),
    stored("tls-ca-cert-file", "", Text),
    stored("tls-cert-file", "", Text),
    stored("tls-ciphers", "", Text),
    stored("tls-ciphersuites", "", Text),
    stored("tls-client-cert-file", "", Text),
    stored("tls-client-key-file", "", Text),
    stored("tls-client-key-file-pass", "", Text),
    stored("tls-cluster", "no", Bool),
    stored("tls-dh-params-file", "", Text),
    stored("tls-key-file", "", Text),
    stored("tls-key-file-pass", "", Text),
    stored("tls-port", "0", Int(0, 65535)),
    stored("tls-prefer-server-ciphers", "no", Bool),
    stored("tls-protocols", "", Text),
    stored("tls-replication", "no", Bool),
    stored("tls-session-cache-size", "20480", Int(0, 2147483647)),
    stored("tls-session-cache-timeout", "300", Int(0, 2147483647)),
    stored("tls-session-caching", "yes", Bool),
    stored("tracking-table-max-keys", "1000000", Int(0, i64::MAX)),
    stored("unixsocket", "", Immutable),
    stored("unixsocketperm", "0", Immutable),
];

/// Finds a remembered parameter by (case-insensitive) name. The `slave`
/// spellings are Redis' aliases of the `replica` ones and share their value,
/// so they resolve to the `replica` row.
pub fn find_stored(name: &str) -> Option<&'static StoredParam> {
    let lower = name.to_ascii_lowercase();
    let canonical = if lower == "slaveof" {
        "replicaof".to_string()
    } else {
        lower.replace("slave", "replica")
    };
    STORED_PARAMS.iter().find(|p| p.name == canonical)
}

/// The names under which CONFIG GET lists `p` (itself and its `slave` alias).
pub fn stored_names(p: &StoredParam) -> Vec<String> {
    let mut names = vec![p.name.to_string()];
    let alias = if p.name == "replicaof" {
        "slaveof".to_string()
    } else {
        p.name.replace("replica", "slave")
    };
    if alias != p.name {
        names.push(alias);
    }
    names
}

/// The keyspace event classes in Redis' order (`keyspaceEventsFlagsToString`).
const EVENT_CLASSES: &[u8] = b"g$lshzxetdn";
/// The classes `A` stands for (all but `n`ew-key and key-`m`iss).
const EVENT_ALL: &[u8] = b"g$lshzxetd";

impl StoredParam {
    /// Checks `v` and returns what CONFIG GET will show, or Redis' reason
    /// text for refusing it.
    pub fn normalise(&self, v: &str) -> Result<String, String> {
        match self.kind {
            Bool => match v.to_ascii_lowercase().as_str() {
                "yes" => Ok("yes".into()),
                "no" => Ok("no".into()),
                _ => Err("argument must be 'yes' or 'no'".into()),
            },
            Int(min, max) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                if n < min || n > max {
                    return Err(format!(
                        "argument must be between {min} and {max} inclusive"
                    ));
                }
                Ok(n.to_string())
            }
            Mem => memory(v).ok_or_else(|| "argument must be a memory value".into()),
            MemOrPercent => match v.strip_suffix('%') {
                Some(p) => match p.parse::<i64>() {
                    Ok(n) if (0..=100).contains(&n) => Ok(format!("{n}%")),
                    Ok(n) if n > 100 => {
                        Err("percentage argument must be less or equal to 100".into())
                    }
                    _ => Err("argument must be a memory or percent value".into()),
                },
                None => {
                    memory(v).ok_or_else(|| "argument must be a memory or percent value".into())
                }
            },
            Enum(words) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(v))
                .map(|w| w.to_string())
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        words.join(", ")
                    )
                }),
            Text | Immutable | Protected => Ok(v.to_string()),
            Save => {
                // Redis splits on single spaces: a doubled one is an empty,
                // invalid argument.
                let parts: Vec<&str> = if v.is_empty() {
                    Vec::new()
                } else {
                    v.split(' ').collect()
                };
                let numbers = parts.iter().all(|p| p.parse::<i64>().is_ok());
                if !parts.len().is_multiple_of(2) || !numbers {
                    return Err("Invalid save parameters".into());
                }
                Ok(parts.join(" "))
            }
            OomScoreAdjValues => {
                let parts: Vec<&str> = v.split_whitespace().collect();
                if parts.len() != 3 {
                    return Err("wrong number of arguments".into());
                }
                let mut out = Vec::with_capacity(3);
                for p in parts {
                    match p.parse::<i64>() {
                        Ok(n) if (-2000..=2000).contains(&n) => out.push(n.to_string()),
                        _ => {
                            return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into())
                        }
                    }
                }
                Ok(out.join(" "))
            }
            Percentiles => {
                let mut out = Vec::new();
                for p in v.split_whitespace() {
                    let n: f64 = p.parse().map_err(|_| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                    if !(0.0..=100.0).contains(&n) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    out.push(trimmed_fixed(n));
                }
                Ok(out.join(" "))
            }
            ProcTitle => {
                if proc_title_is_valid(v) {
                    Ok(v.to_string())
                } else {
                    Err("template format is invalid or contains unknown variables".into())
                }
            }
            KeyspaceEvents => {
                let mut on = [false; 256];
                for &c in v.as_bytes() {
                    match c {
                        b'A' => EVENT_ALL.iter().for_each(|&e| on[e as usize] = true),
                        b'K' | b'E' | b'm' => on[c as usize] = true,
                        c if EVENT_CLASSES.contains(&c) => on[c as usize] = true,
                        _ => {
                            return Err(
                                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()
                            )
                        }
                    }
                }
                let mut out = String::new();
                if EVENT_ALL.iter().all(|&e| on[e as usize]) {
                    // Redis shows `A` alone then, even with `n` set.
                    out.push('A');
                } else {
                    out.extend(
                        EVENT_CLASSES
                            .iter()
                            .filter(|&&e| on[e as usize])
                            .map(|&e| e as char),
                    );
                }
                out.extend(
                    b"KEm"
                        .iter()
                        .filter(|&&e| on[e as usize])
                        .map(|&e| e as char),
                );
                Ok(out)
            }
        }
    }
}

/// `%f` with the trailing zeros (and a bare point) cut, as Redis shows the
/// percentiles (`trimDoubleString`).
fn trimmed_fixed(n: f64) -> String {
    let text = format!("{n:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Redis' `validateProcTitleTemplate`: the template expands (`{{`/`}}` are
/// literal braces, every `{name}` is a known variable) and, with an empty
/// title, is not blank. Which variables expand to nothing with an empty title
/// follows Redis: `{title}`, `{server-mode}` (standalone), `{config-file}`
/// and `{unixsocket}` may; the addresses and ports never do.
fn proc_title_is_valid(template: &str) -> bool {
    const MAY_BE_EMPTY: [&str; 4] = ["title", "server-mode", "config-file", "unixsocket"];
    const NEVER_EMPTY: [&str; 3] = ["listen-addr", "port", "tls-port"];
    let mut visible = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("{{").or_else(|| rest.strip_prefix("}}")) {
            visible = true;
            rest = after;
        } else if c == '{' {
            let Some(end) = rest.find('}') else {
                return false;
            };
            let name = &rest[1..end];
            if NEVER_EMPTY.contains(&name) {
                visible = true;
            } else if !MAY_BE_EMPTY.contains(&name) {
                return false;
            }
            rest = &rest[end + 1..];
        } else if c == '}' {
            return false;
        } else {
            visible |= c != ' ';
            rest = &rest[c.len_utf8()..];
        }
    }
    visible
}

/// A memory value in bytes, as Redis' `memtoull` reads it.
fn memory(v: &str) -> Option<String> {
    parse_memory(v).map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_normalise_like_redis() {
        let ev = find_stored("notify-keyspace-events").expect("row");
        assert_eq!(ev.normalise("KEA").as_deref(), Ok("AKE"));
        assert_eq!(ev.normalise("Ex$").as_deref(), Ok("$xE"));
        assert!(ev.normalise("q").is_err());
        let save = find_stored("save").expect("row");
        assert_eq!(
            save.normalise("900 1 300 10").as_deref(),
            Ok("900 1 300 10")
        );
        assert!(save.normalise("900 1  300 10").is_err());
        assert!(save.normalise("100").is_err());
        assert_eq!(
            find_stored("SLAVE-PRIORITY").map(|p| p.name),
            Some("replica-priority")
        );
        assert_eq!(find_stored("slaveof").map(|p| p.name), Some("replicaof"));
        let fsync = find_stored("appendfsync").expect("row");
        assert_eq!(fsync.normalise("ALWAYS").as_deref(), Ok("always"));
    }
}
