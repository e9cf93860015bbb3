//! Commands: the command type and registry (`command`), the table (one row
//! per command, `table`), the one dispatcher every request runs through, the
//! context handlers run with, and one file per command family. memcached
//! requests and forwarded requests reach the store through the same
//! dispatcher (`dispatch`, `dispatch_mc`).
//!
//! Inside this layer files import `command`, `ctx`, `dispatch` and each other
//! directly; only `Shared::new` (in `table`) reads the table, which imports
//! every family, so no handler depends on it. The re-exports below are for
//! the layers above.

pub mod acl;
pub mod acl_category_table;
pub mod bitfield;
pub mod bitmap;
pub mod blocking_pop;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config_cmd;
pub mod connection;
pub mod ctx;
pub mod dispatch;
pub mod dispatch_mc;
pub mod dump_restore;
pub mod function;
pub mod geo;
pub mod geohash;
pub mod hash;
pub mod hyperloglog;
pub mod info;
pub mod introspect;
pub mod key_spec_table;
pub mod keys;
pub mod latency;
pub mod list;
pub mod lolwut;
pub mod memory;
pub mod migrate_plan;
pub mod observe;
pub mod partial_sort;
pub mod propagate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod set;
pub mod shared;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod stream_read;
pub mod string;
pub mod table;
pub mod tracking;
pub mod transaction;
pub mod zset;

pub use ctx::{After, Ctx};
pub use dispatch::{Dispatched, Dispatcher};
pub use shared::{McOrigin, Shared};
