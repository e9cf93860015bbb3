//! Raft log storage for the membership group: the [`raft::Storage`] the
//! consensus core reads, plus its on-disk form (`<dir>/raft.json`).
//!
//! The replicated state is tiny (one [`Membership`]), so the log is compacted
//! right after every apply: the store holds the hard state, a snapshot of the
//! applied state (membership, group id and raft configuration at the applied
//! index) and only the entries not yet applied. A follower that lags or is new
//! receives the snapshot. Everything is written as one JSON file, atomically
//! (temporary file + rename), before any message that depends on it is sent.

use std::path::{Path, PathBuf};

use raft::prelude::{ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
use serde::{Deserialize, Serialize};

use super::membership::Membership;

/// File name inside the data directory.
pub const FILE_NAME: &str = "raft.json";

/// What a snapshot carries: the applied state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapData {
    /// The group (one Raft cluster) this state belongs to.
    pub group: String,
    /// Membership at the snapshot index.
    pub membership: Membership,
}

/// One log entry in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FileEntry {
    index: u64,
    term: u64,
    conf_change: bool,
    data: Vec<u8>,
}

/// The on-disk form of a [`RaftStorage`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileState {
    term: u64,
    vote: u64,
    commit: u64,
    snap_index: u64,
    snap_term: u64,
    voters: Vec<u64>,
    learners: Vec<u64>,
    state: SnapData,
    entries: Vec<FileEntry>,
}

/// In-memory Raft storage (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct RaftStorage {
    hard: HardState,
    snap_index: u64,
    snap_term: u64,
    conf: ConfState,
    state: SnapData,
    /// Entries after `snap_index`, contiguous.
    entries: Vec<Entry>,
}

impl RaftStorage {
    /// A store for a group of one voter (`me`) holding `state`, as if index 1
    /// (term 1) had been applied.
    pub fn bootstrap(me: u64, state: SnapData) -> RaftStorage {
        let hard = HardState {
            term: 1,
            commit: 1,
            ..HardState::default()
        };
        RaftStorage {
            hard,
            snap_index: 1,
            snap_term: 1,
            conf: ConfState::from((vec![me], Vec::<u64>::new())),
            state,
            entries: Vec::new(),
        }
    }

    /// A store in no group that still reports `state` (the membership to
    /// serve until a group's leader sends its snapshot).
    pub fn blank(state: SnapData) -> RaftStorage {
        RaftStorage {
            state,
            ..RaftStorage::default()
        }
    }

    /// The applied state (as of the snapshot).
    pub fn state(&self) -> &SnapData {
        &self.state
    }

    /// The configuration at the snapshot index.
    pub fn conf(&self) -> &ConfState {
        &self.conf
    }

    /// Index of the last applied (snapshotted) entry.
    pub fn applied(&self) -> u64 {
        self.snap_index
    }

    /// Saves the hard state.
    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard = hs;
    }

    /// Appends entries, truncating any conflicting suffix.
    pub fn append(&mut self, ents: &[Entry]) {
        let Some(first) = ents.first() else { return };
        // Entries at or below the snapshot are already applied.
        let skip = self
            .snap_index
            .saturating_sub(first.index.saturating_sub(1)) as usize;
        let ents = ents.get(skip..).unwrap_or_default();
        let Some(first) = ents.first() else { return };
        let keep = (first.index - self.snap_index - 1) as usize;
        self.entries.truncate(keep);
        self.entries.extend_from_slice(ents);
    }

    /// Installs a snapshot received from the leader.
    pub fn apply_snapshot(&mut self, snap: &Snapshot, state: SnapData) {
        let meta = snap.get_metadata();
        if meta.index <= self.snap_index {
            return;
        }
        self.snap_index = meta.index;
        self.snap_term = meta.term;
        self.conf = meta.get_conf_state().clone();
        self.state = state;
        self.hard.term = self.hard.term.max(meta.term);
        self.hard.commit = self.hard.commit.max(meta.index);
        self.entries.retain(|e| e.index > meta.index);
        if self
            .entries
            .first()
            .is_some_and(|e| e.index != meta.index + 1)
        {
            self.entries.clear();
        }
    }

    /// Records that everything up to `index` is applied, giving `state` and
    /// `conf`, and drops those entries from the log.
    pub fn compact(&mut self, index: u64, conf: ConfState, state: SnapData) {
        if index <= self.snap_index {
            return;
        }
        let Some(term) = self
            .entries
            .iter()
            .find(|e| e.index == index)
            .map(|e| e.term)
        else {
            return;
        };
        self.entries.retain(|e| e.index > index);
        self.snap_index = index;
        self.snap_term = term;
        self.conf = conf;
        self.state = state;
    }

    fn last(&self) -> u64 {
        self.entries.last().map_or(self.snap_index, |e| e.index)
    }

    /// The on-disk form.
    pub fn to_file(&self) -> FileState {
        FileState {
            term: self.hard.term,
            vote: self.hard.vote,
            commit: self.hard.commit,
            snap_index: self.snap_index,
            snap_term: self.snap_term,
            voters: self.conf.voters.clone(),
            learners: self.conf.learners.clone(),
            state: self.state.clone(),
            entries: self
                .entries
                .iter()
                .map(|e| FileEntry {
                    index: e.index,
                    term: e.term,
                    conf_change: e.get_entry_type() == EntryType::EntryConfChange,
                    data: e.data.to_vec(),
                })
                .collect(),
        }
    }

    /// Rebuilds a store from its on-disk form.
    pub fn from_file(f: FileState) -> RaftStorage {
        let hard = HardState {
            term: f.term,
            vote: f.vote,
            commit: f.commit,
            ..HardState::default()
        };
        let entries = f
            .entries
            .into_iter()
            .map(|fe| {
                let mut e = Entry {
                    index: fe.index,
                    term: fe.term,
                    data: fe.data.into(),
                    ..Entry::default()
                };
                e.set_entry_type(if fe.conf_change {
                    EntryType::EntryConfChange
                } else {
                    EntryType::EntryNormal
                });
                e
            })
            .collect();
        RaftStorage {
            hard,
            snap_index: f.snap_index,
            snap_term: f.snap_term,
            conf: ConfState::from((f.voters, f.learners)),
            state: f.state,
            entries,
        }
    }
}

