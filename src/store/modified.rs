//! Keys really modified by the running command, Redis' `signalModifiedKey`:
//! WATCH must be invalidated only by writes that changed a key (not by the
//! read-only sources of SUNIONSTORE, nor by a DEL of a missing key). The store
//! notes each mutation here while a command runs with recording on (the
//! dispatcher turns it on only when somebody watches), so the cost otherwise
//! is one thread-local flag read per mutation. Commands run synchronously on
//! their thread between `.await`s, so a per-thread record is exact.

use std::cell::{Cell, RefCell};

/// Modified keys as (database, key).
pub type Modified = Vec<(usize, Box<[u8]>)>;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static KEYS: RefCell<Modified> = const { RefCell::new(Vec::new()) };
}

/// Notes that `key` of database `db` was modified (a no-op unless recording).
#[inline]
pub fn note(db: usize, key: &[u8]) {
    if ON.with(Cell::get) {
        note_cold(db, key);
    }
}

#[cold]
fn note_cold(db: usize, key: &[u8]) {
    KEYS.with(|k| k.borrow_mut().push((db, key.into())));
}

/// Runs `f` with recording on and returns its result with the keys it
/// modified. Nests: an inner recording (a command run by a script) returns
/// only its own keys and the outer one resumes afterwards.
pub fn recording<R>(f: impl FnOnce() -> R) -> (R, Modified) {
    let was_on = ON.with(|o| o.replace(true));
    let outer = KEYS.with(|k| std::mem::take(&mut *k.borrow_mut()));
    let r = f();
    let mine = KEYS.with(|k| std::mem::replace(&mut *k.borrow_mut(), outer));
    ON.with(|o| o.set(was_on));
    (r, mine)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only notes made inside a recording are returned, nested ones to the
    /// inner recording only, and nothing is kept once recording ends.
    #[test]
    fn records_only_inside_and_nests() {
        note(0, b"before");
        let ((), outer) = recording(|| {
            note(0, b"a");
            let ((), inner) = recording(|| note(1, b"b"));
            assert_eq!(inner, vec![(1, b"b"[..].into())]);
            note(0, b"c");
        });
        assert_eq!(outer, vec![(0, b"a"[..].into()), (0, b"c"[..].into())]);
        note(0, b"after");
        let ((), none) = recording(|| ());
        assert!(none.is_empty());
    }
}
