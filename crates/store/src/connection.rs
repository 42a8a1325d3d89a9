use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

use crate::database_url::DatabaseUrl;

/// One connection type for both backends, so queries are written once.
/// Runs `$run` on whichever backend `$conn` is, with `$c` bound to that
/// backend's connection: for queries diesel types per backend (upserts,
/// `RETURNING` a selection), written once.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $run:expr) => {
        match $conn {
            $crate::connection::DbConnection::Postgres($c) => $run,
            $crate::connection::DbConnection::Sqlite($c) => $run,
        }
    };
}
pub(crate) use on_backend;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbConnection::Postgres(_) => f.write_str("DbConnection::Postgres"),
            DbConnection::Sqlite(_) => f.write_str("DbConnection::Sqlite"),
        }
    }
}

/// Statements run on every new SQLite connection. `busy_timeout` comes
/// first: switching to WAL needs a lock that a concurrently opening
/// connection may hold. `synchronous = FULL` makes a commit durable across
/// power loss, not only across a process crash: an acknowledged message or
/// audit event must survive both.
fn sqlite_init_sql(busy_timeout_ms: u32) -> String {
    format!(
        "PRAGMA busy_timeout = {busy_timeout_ms};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;"
    )
}

/// Runs the per-connection statements. Two connections switching a fresh
/// file to WAL at once can get "database is locked" at once: SQLite skips
/// the busy handler where waiting could deadlock. That case is retried
/// until the busy timeout has passed.
fn init_sqlite(conn: &mut SqliteConnection, busy_timeout_ms: u32) -> Result<(), String> {
    let sql = sqlite_init_sql(busy_timeout_ms);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(u64::from(busy_timeout_ms));
    loop {
        match conn.batch_execute(&sql) {
            Ok(()) => return Ok(()),
            Err(e) if e.to_string().contains("locked") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What `.cargo/config.toml` builds the bundled SQLite with, as
/// `PRAGMA compile_options` names it: `true` for an option that must be
/// there, `false` for one that must not.
const SQLITE_BUILD: [(&str, bool); 4] = [
    ("ENABLE_QPSG", true),
    ("DEFAULT_MEMSTATUS=0", true),
    ("ENABLE_MEMORY_MANAGEMENT", false),
    ("STMTJRNL_SPILL=4194304", true),
];

#[derive(diesel::QueryableByName)]
struct CompileOption {
    #[diesel(sql_type = diesel::sql_types::Text)]
    compile_options: String,
}

/// The build options of [`SQLITE_BUILD`] this SQLite gets wrong. A build
/// outside the repository's cargo configuration (`cargo install`, a
/// `LIBSQLITE3_FLAGS` of one's own) works, but slower: every statement
/// with a bound `LIMIT` is compiled on each run, and most grouped writes
/// write their savepoints' page copies to a temporary file.
pub(crate) fn sqlite_build_mismatches(conn: &mut SqliteConnection) -> Vec<&'static str> {
    use diesel::RunQueryDsl;
    match diesel::sql_query("PRAGMA compile_options").load::<CompileOption>(conn) {
        Ok(rows) => {
            let options: Vec<String> = rows.into_iter().map(|o| o.compile_options).collect();
            build_mismatches(&options)
        }
        Err(_) => Vec::new(),
    }
}

fn build_mismatches(options: &[String]) -> Vec<&'static str> {
    SQLITE_BUILD
        .iter()
        .filter(|(name, wanted)| options.iter().any(|o| o == name) != *wanted)
        .map(|(name, _)| *name)
        .collect()
}

/// Warns once, at start, when SQLite was built without the repository's
/// options, and says how to build it with them.
pub(crate) fn warn_about_sqlite_build(conn: &mut DbConnection) {
    let DbConnection::Sqlite(conn) = conn else {
        return;
    };
    let wrong = sqlite_build_mismatches(conn);
    if !wrong.is_empty() {
        tracing::warn!(
            options = ?wrong,
            "SQLite was built without this repository's options (.cargo/config.toml); \
             queries will be slower. Build from the repository root without LIBSQLITE3_FLAGS \
             set in the environment (`make build`, or `cargo build --release -p rapport-server`)"
        );
    }
}

/// Opens a connection of the backend the URL names and reports the
/// backend's own error message when that fails.
pub(crate) fn establish(
    url: &DatabaseUrl,
    sqlite_busy_timeout_ms: u32,
) -> Result<DbConnection, String> {
    match url {
        DatabaseUrl::Postgres { url } => {
            let mut conn =
                PgConnection::establish(url).map_err(|e| e.to_string().trim().to_owned())?;
            conn.set_instrumentation(FailureWatch {
                failed: false,
                last_used: std::time::Instant::now(),
                inner: diesel::connection::get_default_instrumentation(),
            });
            Ok(DbConnection::Postgres(conn))
        }
        DatabaseUrl::Sqlite { path } => {
            let path = path.to_str().ok_or("the SQLite path is not valid UTF-8")?;
            let mut conn = SqliteConnection::establish(path).map_err(|e| e.to_string())?;
            init_sqlite(&mut conn, sqlite_busy_timeout_ms)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// What the pool needs to know of a PostgreSQL connection without asking
/// the server: whether a query on it failed, and when it was last used.
/// A connection is checked with a round trip only when it comes back
/// after a failed query, or when it was idle long enough for the server
/// (a restart, an idle timeout, a proxy) to have dropped it; a busy pool
/// saves that round trip on every request.
struct FailureWatch {
    failed: bool,
    last_used: std::time::Instant,
    /// Events still reach the instrumentation installed process-wide, if
    /// any (the benchmarks count statements with it).
    inner: Option<Box<dyn Instrumentation>>,
}

/// Idle longer than this, a connection is checked before it is handed out.
const IDLE_BEFORE_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

impl Instrumentation for FailureWatch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = &event {
            self.failed |= error.is_some();
            self.last_used = std::time::Instant::now();
        }
        if let Some(inner) = &mut self.inner {
            inner.on_connection_event(event);
        }
    }
}

fn watch(conn: &mut PgConnection) -> Option<&mut FailureWatch> {
    conn.instrumentation().downcast_mut::<FailureWatch>()
}

/// The r2d2 manager of the pool: builds the variant from the URL scheme.
#[derive(Debug)]
pub struct ConnectionManager {
    pub(crate) url: DatabaseUrl,
    pub(crate) sqlite_busy_timeout_ms: u32,
}

/// Why the pool could not open or keep a connection, in the backend's words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectError(String);

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConnection, ConnectError> {
        // The file was created (or found) when the store opened; opening a
        // new pooled connection must not silently create an empty database
        // where the real one vanished.
        if let DatabaseUrl::Sqlite { path } = &self.url
            && !path.exists()
        {
            return Err(ConnectError(format!(
                "the SQLite database file {} is missing",
                path.display()
            )));
        }
        establish(&self.url, self.sqlite_busy_timeout_ms).map_err(ConnectError)
    }

    /// Called on every checkout: a round trip only for a connection idle
    /// long enough to have been dropped by the server. SQLite has no
    /// server to lose.
    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectError> {
        let DbConnection::Postgres(pg) = conn else {
            return Ok(());
        };
        if watch(pg).is_some_and(|w| w.last_used.elapsed() < IDLE_BEFORE_CHECK) {
            return Ok(());
        }
        pg.batch_execute("SELECT 1")
            .map_err(|e| ConnectError(e.to_string()))
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        match conn {
            DbConnection::Postgres(pg) => {
                let failed = watch(pg).is_some_and(|w| std::mem::take(&mut w.failed));
                diesel::r2d2::R2D2Connection::is_broken(pg)
                    || (failed && pg.batch_execute("SELECT 1").is_err())
            }
            DbConnection::Sqlite(sqlite) => diesel::r2d2::R2D2Connection::is_broken(sqlite),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    /// `.cargo/config.toml` builds the bundled SQLite without the
    /// process-wide locks on its page cache and allocations, and with plans
    /// that do not depend on bound values (so statements with `LIMIT ?`
    /// stay compiled); a build that lost those flags would be measurably
    /// slower, and the server warns at start.
    #[test]
    fn sqlite_is_built_for_a_pool_of_cached_statements() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        assert_eq!(
            super::sqlite_build_mismatches(&mut conn),
            Vec::<&str>::new()
        );
    }

    /// What the start-up warning names for libsqlite3-sys's own options.
    #[test]
    fn a_build_with_the_default_options_is_named_for_each_difference() {
        let defaults =
            ["ENABLE_MEMORY_MANAGEMENT", "ENABLE_FTS5", "THREADSAFE=1"].map(String::from);
        assert_eq!(
            super::build_mismatches(&defaults),
            [
                "ENABLE_QPSG",
                "DEFAULT_MEMSTATUS=0",
                "ENABLE_MEMORY_MANAGEMENT",
                "STMTJRNL_SPILL=4194304"
            ]
        );
    }

    #[derive(diesel::QueryableByName)]
    struct PlanStep {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }

    /// Plans no longer see bound values: a lookup by a bound value must
    /// still find a partial index whose condition the query implies by its
    /// shape (`x = ?` implies `x IS NOT NULL`), as a repeated chat message's
    /// lookup by client message id does.
    #[test]
    fn a_partial_index_serves_lookups_by_bound_values() {
        use diesel::connection::SimpleConnection;
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE entries (id TEXT PRIMARY KEY, author_id TEXT NOT NULL,
                 client_message_id TEXT);
             CREATE UNIQUE INDEX entries_client_message ON entries (author_id, client_message_id)
                 WHERE client_message_id IS NOT NULL;",
        )
        .unwrap();
        let plan: Vec<String> = diesel::sql_query(
            "EXPLAIN QUERY PLAN SELECT id FROM entries
             WHERE author_id = ? AND client_message_id = ? LIMIT ?",
        )
        .bind::<diesel::sql_types::Text, _>("a")
        .bind::<diesel::sql_types::Text, _>("m")
        .bind::<diesel::sql_types::BigInt, _>(1_i64)
        .load::<PlanStep>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|s| s.detail)
        .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX entries_client_message")),
            "{plan:?}"
        );
    }
}
