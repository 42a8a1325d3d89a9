//! Received mail on disk, named by the SHA-256 of its bytes, written and
//! fsynced (file and directory) before any door says yes.

use std::fs;
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
    crate::durable::write_new(&dir, &format!("{sha256}.eml"), raw)
}

pub fn read(data_dir: &Path, sha256: &str) -> std::io::Result<Vec<u8>> {
    fs::read(path(data_dir, sha256))
}
