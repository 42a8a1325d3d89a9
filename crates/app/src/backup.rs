//! A consistent online copy of everything a restore needs, and the
//! restore: the database (SQLite's `VACUUM INTO`, PostgreSQL's `pg_dump`),
//! the secrets, attachments, the mail spool and the audit checkpoints
//! file, with a manifest of SHA-256 sums checked before anything is
//! restored.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use rapport_store::{DatabaseUrl, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What of the data directory a backup holds (attachments' half-received
/// uploads and the outgoing-mail folder of the file transport do not
/// belong in one).
const KEPT: &[&str] = &["secrets", "attachments", "mail/spool", "audit"];
const SKIPPED: &[&str] = &["attachments/tmp"];
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "rapport.db";
const PG_DUMP_FILE: &str = "database.pgdump";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] rapport_store::StoreError),
    #[error("{0}")]
    Tool(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The database copy among `files`.
    pub database: String,
    pub files: Vec<FileSum>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileSum {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

fn sum(path: &Path) -> Result<(String, u64), BackupError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), bytes))
}

fn empty_or_absent(dir: &Path) -> bool {
    fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Every file under `dir`, relative to `root`.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), BackupError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if SKIPPED.iter().any(|s| rel == Path::new(s)) {
            continue;
        }
        if path.is_dir() {
            files_under(root, &path, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    if let Some(parent) = to.parent() {
        crate::durable::private_dir(parent).map_err(io(parent))?;
    }
    fs::copy(from, to).map_err(io(from))?;
    fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(io(to))?;
    Ok(())
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Writes a backup into `dest` (absent or empty); `progress` hears each
/// step. Safe while the server runs: the database copy is consistent.
pub fn create(
    store: &Store,
    data_dir: &Path,
    dest: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Manifest, BackupError> {
    if !empty_or_absent(dest) {
        return Err(BackupError::Usage(format!(
            "{} is not empty; back up into a new directory",
            dest.display()
        )));
    }
    crate::durable::private_dir(dest).map_err(io(dest))?;
    let database = match store.url() {
        DatabaseUrl::Sqlite { .. } => {
            progress("copying the database (SQLite VACUUM INTO)");
            let target = dest.join(SQLITE_FILE);
            let quoted = target.display().to_string().replace('\'', "''");
            diesel::RunQueryDsl::execute(
                diesel::sql_query(format!("VACUUM INTO '{quoted}'")),
                &mut *store.conn()?,
            )
            .map_err(rapport_store::StoreError::from)?;
            SQLITE_FILE
        }
        DatabaseUrl::Postgres { url } => {
            progress("copying the database (pg_dump)");
            let target = dest.join(PG_DUMP_FILE);
            let out = Command::new("pg_dump")
                .args(["--format=custom", "--no-owner", "--file"])
                .arg(&target)
                .arg(url)
                .output()
                .map_err(|e| {
                    BackupError::Tool(format!(
                        "pg_dump could not run ({e}); install the PostgreSQL client (Debian: postgresql-client) or run `pg_dump --format=custom --file {} <database url>` yourself",
                        target.display()
                    ))
                })?;
            if !out.status.success() {
                return Err(BackupError::Tool(format!(
                    "pg_dump failed: {}; the database role needs to read every table",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            PG_DUMP_FILE
        }
    };
    let mut rel = Vec::new();
    for kept in KEPT {
        files_under(data_dir, &data_dir.join(kept), &mut rel)?;
    }
    progress(&format!(
        "copying {} files of the data directory",
        rel.len()
    ));
    for r in &rel {
        copy_file(&data_dir.join(r), &dest.join(r))?;
    }
    let mut files = Vec::new();
    for r in std::iter::once(PathBuf::from(database)).chain(rel) {
        let (sha256, bytes) = sum(&dest.join(&r))?;
        files.push(FileSum {
            path: slash(&r),
            sha256,
            bytes,
        });
    }
    let manifest = Manifest {
        format: 1,
        created_at: rapport_audit::format_at(&chrono::Utc::now()),
        backend: store.backend().to_string(),
        database: database.to_owned(),
        files,
    };
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| BackupError::Tool(format!("manifest: {e}")))?;
    crate::durable::write_new(dest, MANIFEST, text.as_bytes()).map_err(io(dest))?;
    progress("manifest written");
    Ok(manifest)
}

/// Reads a backup's manifest and checks every file against it.
pub fn check(src: &Path) -> Result<Manifest, BackupError> {
    let path = src.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| BackupError::Damaged(format!("manifest.json: {e}")))?;
    for f in &manifest.files {
        if f.path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(BackupError::Damaged(format!("unsafe path {}", f.path)));
        }
        let (sha256, bytes) = sum(&src.join(&f.path))?;
        if sha256 != f.sha256 || bytes != f.bytes {
            return Err(BackupError::Damaged(format!(
                "{} differs from the manifest (SHA-256 {sha256}, expected {})",
                f.path, f.sha256
            )));
        }
    }
    Ok(manifest)
}

/// Restores `src` into an empty data directory and an empty database.
pub fn restore(
    url: &DatabaseUrl,
    data_dir: &Path,
    src: &Path,
    mut progress: impl FnMut(&str),
) -> Result<Manifest, BackupError> {
    progress("checking the backup against its manifest");
    let manifest = check(src)?;
    if data_dir.join("secrets").exists() {
        return Err(BackupError::Usage(format!(
            "{} already holds an installation (secrets/); restore into an empty data directory",
            data_dir.display()
        )));
    }
    crate::durable::private_dir(data_dir).map_err(io(data_dir))?;
    match (url, manifest.backend.as_str()) {
        (DatabaseUrl::Sqlite { path }, "sqlite") => {
            if path.exists() {
                return Err(BackupError::Usage(format!(
                    "{} exists; restore into a new database file",
                    path.display()
                )));
            }
            progress("restoring the database file");
            copy_file(&src.join(&manifest.database), path)?;
        }
        (DatabaseUrl::Postgres { url }, "postgres") => {
            progress("restoring the database (pg_restore)");
            let out = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error", "--dbname"])
                .arg(url)
                .arg(src.join(&manifest.database))
                .output()
                .map_err(|e| {
                    BackupError::Tool(format!(
                        "pg_restore could not run ({e}); install the PostgreSQL client"
                    ))
                })?;
            if !out.status.success() {
                return Err(BackupError::Tool(format!(
                    "pg_restore failed: {}; restore into an empty database",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        (_, backend) => {
            return Err(BackupError::Usage(format!(
                "this backup is of a {backend} database; point database.url at one"
            )));
        }
    }
    progress("restoring the data directory");
    for f in manifest
        .files
        .iter()
        .filter(|f| f.path != manifest.database)
    {
        copy_file(&src.join(&f.path), &data_dir.join(&f.path))?;
    }
    Ok(manifest)
}
