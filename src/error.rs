//! Typed errors. Command errors render to Redis' exact error text.

/// An error reply of a command; `Display` is the text after the leading '-'.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// Wrong argument count (the command's full lowercase name).
    #[error("ERR wrong number of arguments for '{0}' command")]
    Arity(String),
    /// Operation on a key of another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Malformed options.
    #[error("ERR syntax error")]
    Syntax,
    /// Argument is not a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInt,
    /// Argument is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// INCR-family overflow.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// Missing key where one is required.
    #[error("ERR no such key")]
    NoSuchKey,
    /// Index out of range.
    #[error("ERR index out of range")]
    OutOfRange,
    /// Bad expire time (command name).
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// Over maxmemory under noeviction.
    #[error("OOM command not allowed when used memory > 'maxmemory'.")]
    Oom,
    /// Authentication is required.
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    /// Any other error, given as its full text (`ERR ...`, `BUSY ...`).
    #[error("{0}")]
    Other(String),
}

impl CmdError {
    /// An `ERR <msg>` error.
    pub fn err(msg: impl std::fmt::Display) -> Self {
        CmdError::Other(format!("ERR {msg}"))
    }
}

/// Result of a command handler: the reply was written, or an error to send.
pub type CmdResult = Result<(), CmdError>;

/// Start-up failures of the node.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Could not bind or listen.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A worker thread (or its runtime) could not be started.
    #[error("cannot start worker threads: {source}")]
    Threads {
        /// The OS error.
        source: std::io::Error,
    },
    /// The cluster state in the data directory could not be read or written.
    #[error("cluster state: {source}")]
    Cluster {
        /// The I/O or format error.
        source: std::io::Error,
    },
}
