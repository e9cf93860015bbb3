//! Node configuration: defaults that serve one laptop node, command-line flags
//! (`--port 7000`), an optional redis.conf-syntax file, and the runtime
//! CONFIG GET/SET table. Every parameter is declared once in `PARAMS`.

use std::path::PathBuf;

use crate::config_stored::{find_stored, stored_names, StoredKind, STORED_PARAMS};
use crate::resp::parse::split_args;
use crate::util::{glob_match, parse_memory};

/// Eviction policy under `maxmemory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Refuse writes with -OOM.
    NoEviction,
    /// Approximated LRU over all keys.
    AllKeysLru,
    /// Approximated LFU over all keys.
    AllKeysLfu,
    /// Random keys.
    AllKeysRandom,
    /// LRU among keys with a TTL.
    VolatileLru,
    /// LFU among keys with a TTL.
    VolatileLfu,
    /// Random among keys with a TTL.
    VolatileRandom,
    /// Nearest expiry first.
    VolatileTtl,
}

const POLICIES: [(&str, EvictionPolicy); 8] = [
    ("volatile-lru", EvictionPolicy::VolatileLru),
    ("volatile-lfu", EvictionPolicy::VolatileLfu),
    ("volatile-random", EvictionPolicy::VolatileRandom),
    ("volatile-ttl", EvictionPolicy::VolatileTtl),
    ("allkeys-lru", EvictionPolicy::AllKeysLru),
    ("allkeys-lfu", EvictionPolicy::AllKeysLfu),
    ("allkeys-random", EvictionPolicy::AllKeysRandom),
    ("noeviction", EvictionPolicy::NoEviction),
];

impl EvictionPolicy {
    /// The redis.conf name.
    pub fn name(self) -> &'static str {
        POLICIES
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
            .unwrap_or("noeviction")
    }

    /// True for the LFU policies.
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// True for policies that only consider keys with a TTL.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
}

/// Redis' three-way switch for a dangerous feature
/// (`enable-debug-command`, `enable-protected-configs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enablement {
    /// Refused to every client.
    No,
    /// Allowed to every client.
    Yes,
    /// Allowed to clients on the loopback interface only.
    Local,
}

const ENABLEMENTS: [(&str, Enablement); 3] = [
    ("no", Enablement::No),
    ("yes", Enablement::Yes),
    ("local", Enablement::Local),
];

impl Enablement {
    /// The redis.conf name.
    pub fn name(self) -> &'static str {
        match self {
            Enablement::No => "no",
            Enablement::Yes => "yes",
            Enablement::Local => "local",
        }
    }

    fn parse(v: &str) -> Result<Enablement, String> {
        let l = v.to_ascii_lowercase();
        ENABLEMENTS
            .iter()
            .find(|(n, _)| *n == l)
            .map(|(_, e)| *e)
            .ok_or_else(|| "argument(s) must be one of the following: no, yes, local".into())
    }

    /// True when a client (`local`: on the loopback interface) may use the
    /// feature.
    pub fn allows(self, local: bool) -> bool {
        self == Enablement::Yes || (self == Enablement::Local && local)
    }
}

/// `sanitize-dump-payload`: when RESTORE deep-checks a payload's compact
/// encodings (duplicates, order) before accepting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanitizeDump {
    /// Only the checks needed to read the payload.
    No,
    /// Every check, for every client.
    Yes,
    /// Every check for clients (ringcache has no replication link whose
    /// RESTOREs Redis would trust, so this is `yes` in effect).
    Clients,
}

const SANITIZE_DUMP: [(&str, SanitizeDump); 3] = [
    ("no", SanitizeDump::No),
    ("yes", SanitizeDump::Yes),
    ("clients", SanitizeDump::Clients),
];

impl SanitizeDump {
    /// The redis.conf name.
    pub fn name(self) -> &'static str {
        SANITIZE_DUMP
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("no", |(n, _)| *n)
    }

    /// True when a client's RESTORE payload gets the deep checks.
    pub fn deep_for_clients(self) -> bool {
        self != SanitizeDump::No
    }
}

