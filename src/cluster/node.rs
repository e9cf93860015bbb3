//! Node identity and the last adopted membership, persisted in
//! `<dir>/nodes.json` so a restarted node keeps its 40-hex id (and so its ring
//! tokens) and starts from the membership it last knew.
//!
//! A second process on the same data directory would run with the same id: the
//! directory is locked (`flock` on `<dir>/nodes.lock`) while a node runs, and a
//! second one is refused at start with a clear error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::membership::Membership;

/// File name inside the data directory.
pub const FILE_NAME: &str = "nodes.json";

/// What survives a restart.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeFile {
    /// The node id (40 lowercase hex characters, Redis' format).
    pub id: String,
    /// Last adopted membership.
    #[serde(default)]
    pub membership: Membership,
}

/// True for a well-formed node id.
pub fn valid_id(id: &str) -> bool {
    id.len() == 40
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Lock files held for the life of the process (one per data directory).
static LOCKS: parking_lot::Mutex<Vec<(PathBuf, std::fs::File)>> =
    parking_lot::Mutex::new(Vec::new());

/// Takes the data directory's lock, refusing a second process using it.
fn lock_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    std::fs::create_dir_all(dir)?;
    let path = dir.join("nodes.lock");
    let mut locks = LOCKS.lock();
    if locks.iter().any(|(p, _)| *p == path) {
        return Ok(());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "duplicate node id: another process already runs with the node in {} (one --dir per node)",
                dir.display()
            ),
        ));
    }
    locks.push((path, file));
    Ok(())
}

/// Locks the data directory, then loads the node file, or creates a fresh
/// identity (and writes it) when none exists.
pub fn load_or_create(dir: &Path) -> std::io::Result<NodeFile> {
    lock_dir(dir)?;
    let path = path_in(dir);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let f: NodeFile = serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
            if !valid_id(&f.id) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: invalid node id '{}'", path.display(), f.id),
                ));
            }
            Ok(f)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let f = NodeFile {
                id: crate::node::random_hex_id(),
                membership: Membership::default(),
            };
            save(dir, &f)?;
            Ok(f)
        }
        Err(e) => Err(e),
    }
}

/// Writes the node file atomically (temporary file + rename).
pub fn save(dir: &Path, f: &NodeFile) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = path_in(dir);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(f).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_survives_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create(dir.path()).expect("create");
        assert!(valid_id(&a.id));
        let b = load_or_create(dir.path()).expect("reload");
        assert_eq!(a.id, b.id);
        std::fs::write(dir.path().join(FILE_NAME), b"{\"id\":\"xyz\"}").expect("write");
        assert!(load_or_create(dir.path()).is_err());
    }

    #[test]
    fn second_process_on_a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        use std::os::fd::AsRawFd;
        // Another process holding the lock (simulated by an open file
        // description of our own that this module does not know about).
        let other = std::fs::File::create(dir.path().join("nodes.lock")).expect("open");
        // SAFETY: flock on a descriptor owned by this test.
        let rc = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0);
        let err = load_or_create(dir.path()).expect_err("locked");
        assert!(err.to_string().contains("duplicate node id"), "{err}");
    }
}
