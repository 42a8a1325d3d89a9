//! Until the email outbox exists, messages Rapport would send (magic
//! links) are written as `.eml` files under `<data_dir>/mailbox/`, readable
//! by the owner only, so `make run` works without a mail server and nothing
//! secret reaches the logs.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rapport_domain::EmailAddress;

pub fn mailbox_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("mailbox")
}

/// Writes one plain-text message and returns its path.
pub fn deliver(
    data_dir: &Path,
    from_name: &str,
    to: &EmailAddress,
    subject: &str,
    body: &str,
) -> std::io::Result<PathBuf> {
    let dir = mailbox_dir(data_dir);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let id = uuid::Uuid::now_v7();
    let now = chrono::Utc::now();
    let path = dir.join(format!(
        "{}-{}.eml",
        now.format("%Y%m%dT%H%M%S"),
        id.simple()
    ));
    let safe = |s: &str| s.replace(['\r', '\n'], " ");
    let message = format!(
        "From: {} <no-reply@rapport.invalid>\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@rapport.invalid>\r\n\
         Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        safe(from_name),
        to,
        safe(subject),
        now.to_rfc2822(),
        id.simple(),
        body.replace('\n', "\r\n")
    );
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(message.as_bytes())?;
    file.sync_all()?;
    Ok(path)
}