/// Who sets a parameter: the rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetBy {
    /// The config file or the command line: every parameter.
    Startup,
    /// CONFIG SET from a client (`local`: on the loopback interface): not
    /// the immutable parameters, and the protected ones only when
    /// `enable-protected-configs` allows it.
    Client {
        /// The client is on the loopback interface.
        local: bool,
    },
}

/// The parameters Redis 7 marks `PROTECTED_CONFIG` (its `dir` and
/// `dbfilename`; ringcache has no `dbfilename`): a client changing them can
/// make the node write where it should not.
const PROTECTED: [&str; 1] = ["dir"];

/// One class of `client-output-buffer-limit`, as in Redis: a client whose
/// reply bytes not yet taken pass `hard`, or stay above `soft` for more than
/// `soft_secs` seconds, is disconnected (0 turns a limit off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputLimit {
    /// Hard limit in bytes.
    pub hard: u64,
    /// Soft limit in bytes.
    pub soft: u64,
    /// How long the soft limit may be exceeded, in seconds.
    pub soft_secs: u64,
}

/// All settings of a node.
#[derive(Clone, Debug)]
pub struct Settings {
    /// RESP port (0 disables).
    pub port: u16,
    /// Addresses to listen on.
    pub bind: Vec<String>,
    /// Refuse non-loopback clients when no password is set.
    pub protected_mode: bool,
    /// Password for AUTH (empty: none).
    pub requirepass: String,
    /// Maximum simultaneous clients.
    pub maxclients: u64,
    /// Memory limit in bytes (0: none).
    pub maxmemory: u64,
    /// Eviction policy.
    pub maxmemory_policy: EvictionPolicy,
    /// Keys sampled per eviction.
    pub maxmemory_samples: u64,
    /// Idle client timeout in seconds (0: never).
    pub timeout: u64,
    /// Number of databases in standalone mode.
    pub databases: u64,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: u64,
    /// Largest unparsed query buffer per client.
    pub client_query_buffer_limit: u64,
    /// Output buffer limits for normal clients.
    pub client_output_buffer_limit_normal: OutputLimit,
    /// Output buffer hard limit for pub/sub clients.
    pub client_output_buffer_limit_pubsub: u64,
    /// Output buffer limit of replicas (how far a replica's link may lag
    /// behind the primary's stream before the primary drops it).
    pub client_output_buffer_limit_replica: OutputLimit,
    /// Background task frequency.
    pub hz: u64,
    /// SLOWLOG threshold in microseconds (negative disables).
    pub slowlog_log_slower_than: i64,
    /// SLOWLOG length.
    pub slowlog_max_len: u64,
    /// Data directory (node identity, cluster state).
    pub dir: PathBuf,
    /// Active expiry on/off (DEBUG SET-ACTIVE-EXPIRE).
    pub active_expire_enabled: bool,
    /// LFU logarithmic counter factor.
    pub lfu_log_factor: u64,
    /// LFU counter decay period in minutes.
    pub lfu_decay_time: u64,
    /// Deep checks of RESTORE payloads.
    pub sanitize_dump_payload: SanitizeDump,
    /// memcached port (0 disables).
    pub memcached_port: u16,
    /// Largest memcached item (memcached's `-I`), header and key included.
    pub memcached_max_item_size: u64,
    /// Threads serving memcached connections (memcached's `-t`; 0: one per core).
    pub memcached_threads: u64,
    /// Prometheus exporter port (0 disables).
    pub metrics_port: u16,
    /// Script time before BUSY replies, in ms.
    pub busy_reply_threshold: u64,
    /// Log level for `tracing`.
    pub loglevel: String,
    /// Compact hash encoding limits.
    pub hash_max_listpack_entries: u64,
    /// Compact hash element size limit.
    pub hash_max_listpack_value: u64,
    /// Compact set limits.
    pub set_max_intset_entries: u64,
    /// Compact set (listpack) entry limit.
    pub set_max_listpack_entries: u64,
    /// Compact set (listpack) element size limit.
    pub set_max_listpack_value: u64,
    /// Compact sorted set entry limit.
    pub zset_max_listpack_entries: u64,
    /// Compact sorted set element size limit.
    pub zset_max_listpack_value: u64,
    /// List node size (negative: bytes class, positive: entries).
    pub list_max_listpack_size: i64,
    /// Longest sparse HyperLogLog string before it is made dense.
    pub hll_sparse_max_bytes: u64,
    /// Run as a ring member (one database, cluster commands).
    pub cluster_enabled: bool,
    /// Worker threads serving clients (0: half the cores, at least 1).
    pub io_threads: u64,
    /// Longest spin of the RESP event loop waiting for the next request
    /// before it sleeps, in microseconds (0, the default: never spin; see
    /// `server::busypoll` for when spinning pays).
    pub busy_poll_us: u64,
    /// Cluster bus (gossip) port; 0 means RESP port + 10000.
    pub cluster_port: u16,
    /// Answer `-MOVED` for keys owned elsewhere instead of proxying.
    pub cluster_redirect: bool,
    /// Shared secret every member must know to join the gossip.
    pub cluster_secret: String,
    /// Seeds to join at start (`host:port` RESP addresses, or `host:port@busport`).
    pub cluster_join: Vec<String>,
    /// IP other nodes and clients use to reach this node (empty: first bind address).
    pub cluster_announce_ip: String,
    /// Relative capacity on the ring (tokens = 1024 × weight).
    pub cluster_weight: u64,
    /// Milliseconds without gossip before a peer is reported failed.
    pub cluster_node_timeout: u64,
    /// Who may run DEBUG (set at start-up only).
    pub enable_debug_command: Enablement,
    /// Who may CONFIG SET the protected parameters (set at start-up only).
    pub enable_protected_configs: Enablement,
    /// Values set for Redis parameters the node remembers but does not act
    /// on ([`crate::config_stored`]); absent ones show their default.
    pub stored: std::collections::BTreeMap<&'static str, String>,
    /// The config file the node was started with (absolute), for CONFIG
    /// REWRITE and INFO's `config_file`.
    pub config_file: Option<PathBuf>,
    /// LATENCY monitor threshold in milliseconds (0: off).
    pub latency_monitor_threshold: i64,
    /// `notify-keyspace-events` as last set (validated): the classes the
    /// node publishes (`store::notify`). CONFIG GET shows Redis' normalised
    /// form from `stored`, which drops `n` next to `A`, so it cannot be
    /// parsed back.
    pub notify_keyspace_events: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            protected_mode: true,
            requirepass: String::new(),
            maxclients: 10000,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            timeout: 0,
            databases: 16,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_buffer_limit_normal: OutputLimit::default(),
            client_output_buffer_limit_pubsub: 32 * 1024 * 1024,
            client_output_buffer_limit_replica: OutputLimit {
                hard: 256 * 1024 * 1024,
                soft: 64 * 1024 * 1024,
                soft_secs: 60,
            },
            hz: 10,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            dir: PathBuf::from("."),
            active_expire_enabled: true,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            sanitize_dump_payload: SanitizeDump::No,
            memcached_port: 11211,
            memcached_max_item_size: 1024 * 1024,
            memcached_threads: 0,
            metrics_port: 0,
            busy_reply_threshold: 5000,
            loglevel: "notice".into(),
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            hll_sparse_max_bytes: 3000,
            cluster_enabled: false,
            io_threads: 0,
            busy_poll_us: 0,
            cluster_port: 0,
            cluster_redirect: false,
            cluster_secret: String::new(),
            cluster_join: Vec::new(),
            cluster_announce_ip: String::new(),
            cluster_weight: 1,
            cluster_node_timeout: 3000,
            enable_debug_command: Enablement::No,
            enable_protected_configs: Enablement::No,
            stored: std::collections::BTreeMap::new(),
            config_file: None,
            latency_monitor_threshold: 0,
            notify_keyspace_events: String::new(),
        }
    }
}

