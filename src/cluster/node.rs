//! Node identity and the last adopted membership, persisted in
//! `<dir>/nodes.json` so a restarted node keeps its 40-hex id (and so its ring
//! tokens) and starts from the membership it last knew.

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

/// Loads the node file, or creates a fresh identity (and writes it) when none exists.
pub fn load_or_create(dir: &Path) -> std::io::Result<NodeFile> {
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
                id: crate::server::random_hex_id(),
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
}
