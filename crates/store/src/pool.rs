use std::sync::Arc;
use std::time::Duration;

use crate::connection::{self, ConnectionManager, DbConnection};
use crate::database_url::{Backend, DatabaseUrl};
use crate::error::StoreError;
use crate::flusher::Flusher;
use crate::group_commit::GroupCommit;
use crate::migrations;
use crate::write_scope::WriteScope;

/// A connection of the pool, back in the pool when dropped. On SQLite the
/// drop returns only once every commit begun before then is on disk: the
/// group commit's writer commits before its fsync (see `flusher`), and
/// what this connection read must never be shown while a power loss could
/// still take it back. A read's answer is built after the connection is
/// dropped, so it waits there, usually not at all.
pub struct PooledConnection {
    /// `None` only while dropping.
    conn: Option<r2d2::PooledConnection<ConnectionManager>>,
    flusher: Option<Arc<Flusher>>,
}

impl std::ops::Deref for PooledConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        match &self.conn {
            Some(conn) => conn,
            None => unreachable!("a pooled connection is used after its drop"),
        }
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        match &mut self.conn {
            Some(conn) => conn,
            None => unreachable!("a pooled connection is used after its drop"),
        }
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        // Back to the pool first: others may read while this caller waits.
        drop(self.conn.take());
        if let Some(flusher) = &self.flusher {
            flusher.wait_for_reads();
        }
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.conn {
            Some(conn) => std::fmt::Debug::fmt(&**conn, f),
            None => f.write_str("PooledConnection (returned)"),
        }
    }
}

/// How the pool behaves; every field comes from the `[database]` config.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a free connection before it fails.
    pub acquire_timeout: Duration,
    pub sqlite_busy_timeout_ms: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

/// The database: a pool of connections to one backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: r2d2::Pool<ConnectionManager>,
    url: DatabaseUrl,
    /// SQLite only: where [`Store::write`] batches commits, and (its
    /// flusher) what makes them durable.
    group: Option<Arc<GroupCommit>>,
}

/// The SQLite database holds every conversation: its directory (when
/// created here) is for this user only (0700), and the file and its WAL
/// and shared-memory companions are 0600 (SQLite gives the companions the
/// main file's mode, so creating the file first settles theirs).
fn private_sqlite_files(path: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| StoreError::CreateDir { path, source }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(io(parent))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(io(&file))?;
        }
    }
    Ok(())
}

/// What `/readyz` reports about the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    MigrationsPending(Vec<String>),
}

impl Store {
    /// Opens the pool and one connection to prove the database is reachable,
    /// so a wrong URL or password fails at startup with the backend's own
    /// message instead of on the first request.
    pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Store, StoreError> {
        let hold = std::env::var_os(crate::flusher::HOLD_COMMITS_ENV).map(std::path::PathBuf::from);
        Store::connect_held_by(url, options, hold)
    }

    /// [`Store::connect`]; on SQLite no fsync runs while `hold` names a
    /// file (the fault the durability tests inject).
    pub(crate) fn connect_held_by(
        url: &DatabaseUrl,
        options: &PoolOptions,
        hold: Option<std::path::PathBuf>,
    ) -> Result<Store, StoreError> {
        if let DatabaseUrl::Sqlite { path } = url {
            private_sqlite_files(path)?;
        }
        // Connect once outside r2d2: its own error after a timeout only
        // says "timed out", never why.
        let mut first =
            connection::establish(url, options.sqlite_busy_timeout_ms).map_err(|reason| {
                StoreError::Connect {
                    url: url.redacted(),
                    reason,
                }
            })?;
        connection::warn_about_sqlite_build(&mut first);
        drop(first);
        let manager = ConnectionManager {
            url: url.clone(),
            sqlite_busy_timeout_ms: options.sqlite_busy_timeout_ms,
        };
        let pool = r2d2::Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(1))
            .connection_timeout(options.acquire_timeout)
            // Checked on checkout, but with a round trip only after the
            // connection was idle a while (see `ConnectionManager::is_valid`
            // and `has_broken`).
            .test_on_check_out(true)
            .build(manager)?;
        let group = match url {
            DatabaseUrl::Sqlite { path } => Some(Arc::new(GroupCommit::new(
                url.clone(),
                options.sqlite_busy_timeout_ms,
                Flusher::start_held_by(path, hold),
            ))),
            DatabaseUrl::Postgres { .. } => None,
        };
        Ok(Store {
            pool,
            url: url.clone(),
            group,
        })
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// Waits until every commit begun so far is on disk (at once on
    /// PostgreSQL, where a commit is visible only once durable). For a read
    /// that shows part of what it read before its connection is dropped,
    /// such as an export streamed while it is read; other reads wait when
    /// they drop their connection.
    pub fn wait_until_reads_durable(&self) {
        if let Some(flusher) = self.flusher() {
            flusher.wait_for_reads();
        }
    }

    /// SQLite only: the group commit's flusher.
    pub(crate) fn flusher(&self) -> Option<&Arc<Flusher>> {
        self.group.as_ref().map(|group| &group.flusher)
    }

    /// A connection from the pool, or `Unavailable` after the acquire timeout.
    pub fn conn(&self) -> Result<PooledConnection, StoreError> {
        Ok(PooledConnection {
            conn: Some(self.pool.get()?),
            flusher: self.flusher().cloned(),
        })
    }