/// Why a parameter could not be set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No such parameter.
    #[error("Unknown option or number of arguments for CONFIG SET - '{0}'")]
    Unknown(String),
    /// The value was rejected; the text is Redis' reason.
    #[error("CONFIG SET failed (possibly related to argument '{name}') - {reason}")]
    Invalid {
        /// Parameter name.
        name: String,
        /// Redis' reason text.
        reason: String,
    },
    /// A config file could not be read or parsed.
    #[error("config file: {0}")]
    File(String),
}

type Getter = fn(&Settings) -> String;
type Setter = fn(&mut Settings, &str) -> Result<(), String>;

/// One configuration parameter.
pub struct Param {
    /// redis.conf name.
    pub name: &'static str,
    /// Changeable with CONFIG SET.
    pub mutable: bool,
    get: Getter,
    set: Setter,
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn parse_int(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

fn parse_mem(v: &str) -> Result<u64, String> {
    parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())
}

macro_rules! int_param {
    ($name:expr, $field:ident, $min:expr, $max:expr, $mutable:expr) => {
        Param {
            name: $name,
            mutable: $mutable,
            get: |s| s.$field.to_string(),
            set: |s, v| {
                s.$field = parse_int(v, $min, $max)? as _;
                Ok(())
            },
        }
    };
}

macro_rules! mem_param {
    ($name:expr, $field:ident) => {
        Param {
            name: $name,
            mutable: true,
            get: |s| s.$field.to_string(),
            set: |s, v| {
                s.$field = parse_mem(v)?;
                Ok(())
            },
        }
    };
}

macro_rules! bool_param {
    ($name:expr, $field:ident) => {
        Param {
            name: $name,
            mutable: true,
            get: |s| yes_no(s.$field),
            set: |s, v| {
                s.$field = parse_bool(v)?;
                Ok(())
            },
        }
    };
}

/// Every parameter the node knows, the single source for CONFIG GET/SET, flags and files.
pub static PARAMS: &[Param] = &[
    int_param!("port", port, 0, 65535, false),
    Param {
        name: "bind",
        mutable: false,
        get: |s| s.bind.join(" "),
        set: |s, v| {
            s.bind = v.split_whitespace().map(String::from).collect();
            Ok(())
        },
    },
    bool_param!("protected-mode", protected_mode),
    Param {
        name: "requirepass",
        mutable: true,
        get: |s| s.requirepass.clone(),
        set: |s, v| {
            s.requirepass = v.to_string();
            Ok(())
        },
    },
    int_param!("maxclients", maxclients, 1, i64::from(u32::MAX), true),
    mem_param!("maxmemory", maxmemory),
    Param {
        name: "maxmemory-policy",
        mutable: true,
        get: |s| s.maxmemory_policy.name().into(),
        set: |s, v| {
            let l = v.to_ascii_lowercase();
            s.maxmemory_policy = POLICIES
                .iter()
                .find(|(n, _)| *n == l)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    format!(
                        "argument(s) must be one of the following: {}",
                        POLICIES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            Ok(())
        },
    },
    int_param!("maxmemory-samples", maxmemory_samples, 1, 64, true),
    int_param!("io-threads", io_threads, 0, 128, false),
    int_param!("busy-poll-us", busy_poll_us, 0, 1_000_000, true),
    int_param!("timeout", timeout, 0, i64::from(i32::MAX), true),
    int_param!("databases", databases, 1, i64::from(i32::MAX), false),
    mem_param!("proto-max-bulk-len", proto_max_bulk_len),
    mem_param!("client-query-buffer-limit", client_query_buffer_limit),
    Param {
        name: "client-output-buffer-limit",
        mutable: true,
        get: |s| {
            format!(
                "normal {} {} {} slave {} {} {} pubsub {} 8388608 60",
                s.client_output_buffer_limit_normal.hard,
                s.client_output_buffer_limit_normal.soft,
                s.client_output_buffer_limit_normal.soft_secs,
                s.client_output_buffer_limit_replica.hard,
                s.client_output_buffer_limit_replica.soft,
                s.client_output_buffer_limit_replica.soft_secs,
                s.client_output_buffer_limit_pubsub
            )
        },
        set: |s, v| {
            let parts: Vec<&str> = v.split_whitespace().collect();
            if parts.is_empty() || !parts.len().is_multiple_of(4) {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            // Every class is checked before any is applied, as in Redis.
            let mut parsed = Vec::with_capacity(parts.len() / 4);
            for c in parts.chunks(4) {
                let class = c[0].to_ascii_lowercase();
                if !matches!(class.as_str(), "normal" | "pubsub" | "slave" | "replica") {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    );
                }
                let bad =
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
                let limit = OutputLimit {
                    hard: parse_memory(c[1]).ok_or(bad)?,
                    soft: parse_memory(c[2]).ok_or(bad)?,
                    soft_secs: c[3].parse().map_err(|_| bad)?,
                };
                parsed.push((class, limit));
            }
            for (class, limit) in parsed {
                match class.as_str() {
                    "normal" => s.client_output_buffer_limit_normal = limit,
                    "pubsub" => s.client_output_buffer_limit_pubsub = limit.hard,
                    _ => s.client_output_buffer_limit_replica = limit,
                }
            }
            Ok(())
        },
    },
    Param {
        // Redis accepts any non-negative int and clamps it to 1..=500.
        name: "hz",
        mutable: true,
        get: |s| s.hz.to_string(),
        set: |s, v| {
            s.hz = parse_int(v, 0, i64::from(i32::MAX))?.clamp(1, 500) as u64;
            Ok(())
        },
    },
    int_param!(
        "slowlog-log-slower-than",
        slowlog_log_slower_than,
        -1,
        i64::MAX,
        true
    ),
    int_param!("slowlog-max-len", slowlog_max_len, 0, i64::MAX, true),
    Param {
        name: "dir",
        mutable: true,
        get: |s| s.dir.display().to_string(),
        set: |s, v| {
            s.dir = PathBuf::from(v);
            Ok(())
        },
    },
    int_param!(
        "lfu-log-factor",
        lfu_log_factor,
        0,
        i64::from(i32::MAX),
        true
    ),
    int_param!(
        "lfu-decay-time",
        lfu_decay_time,
        0,
        i64::from(i32::MAX),
        true
    ),
    Param {
        name: "sanitize-dump-payload",
        mutable: true,
        get: |s| s.sanitize_dump_payload.name().into(),
        set: |s, v| {
            let l = v.to_ascii_lowercase();
            s.sanitize_dump_payload = SANITIZE_DUMP
                .iter()
                .find(|(n, _)| *n == l)
                .map(|(_, p)| *p)
                .ok_or("argument(s) must be one of the following: no, yes, clients")?;
            Ok(())
        },
    },
    int_param!("memcached-port", memcached_port, 0, 65535, false),
    mem_param!("memcached-max-item-size", memcached_max_item_size),
    int_param!("memcached-threads", memcached_threads, 0, 128, false),
    int_param!("metrics-port", metrics_port, 0, 65535, false),
    int_param!(
        "busy-reply-threshold",
        busy_reply_threshold,
        0,
        i64::MAX,
        true
    ),
    int_param!("lua-time-limit", busy_reply_threshold, 0, i64::MAX, true),
    Param {
        name: "loglevel",
        mutable: true,
        get: |s| s.loglevel.clone(),
        set: |s, v| {
            let l = v.to_ascii_lowercase();
            if !["debug", "verbose", "notice", "warning", "nothing"].contains(&l.as_str()) {
                return Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into());
            }
            s.loglevel = l;
            Ok(())
        },
    },
    int_param!(
        "hash-max-listpack-entries",
        hash_max_listpack_entries,
        0,
        i64::MAX,
        true
    ),
    mem_param!("hash-max-listpack-value", hash_max_listpack_value),
    int_param!(
        "hash-max-ziplist-entries",
        hash_max_listpack_entries,
        0,
        i64::MAX,
        true
    ),
    mem_param!("hash-max-ziplist-value", hash_max_listpack_value),
    int_param!(
        "set-max-intset-entries",
        set_max_intset_entries,
        0,
        i64::MAX,
        true
    ),
    int_param!(
        "set-max-listpack-entries",
        set_max_listpack_entries,
        0,
        i64::MAX,
        true
    ),
    mem_param!("set-max-listpack-value", set_max_listpack_value),
    int_param!(
        "zset-max-listpack-entries",
        zset_max_listpack_entries,
        0,
        i64::MAX,
        true
    ),
    mem_param!("zset-max-listpack-value", zset_max_listpack_value),
    int_param!(
        "zset-max-ziplist-entries",
        zset_max_listpack_entries,
        0,
        i64::MAX,
        true
    ),
    mem_param!("zset-max-ziplist-value", zset_max_listpack_value),
    mem_param!("hll-sparse-max-bytes", hll_sparse_max_bytes),
    int_param!(
        "list-max-listpack-size",
        list_max_listpack_size,
        i64::MIN,
        i64::MAX,
        true
    ),
    int_param!(
        "list-max-ziplist-size",
        list_max_listpack_size,
        i64::MIN,
        i64::MAX,
        true
    ),
    Param {
        name: "cluster-enabled",
        mutable: false,
        get: |s| yes_no(s.cluster_enabled),
        set: |s, v| {
            s.cluster_enabled = parse_bool(v)?;
            Ok(())
        },
    },
    int_param!("cluster-port", cluster_port, 0, 65535, false),
    bool_param!("cluster-redirect", cluster_redirect),
    Param {
        name: "cluster-secret",
        mutable: false,
        get: |s| s.cluster_secret.clone(),
        set: |s, v| {
            s.cluster_secret = v.to_string();
            Ok(())
        },
    },
    Param {
        name: "join",
        mutable: false,
        get: |s| s.cluster_join.join(" "),
        set: |s, v| {
            s.cluster_join = v.split_whitespace().map(String::from).collect();
            if !s.cluster_join.is_empty() {
                s.cluster_enabled = true;
            }
            Ok(())
        },
    },
    Param {
        name: "cluster-announce-ip",
        mutable: false,
        get: |s| s.cluster_announce_ip.clone(),
        set: |s, v| {
            s.cluster_announce_ip = v.to_string();
            Ok(())
        },
    },
    int_param!("cluster-weight", cluster_weight, 1, 64, false),
    // Read at run time by every user (failure detection, raft removal and
    // quorum, peer links, held requests): see docs/CLUSTER.md.
    int_param!(
        "cluster-node-timeout",
        cluster_node_timeout,
        100,
        i64::from(i32::MAX),
        true
    ),
    Param {
        name: "enable-debug-command",
        mutable: false,
        get: |s| s.enable_debug_command.name().into(),
        set: |s, v| {
            s.enable_debug_command = Enablement::parse(v)?;
            Ok(())
        },
    },
    Param {
        name: "enable-protected-configs",
        mutable: false,
        get: |s| s.enable_protected_configs.name().into(),
        set: |s, v| {
            s.enable_protected_configs = Enablement::parse(v)?;
            Ok(())
        },
    },
    int_param!(
        "latency-monitor-threshold",
        latency_monitor_threshold,
        0,
        i64::MAX,
        true
    ),
    Param {
        name: "daemonize",
        mutable: false,
        get: |_| "no".into(),
        set: |_, v| parse_bool(v).map(|_| ()),
    },
];

/// Finds a parameter by (case-insensitive) name.
pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

impl Settings {
    /// Worker threads to run: `io-threads`, or half the cores (at least one).
    /// Half, because on a small machine the clients, the kernel's network
    /// stack and the node share the cores: measured on 2 cores with
    /// redis-benchmark on the same host, 1 worker serves SET/GET 1.2-1.4x
    /// faster than 2.
    pub fn worker_threads(&self) -> usize {
        if self.io_threads > 0 {
            return self.io_threads as usize;
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        (cores / 2).max(1)
    }

    /// Threads serving memcached connections: `memcached-threads`, or one per
    /// core, each with its own event loop like memcached's `-t` workers (the
    /// RESP side's worker-count trade-off does not apply: see
    /// `server::mc_conn::Workers`).
    pub fn memcached_worker_threads(&self) -> usize {
        if self.memcached_threads > 0 {
            return self.memcached_threads as usize;
        }
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }

    /// Sets one parameter from its text form, as CONFIG SET / files / flags do.
    pub fn set(&mut self, name: &str, value: &str, by: SetBy) -> Result<(), ConfigError> {
        let Some(p) = find_param(name) else {
            return self.set_stored(name, value, by);
        };
        if let SetBy::Client { local } = by {
            let refusal = if !p.mutable {
                Some("can't set immutable config")
            } else if PROTECTED.contains(&p.name) && !self.enable_protected_configs.allows(local) {
                Some("can't set protected config")
            } else {
                None
            };
            if let Some(reason) = refusal {
                return Err(ConfigError::Invalid {
                    name: p.name.into(),
                    reason: reason.into(),
                });
            }
        }
        (p.set)(self, value).map_err(|reason| ConfigError::Invalid {
            name: p.name.into(),
            reason,
        })
    }

    /// Name/value pairs of the parameters matching a glob (CONFIG GET).
    pub fn get_matching(&self, pattern: &[u8]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = PARAMS
            .iter()
            .filter(|p| glob_match(pattern, p.name.as_bytes(), true))
            .map(|p| (p.name.to_string(), (p.get)(self)))
            .collect();
        for p in STORED_PARAMS
            .iter()
            .filter(|p| find_param(p.name).is_none())
        {
            for name in stored_names(p) {
                if glob_match(pattern, name.as_bytes(), true) {
                    let value = self.stored.get(p.name).map_or(p.default, String::as_str);
                    out.push((name, value.to_string()));
                }
            }
        }
        out
    }

    /// The value of a remembered Redis parameter ([`crate::config_stored`])
    /// that replication reads (`masterauth`, `repl-backlog-size`, ...): the
    /// value set, or its default.
    pub fn stored_value(&self, name: &str) -> &str {
        match find_stored(name) {
            Some(p) => self.stored.get(p.name).map_or(p.default, String::as_str),
            None => "",
        }
    }

    /// Sets one of the remembered Redis parameters ([`crate::config_stored`]),
    /// with Redis' immutable/protected rules and reason texts.
    fn set_stored(&mut self, name: &str, value: &str, by: SetBy) -> Result<(), ConfigError> {
        let p = find_stored(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        let refusal = match (by, p.kind) {
            (SetBy::Client { .. }, StoredKind::Immutable) => Some("can't set immutable config"),
            (SetBy::Client { local }, StoredKind::Protected)
                if !self.enable_protected_configs.allows(local) =>
            {
                Some("can't set protected config")
            }
            _ => None,
        };
        let invalid = |reason: String| ConfigError::Invalid {
            name: name.to_string(),
            reason,
        };
        if let Some(reason) = refusal {
            return Err(invalid(reason.into()));
        }
        let normalised = p.normalise(value).map_err(invalid)?;
        if p.name == "notify-keyspace-events" {
            self.notify_keyspace_events = value.to_string();
        }
        self.stored.insert(p.name, normalised);
        Ok(())
    }

    /// Applies a config file in redis.conf syntax.
    pub fn load_file(&mut self, path: &str) -> Result<(), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::File(format!("{path}: {e}")))?;
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let args = split_args(line.as_bytes()).ok_or_else(|| {
                ConfigError::File(format!("{path}:{}: unbalanced quotes", no + 1))
            })?;
            let args: Vec<String> = args
                .into_iter()
                .map(|a| String::from_utf8_lossy(&a).into_owned())
                .collect();
            if let Some((name, rest)) = args.split_first() {
                self.set(name, &rest.join(" "), SetBy::Startup)
                    .map_err(|e| ConfigError::File(format!("{path}:{}: {e}", no + 1)))?;
            }
        }
        Ok(())
    }

