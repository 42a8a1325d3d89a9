/// What went wrong in storage, in storage's words. The server maps these
/// to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL: {0}")]
    Url(#[from] crate::DatabaseUrlError),
    #[error("cannot open the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("no database connection available: {0}")]
    Unavailable(#[from] r2d2::Error),
    #[error("cannot create the directory {path} for the SQLite database: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the SQLite database file {0} is missing")]
    SqliteFileMissing(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid audit event: {0}")]
    AuditEvent(#[from] rapport_audit::EventError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the database's storage is full: {0}")]
    StorageFull(String),
    #[error("the write could not be committed: {0}")]
    CommitFailed(String),
    /// The WAL could not be synced: what was committed since the last
    /// fsync may not be on disk, and nothing more is acknowledged.
    #[error("the database could not make writes durable: {0}")]
    NotDurable(String),
    #[error("a write was started inside another write on the same thread")]
    NestedWrite,
    #[error("an audit event was recorded in a write that cannot keep it with its change")]
    AuditOutsideWrite,
    #[error("database error: {0}")]
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    /// A full disk is the operator's to fix and the client's to retry, not
    /// a fault in the request. Neither backend gives diesel a code for it
    /// (SQLite's SQLITE_FULL and PostgreSQL's 53100 arrive as text), so the
    /// message decides.
    fn from(e: diesel::result::Error) -> Self {
        // A value that does not read as its type (an unknown status, an id
        // that is not a UUID, broken JSON) is damaged data, not a fault of
        // the query.
        if let diesel::result::Error::DeserializationError(cause) = &e {
            // diesel names the field; its source names the value.
            let mut why = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                why.push_str(": ");
                why.push_str(&s.to_string());
                source = s.source();
            }
            return StoreError::Corrupt(why);
        }
        if let diesel::result::Error::DatabaseError(_, info) = &e {
            let message = info.message();
            if reads_as_storage_full(message) {
                return StoreError::StorageFull(message.to_owned());
            }
        }
        StoreError::Database(e)
    }
}

fn reads_as_storage_full(message: &str) -> bool {
    [
        "database or disk is full",
        "No space left on device",
        "could not extend file",
    ]
    .iter()
    .any(|m| message.contains(m))
}

impl StoreError {
    /// A shared commit that failed, as each of its writers sees it.
    pub(crate) fn commit_failed(reason: &str) -> StoreError {
        if reads_as_storage_full(reason) {
            StoreError::StorageFull(reason.to_owned())
        } else {
            StoreError::CommitFailed(reason.to_owned())
        }
    }
}

impl From<rapport_domain::IdParseError> for StoreError {
    fn from(e: rapport_domain::IdParseError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<rapport_domain::UnknownText> for StoreError {
    fn from(e: rapport_domain::UnknownText) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// A row with the same key is already there.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the database could not be reached, as opposed to a query
    /// that reached it and failed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Connect { .. }
                | StoreError::SqliteFileMissing(_)
        ) || matches!(
            self,
            StoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection,
                _
            ))
        )
    }
}