impl raft::Storage for RaftStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(self.hard.clone(), self.conf.clone()))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.snap_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let lo = (low - self.snap_index - 1) as usize;
        let hi = (high - self.snap_index - 1) as usize;
        let mut out = self.entries.get(lo..hi).unwrap_or_default().to_vec();
        if let Some(max) = max_size.into() {
            let mut size = 0u64;
            let mut n = 0;
            for e in &out {
                size += protobuf::Message::compute_size(e) as u64;
                if n > 0 && size > max {
                    break;
                }
                n += 1;
            }
            out.truncate(n.max(1));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snap_index {
            return Ok(self.snap_term);
        }
        if idx < self.snap_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.entries
            .get((idx - self.snap_index - 1) as usize)
            .map(|e| e.term)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snap_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snap_index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut s = Snapshot::default();
        let meta = s.mut_metadata();
        meta.index = self.snap_index;
        meta.term = self.snap_term;
        meta.set_conf_state(self.conf.clone());
        s.data = serde_json::to_vec(&self.state).unwrap_or_default().into();
        Ok(s)
    }
}

fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Loads the persisted store; `Ok(None)` when there is none yet.
pub fn load(dir: &Path) -> std::io::Result<Option<RaftStorage>> {
    let path = path_in(dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<FileState>(&bytes)
            .map(|f| Some(RaftStorage::from_file(f)))
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes the store atomically (temporary file + rename).
pub fn save(dir: &Path, f: &FileState) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = path_in(dir);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(f).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Entry::default()
        }
    }

    #[test]
    fn append_compact_and_file_round_trip() {
        let mut s = RaftStorage::bootstrap(7, SnapData::default());
        assert_eq!(s.first_index().ok(), Some(2));
        s.append(&[entry(2, 1), entry(3, 1), entry(4, 1)]);
        assert_eq!(s.last_index().ok(), Some(4));
        // A conflicting suffix from a new leader replaces 3 and 4.
        s.append(&[entry(3, 2)]);
        assert_eq!(s.last_index().ok(), Some(3));
        assert_eq!(s.term(3).ok(), Some(2));
        s.compact(2, s.conf().clone(), s.state().clone());
        assert_eq!(s.first_index().ok(), Some(3));
        assert!(s
            .entries(2, 4, None, GetEntriesContext::empty(false))
            .is_err());
        assert_eq!(s.term(2).ok(), Some(1));
        let back = RaftStorage::from_file(s.to_file());
        assert_eq!(back.last_index().ok(), Some(3));
        assert_eq!(back.term(3).ok(), Some(2));
        assert_eq!(back.conf().voters, vec![7]);
        let snap = back.snapshot(2, 0).expect("snapshot");
        assert_eq!(snap.get_metadata().index, 2);
        assert!(back.snapshot(3, 0).is_err());
    }

    #[test]
    fn persisted_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("load").is_none());
        let s = RaftStorage::bootstrap(1, SnapData::default());
        save(dir.path(), &s.to_file()).expect("save");
        let back = load(dir.path()).expect("load").expect("some");
        assert_eq!(back.applied(), 1);
        std::fs::write(dir.path().join(FILE_NAME), b"{").expect("write");
        assert!(load(dir.path()).is_err());
    }
}