    /// Builds settings from command-line arguments: an optional config file
    /// first, then `--name value...` pairs (later ones win).
    pub fn from_args(args: &[String]) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        let mut i = 0;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                s.load_file(first)?;
                s.config_file = Some(std::path::absolute(first).unwrap_or_else(|_| first.into()));
                i = 1;
            }
        }
        while i < args.len() {
            let Some(name) = args[i].strip_prefix("--") else {
                return Err(ConfigError::File(format!(
                    "unexpected argument '{}'",
                    args[i]
                )));
            };
            let mut values = Vec::new();
            i += 1;
            while i < args.len() && !args[i].starts_with("--") {
                values.push(args[i].clone());
                i += 1;
            }
            s.set(name, &values.join(" "), SetBy::Startup)?;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_errors() {
        let args: Vec<String> = [
            "--port",
            "7000",
            "--maxmemory",
            "1mb",
            "--bind",
            "127.0.0.1",
            "::1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let s = Settings::from_args(&args).expect("valid flags");
        assert_eq!(s.port, 7000);
        assert_eq!(s.maxmemory, 1 << 20);
        assert_eq!(s.bind, vec!["127.0.0.1".to_string(), "::1".to_string()]);
        let mut s = Settings::default();
        let e = s
            .set("maxmemory", "abc", SetBy::Client { local: true })
            .expect_err("bad value");
        assert_eq!(
            e.to_string(),
            "CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        assert_eq!(
            s.get_matching(b"maxmemory-p*"),
            vec![("maxmemory-policy".to_string(), "noeviction".to_string())]
        );
    }

    #[test]
    fn no_stored_row_shadows_a_parameter_the_node_acts_on() {
        assert!(STORED_PARAMS.iter().all(|p| find_param(p.name).is_none()));
    }

    #[test]
    fn cluster_node_timeout_is_set_at_run_time_within_its_range() {
        let mut s = Settings::default();
        let remote = SetBy::Client { local: false };
        s.set("cluster-node-timeout", "1500", remote)
            .expect("mutable");
        assert_eq!(s.cluster_node_timeout, 1500);
        assert!(s.set("cluster-node-timeout", "99", remote).is_err());
        assert_eq!(s.cluster_node_timeout, 1500);
    }

    #[test]
    fn protected_and_immutable_parameters_only_at_startup_unless_enabled() {
        let remote = SetBy::Client { local: false };
        let local = SetBy::Client { local: true };
        let mut s = Settings::default();
        for by in [remote, local] {
            let e = s.set("dir", "/nonexistent", by).expect_err("protected");
            assert_eq!(
                e.to_string(),
                "CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
            );
        }
        let e = s
            .set("enable-protected-configs", "yes", local)
            .expect_err("immutable");
        assert!(e.to_string().ends_with("- can't set immutable config"));
        s.set("enable-protected-configs", "local", SetBy::Startup)
            .expect("startup");
        assert!(s.set("dir", "/tmp", remote).is_err());
        s.set("dir", "/tmp", local).expect("local client allowed");
        s.set("enable-protected-configs", "YES", SetBy::Startup)
            .expect("startup");
        s.set("dir", "/var/tmp", remote).expect("allowed");
        assert_eq!(
            s.get_matching(b"enable-*"),
            vec![
                ("enable-debug-command".to_string(), "no".to_string()),
                ("enable-protected-configs".to_string(), "yes".to_string()),
                ("enable-module-command".to_string(), "no".to_string())
            ]
        );
        let e = s
            .set("enable-debug-command", "maybe", SetBy::Startup)
            .expect_err("bad value");
        assert!(e
            .to_string()
            .ends_with("argument(s) must be one of the following: no, yes, local"));
    }
}
