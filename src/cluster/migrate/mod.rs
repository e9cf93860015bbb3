//! Live slot migration: when the agreed membership changes, every slot whose
//! owner changed is copied from the node holding its data (the *source*) to
//! its new owner (the *target*) while both keep serving it, then ownership
//! flips after a write pause of milliseconds. See docs/CLUSTER.md
//! ("Rebalancing") for the protocol; in short:
//!
//! 1. [`transition`] (pure) turns a slot-map change into per-slot states: the
//!    source marks a slot [`SlotState::Migrating`] (serves it locally), the
//!    target [`SlotState::Importing`] (forwards its requests to the source).
//! 2. The source's migration task (`server/migrate_task.rs`, with
//!    [`source::OutgoingSlots`]) copies groups of slots: turns on
//!    exact dirty-key tracking in the slot tables, sends every key
//!    (`CLUSTER MIGRATE-BATCH ... copy`), then re-sends changed keys in rounds
//!    ([`plan::Mover`] decides when to flip).
//! 3. Flip: the source marks the group [`SlotState::Paused`] (requests wait),
//!    waits for running commands to finish (one pass over the exclusive gate),
//!    sends the last changed keys (`final`); the target applies them and owns
//!    the slots; the source marks them [`SlotState::Moved`] (forwards even
//!    proxied requests to the owner) and deletes its copy.
//!
//! A target refusing a batch (it has not adopted the membership yet) is
//! retried; a target or source that dies mid-copy is logged and the survivor
//! keeps or takes the slot (missing keys are cache misses). A membership
//! change during a move re-plans from the current states; a flip racing it
//! is made safe by the target's check after applying a batch and by
//! [`plan::after_flip`] on the source (docs/CLUSTER.md, "Overlapping changes").
//!
//! Files: `plan.rs` (the pure states and state machines), `source.rs` (the
//! copying task and graceful leave), `target.rs` (applying batches),
//! `progress.rs` (counters and status lines).

pub mod plan;
pub mod progress;
pub mod source;
pub mod target;

pub use plan::{transition, SlotState};
pub use progress::{status, Progress};
pub use source::leave;
pub use target::{apply_batch, parse_slots, Phase};
