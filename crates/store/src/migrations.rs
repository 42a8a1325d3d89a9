use diesel::RunQueryDsl;
use diesel::connection::Connection;
use diesel::migration::MigrationSource;
use diesel::migration::MigrationVersion;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::connection::DbConnection;
use crate::error::StoreError;

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// Versions applied by this run, oldest first; empty when the schema
    /// was already current.
    pub applied: Vec<String>,
}

fn versions(list: Vec<MigrationVersion<'_>>) -> Vec<String> {
    list.into_iter().map(|v| v.to_string()).collect()
}

/// Arbitrary key of the PostgreSQL advisory lock that serialises
/// migration runs of several nodes starting at once.
const MIGRATION_LOCK_KEY: i64 = 0x5241_5050_4f52_5401;

type HarnessError = Box<dyn std::error::Error + Send + Sync>;

/// Applies pending migrations under a database-wide lock, so nodes that
/// start together never race on the same migration: the second one waits,
/// then finds nothing left to do.
pub(crate) fn run_pending(conn: &mut DbConnection) -> Result<MigrationReport, StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => {
            c.immediate_transaction(|c| c.run_pending_migrations(SQLITE).map(versions))
        }
        DbConnection::Postgres(c) => c.transaction(|c| {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .execute(c)?;
            c.run_pending_migrations(POSTGRES).map(versions)
        }),
    }
    .map_err(|e: HarnessError| StoreError::Migration(e.to_string()))?;
    Ok(MigrationReport { applied })
}

/// Migrations this binary has that the database has not applied.
pub(crate) fn pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let applied = applied(conn)?;
    Ok(known_for(conn)
        .into_iter()
        .filter(|v| !applied.contains(v))
        .collect())
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

#[derive(diesel::QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    found: bool,
}

/// The versions the database has applied, read without the migration
/// harness: it would create its table first, and a server role that owns
/// nothing may not create anything (docs/operations.md, Least privilege).
fn applied(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let exists = match conn {
        DbConnection::Postgres(_) => {
            "SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS found"
        }
        DbConnection::Sqlite(_) => {
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' \
             AND name = '__diesel_schema_migrations') AS found"
        }
    };
    let found: Exists = diesel::sql_query(exists).get_result(conn)?;
    if !found.found {
        return Ok(Vec::new());
    }
    Ok(
        diesel::sql_query("SELECT version FROM __diesel_schema_migrations")
            .load::<Version>(conn)?
            .into_iter()
            .map(|v| v.version)
            .collect(),
    )
}

fn known_for(conn: &DbConnection) -> Vec<String> {
    match conn {
        DbConnection::Sqlite(_) => known::<diesel::sqlite::Sqlite>(&SQLITE),
        DbConnection::Postgres(_) => known::<diesel::pg::Pg>(&POSTGRES),
    }
}

/// The newest migration this binary carries.
pub fn latest_known(conn: &DbConnection) -> String {
    known_for(conn).last().cloned().unwrap_or_default()
}

fn known<DB: diesel::backend::Backend>(source: &EmbeddedMigrations) -> Vec<String>
where
    EmbeddedMigrations: MigrationSource<DB>,
{
    let mut versions: Vec<String> = MigrationSource::<DB>::migrations(source)
        .map(|list| {
            list.iter()
                .map(|m| m.name().version().to_string())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
}

/// Migrations the database has that this binary does not know: the schema
/// is newer than the binary (an older release started after an upgrade).
pub(crate) fn unknown_applied(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let known = known_for(conn);
    let mut unknown: Vec<String> = applied(conn)?
        .into_iter()
        .filter(|v| !known.contains(v))
        .collect();
    unknown.sort();
    Ok(unknown)
}
