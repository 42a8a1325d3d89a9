//! A received message's original bytes. Up to [`IN_DATABASE_MAX_BYTES`]
//! they are kept in the database, written in the transaction that records
//! the message, so the commit's one flush makes both durable before a door
//! says yes (a spool file would cost a flush of the file and one of its
//! directory besides). Larger messages are spooled to a file first, outside
//! the writer's lock; so are those received before the database kept any.

use std::path::Path;

use rapport_store::DbConnection;
use rapport_store::StoreError;
use rapport_store::mail as store_mail;

use super::spool;

/// The largest original kept in the database: a usual email with its HTML
/// and a small attachment or two. Larger ones would hold the single
/// SQLite writer while their bytes are written.
pub const IN_DATABASE_MAX_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OriginalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the spooled message cannot be read: {0}")]
    File(#[from] std::io::Error),
}

/// Whether these bytes are kept in the database rather than spooled.
pub fn in_database(raw: &[u8]) -> bool {
    raw.len() <= IN_DATABASE_MAX_BYTES
}

/// The original bytes, wherever they are kept; `None` when they are gone
/// (redacted).
pub fn read(
    conn: &mut DbConnection,
    data_dir: &Path,
    sha256: &str,
) -> Result<Option<Vec<u8>>, OriginalError> {
    if let Some(raw) = store_mail::original(conn, sha256)? {
        return Ok(Some(raw));
    }
    match spool::read(data_dir, sha256) {
        Ok(raw) => Ok(Some(raw)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
