//! Received mail on disk, named by the SHA-256 of its bytes, written and
//! fsynced (file and directory) before any door says yes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub fn sha256(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

pub fn path(data_dir: &Path, sha256: &str) -> PathBuf {
    data_dir
        .join("mail")
        .join("spool")
        .join(format!("{sha256}.eml"))
}

/// Stores the bytes durably; a second copy of the same bytes is a no-op.
pub fn keep(data_dir: &Path, sha256: &str, raw: &[u8]) -> std::io::Result<PathBuf> {
    let target = path(data_dir, sha256);
    if target.exists() {
        return Ok(target);
    }
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.to_path_buf());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    // Written under a temporary name and renamed, so a crash never leaves
    // a half-written file under the final name.
    let tmp = dir.join(format!(".{sha256}.{}.tmp", uuid::Uuid::now_v7().simple()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(raw)?;
    file.sync_all()?;
    fs::rename(&tmp, &target)?;
    File::open(&dir)?.sync_all()?;
    Ok(target)
}

pub fn read(data_dir: &Path, sha256: &str) -> std::io::Result<Vec<u8>> {
    fs::read(path(data_dir, sha256))
}
