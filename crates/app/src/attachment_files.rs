//! Attachment content on disk: written to a temporary file while it
//! arrives (hashed and counted on the way, so memory stays flat), fsynced,
//! then renamed to `<data_dir>/attachments/<aa>/<bb>/<sha256>`. Identical
//! files are stored once.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A file that has arrived and waits to be attached.
#[derive(Debug)]
pub struct Upload {
    pub temp_path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub filename: String,
    pub content_type: String,
}

impl Upload {
    /// Removes the temporary file when the upload is not used.
    pub fn discard(&self) {
        let _ = fs::remove_file(&self.temp_path);
    }
}

/// Receives one file's bytes.
#[derive(Debug)]
pub struct Receiving {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
}

pub fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("attachments")
}

impl Receiving {
    pub fn start(data_dir: &Path) -> std::io::Result<Receiving> {
        let tmp = root(data_dir).join("tmp");
        crate::durable::private_dir(&tmp)?;
        let path = tmp.join(uuid::Uuid::now_v7().simple().to_string());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Receiving {
            file,
            path,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.head.len() < 8_192 {
            let take = (8_192 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk)
    }

    pub fn abort(self) {
        let _ = fs::remove_file(&self.path);
    }

    /// Flushes to disk and describes the upload; the type comes from the
    /// content, never from what the client claims.
    pub fn finish(self, filename: &str) -> std::io::Result<Upload> {
        self.file.sync_all()?;
        let content_type = infer::get(&self.head)
            .map(|t| t.mime_type().to_owned())
            .unwrap_or_else(|| {
                if std::str::from_utf8(&self.head).is_ok() {
                    "text/plain".to_owned()
                } else {
                    "application/octet-stream".to_owned()
                }
            });
        Ok(Upload {
            temp_path: self.path,
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            filename: clean_filename(filename),
            content_type,
        })
    }
}

/// Where content with this hash lives.
pub fn content_path(data_dir: &Path, sha256: &str) -> PathBuf {
    root(data_dir)
        .join(&sha256[..2])
        .join(&sha256[2..4])
        .join(sha256)
}

/// Moves an upload to its content address (or drops it when that content
/// is already stored).
pub fn keep(data_dir: &Path, upload: &Upload) -> std::io::Result<PathBuf> {
    let target = content_path(data_dir, &upload.sha256);
    if target.exists() {
        upload.discard();
        return Ok(target);
    }
    if let Some(parent) = target.parent() {
        crate::durable::private_dir(parent)?;
    }
    fs::rename(&upload.temp_path, &target)?;
    if let Some(parent) = target.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(target)
}

/// Content is placed before its row commits (so a committed row always
/// finds its file); a transaction that then rolls back leaves the file
/// behind. Files older than `grace` (far longer than any transaction) that
/// `referenced` does not know, and abandoned uploads, are removed. Returns
/// how many files went.
pub fn sweep_unreferenced<E>(
    data_dir: &Path,
    grace: std::time::Duration,
    mut referenced: impl FnMut(&str) -> Result<bool, E>,
) -> Result<usize, E> {
    let old_enough = |path: &Path| {
        fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= grace)
    };
    let files = |dir: &Path| -> Vec<PathBuf> {
        fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let mut removed = 0;
    let root = root(data_dir);
    for path in files(&root.join("tmp")) {
        if old_enough(&path) && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    for first in files(&root)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.len() == 2))
    {
        for second in files(&first) {
            for path in files(&second) {
                let Some(sha) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
                    continue;
                };
                if sha.len() == 64
                    && old_enough(&path)
                    && !referenced(&sha)?
                    && fs::remove_file(&path).is_ok()
                {
                    removed += 1;
                }
            }
        }
    }
    Ok(removed)
}

/// A file name safe to show and to put in a header: no directories, no
/// control characters or quotes, at most 200 characters.
pub fn clean_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != ';')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// Types a browser could run as a page or script are served as opaque bytes.
pub fn served_type(content_type: &str) -> &str {
    let risky = ["html", "xml", "svg", "javascript", "ecmascript", "x-sh"];
    if risky.iter().any(|r| content_type.contains(r)) {
        "application/octet-stream"
    } else {
        content_type
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_paths_and_header_breakers() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(
            clean_filename("C:\\Users\\x\\invoice \"Q3\".pdf"),
            "invoice Q3.pdf"
        );
        assert_eq!(clean_filename("..."), "attachment");
        assert_eq!(clean_filename("a\r\nb.txt"), "ab.txt");
    }

    #[test]
    fn page_like_types_are_never_served_as_such() {
        assert_eq!(served_type("text/html"), "application/octet-stream");
        assert_eq!(served_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(served_type("application/pdf"), "application/pdf");
    }

    #[test]
    fn identical_content_is_stored_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = Vec::new();
        for _ in 0..2 {
            let mut r = Receiving::start(dir.path()).expect("start");
            r.write(b"%PDF-1.4 test").expect("write");
            let upload = r.finish("a.pdf").expect("finish");
            assert_eq!(upload.content_type, "application/pdf");
            paths.push(keep(dir.path(), &upload).expect("keep"));
        }
        assert_eq!(paths[0], paths[1]);
        assert_eq!(
            fs::read_dir(root(dir.path()).join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }
}
