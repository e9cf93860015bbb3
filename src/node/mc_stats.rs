//! memcached's `stats` counters, one block per thread that serves
//! memcached requests (node state: the memcached listener writes them, the
//! `stats` command and INFO read them).

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// One block of memcached's counters, named as in `stats`.
        #[derive(Debug, Default)]
        pub struct McCounters {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub $name: AtomicU64,
            )*
        }

        /// The counters summed over every block.
        #[derive(Debug, Default)]
        pub struct McTotals {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub $name: u64,
            )*
        }

        impl McCounters {
            /// `stats reset`: zeroes the resettable counters.
            fn reset(&self) {
                $( if stringify!($name) != "curr_connections" {
                    self.$name.store(0, Ordering::Relaxed);
                } )*
            }

            /// Adds this block into `t` (a gauge counted up and down in one
            /// block never goes below zero there, so plain adds are exact).
            fn add_to(&self, t: &mut McTotals) {
                $( t.$name = t.$name.wrapping_add(self.$name.load(Ordering::Relaxed)); )*
            }
        }
    };
}

/// A counter block on a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(McCounters);

/// memcached's counters (this node's figures: a request proxied to its
/// owner counts on the owner), one block per thread that serves memcached
/// requests like memcached's per-thread stats: the request path never writes
/// a cache line another thread writes; `stats` sums the blocks.
#[derive(Debug)]
pub struct McStats {
    blocks: Box<[Padded]>,
}

impl McStats {
    /// Counters for `threads` memcached worker threads (block `i + 1`) and
    /// the main runtime (block 0: requests forwarded by peers).
    pub fn new(threads: usize) -> McStats {
        McStats {
            blocks: (0..=threads).map(|_| Padded::default()).collect(),
        }
    }

    /// Block `i` (0: the main runtime, `i + 1`: worker `i`).
    pub fn block(&self, i: usize) -> &McCounters {
        &self.blocks[i % self.blocks.len()].0
    }

    /// The sums over every block.
    pub fn totals(&self) -> McTotals {
        let mut t = McTotals::default();
        for b in self.blocks.iter() {
            b.0.add_to(&mut t);
        }
        t
    }

    /// `stats reset`: zeroes the resettable counters.
    pub fn reset(&self) {
        for b in self.blocks.iter() {
            b.0.reset();
        }
    }
}

counters!(
    curr_connections,
    total_connections,
    rejected_connections,
    cmd_get,
    cmd_set,
    cmd_flush,
    cmd_touch,
    get_hits,
    get_misses,
    get_expired,
    delete_misses,
    delete_hits,
    incr_misses,
    incr_hits,
    decr_misses,
    decr_hits,
    cas_misses,
    cas_hits,
    cas_badval,
    touch_hits,
    touch_misses,
    store_too_large,
    bytes_read,
    bytes_written,
    total_items,
);
