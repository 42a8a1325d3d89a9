//! Files that must survive a crash once we have said yes: written under a
//! temporary name, fsynced, renamed, and the directory fsynced, so a crash
//! never leaves half a file under its final name.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Creates `path` and its parents, readable by this user only.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Takes group and other access away from an existing directory (one made
/// by an earlier version, or by hand): it holds conversations and secrets.
pub fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode & 0o700))?;
        tracing::info!(path = %dir.display(), "data directory made private to this user (0700)");
    }
    Ok(())
}

/// Writes `raw` durably to `dir/name` (private to this user).
pub fn write_new(dir: &Path, name: &str, raw: &[u8]) -> std::io::Result<PathBuf> {
    private_dir(dir)?;
    let partial = dir.join(format!(".{name}.{}.partial", uuid::Uuid::now_v7().simple()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)?;
    file.write_all(raw)?;
    file.sync_all()?;
    let target = dir.join(name);
    fs::rename(&partial, &target)?;
    File::open(dir)?.sync_all()?;
    Ok(target)
}