    /// Migrations the database has that this binary does not know (it is
    /// older than the schema), and the newest one it knows.
    pub fn schema_newer_than_binary(&self) -> Result<Option<(Vec<String>, String)>, StoreError> {
        let mut conn = self.conn()?;
        let unknown = migrations::unknown_applied(&mut conn)?;
        if unknown.is_empty() {
            Ok(None)
        } else {
            Ok(Some((unknown, migrations::latest_known(&conn))))
        }
    }

    /// Versions of the migrations not yet applied, oldest first.
    pub fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn()?;
        migrations::pending(&mut conn)
    }

    /// Applies every pending migration of this backend, in order.
    pub fn migrate(&self) -> Result<migrations::MigrationReport, StoreError> {
        let mut conn = self.conn()?;
        migrations::run_pending(&mut conn)
    }

    /// Whether the database answers, its file is still in place (SQLite)
    /// and its schema is current. Waits at most `timeout` for a connection.
    pub fn readiness(&self, timeout: Duration) -> Result<Readiness, StoreError> {
        if let DatabaseUrl::Sqlite { path } = &self.url {
            // An open SQLite connection keeps working on a deleted file, and
            // everything written to it would be lost at the next start.
            if !path.exists() {
                return Err(StoreError::SqliteFileMissing(path.display().to_string()));
            }
        }
        if let Some(reason) = self.flusher().and_then(|f| f.failure()) {
            return Err(StoreError::NotDurable(reason));
        }
        let mut conn = self.pool.get_timeout(timeout)?;
        let pending = migrations::pending(&mut conn)?;
        if pending.is_empty() {
            Ok(Readiness::Ready)
        } else {
            Ok(Readiness::MigrationsPending(pending))
        }
    }

    /// Runs `f` in one write transaction: everything it writes commits
    /// together or not at all, and it returns only once that is durable.
    /// The audit events `f` records are appended after it, just before
    /// the commit (see [`crate::audit::append`]).
    /// On SQLite, concurrent calls share one commit (see `group_commit`).
    /// `f` must not call `write` itself: that is refused with
    /// [`StoreError::NestedWrite`]. What `f` hands to
    /// [`crate::after_commit`] runs once the write committed.
    pub fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError> + From<diesel::result::Error>,
    {
        let scope = WriteScope::enter()?;
        let work = |conn: &mut DbConnection| {
            let out = f(conn)?;
            crate::audit::append_recorded(conn)?;
            Ok(out)
        };
        let written = match &self.group {
            Some(group) => group.write(work),
            None => {
                let mut conn = self.conn()?;
                write_transaction(&mut conn, work)
            }
        };
        if written.is_ok() {
            scope.committed();
        }
        written
    }

    /// [`Store::write`] for a write that is one statement (an insert that
    /// yields on conflict, for instance): on PostgreSQL the statement runs
    /// as its own transaction, without the round trips of `BEGIN` and
    /// `COMMIT`, and is durable when it returns; on SQLite it joins the
    /// group commit like any write. `f` runs exactly one statement, takes
    /// no lock for later and records no audit event: an event recorded
    /// anyway fails the call on both backends (on PostgreSQL after its
    /// statement has committed alone).
    pub fn write_statement<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E>,
        E: From<StoreError> + From<diesel::result::Error>,
    {
        if self.group.is_some() {
            // The same contract on both backends, so a misuse fails in the
            // SQLite tests too.
            return self.write(|conn| {
                let out = f(conn)?;
                refuse_recorded_audit()?;
                Ok(out)
            });
        }
        let scope = WriteScope::enter()?;
        let out = f(&mut *self.conn()?)?;
        refuse_recorded_audit()?;
        scope.committed();
        Ok(out)
    }
}

/// For [`Store::write_statement`]: an audit event recorded in a write that
/// cannot keep it with its change fails the write.
fn refuse_recorded_audit() -> Result<(), StoreError> {
    let recorded = crate::write_scope::take_audit();
    if recorded.is_empty() {
        return Ok(());
    }
    tracing::error!(
        events = recorded.len(),
        "an audit event was recorded in a one-statement write"
    );
    Err(StoreError::AuditOutsideWrite)
}

/// Runs `f` inside the caller's transaction as a savepoint: if it fails,
/// only its own writes are undone, the audit events it recorded and the
/// append locks it took included, and the transaction goes on (on
/// PostgreSQL a failed statement would otherwise abort all of it).
pub fn savepoint<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let mark = crate::write_scope::mark();
    let result = diesel::Connection::transaction(conn, f);
    if result.is_err() {
        crate::write_scope::roll_back_to(mark);
    }
    result
}

/// One write transaction on a connection the caller already holds, with
/// its own commit. On SQLite the transaction takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred one that reads first could fail to
/// upgrade when another writer got in between.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return diesel::Connection::transaction(conn, f);
    }
    if let DbConnection::Sqlite(inner) = &mut *conn {
        AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
    }
    // Inside the immediate transaction, diesel's own transaction becomes a
    // savepoint; the outer one is committed or rolled back here.
    let result = diesel::Connection::transaction(&mut *conn, f);
    let DbConnection::Sqlite(inner) = conn else {
        return result;
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(inner)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(inner) {
                tracing::error!(error = %rollback, "rollback after a failed write failed");
            }
            Err(e)
        }
    }
}
