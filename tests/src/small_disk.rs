//! A small file system of its own (tmpfs), for filling the disk under a
//! running server. Mounting needs root, which the test machines and CI
//! have; a test that cannot mount fails rather than pretending.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug)]
pub struct SmallDisk {
    /// The mount point, when made here.
    _made: Option<tempfile::TempDir>,
    path: PathBuf,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes` on a new directory (mode 0755, so the
    /// PostgreSQL server's user can reach a directory on it).
    pub fn mount(megabytes: u32) -> SmallDisk {
        let dir = tempfile::tempdir().expect("mount point");
        let mut disk = SmallDisk::mount_at(dir.path(), megabytes);
        disk._made = Some(dir);
        disk
    }

    /// Mounts the disk over the (empty) directory `path`.
    pub fn mount_at(path: &Path, megabytes: u32) -> SmallDisk {
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (this test needs root to fill a disk)",
            path.display()
        );
        SmallDisk {
            _made: None,
            path: path.to_path_buf(),
            filler: path.join("filler"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A directory on the disk owned by `user` (the PostgreSQL server's).
    pub fn dir_for(&self, name: &str, user: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::create_dir(&path).expect("directory on the small disk");
        let status = Command::new("chown")
            .arg(format!("{user}:{user}"))
            .arg(&path)
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown {user} {}", path.display());
        path
    }

    /// Writes a file until the disk has no byte left.
    pub fn fill(&self) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .expect("filler file");
        let mut chunk = vec![0_u8; 1 << 20];
        while !chunk.is_empty() {
            match file.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
                    chunk.truncate(chunk.len() / 2);
                }
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        file.sync_all().ok();
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("remove the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
