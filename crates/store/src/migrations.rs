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

pub(crate) fn run_pending(conn: &mut DbConnection) -> Result<MigrationReport, StoreError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE).map(versions),
        DbConnection::Postgres(c) => c.run_pending_migrations(POSTGRES).map(versions),
    }
    .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(MigrationReport { applied })
}

pub(crate) fn pending(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    let pending = match conn {
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE).map(|list| {
            list.iter()
                .map(|m| m.name().version().to_string())
                .collect()
        }),
        DbConnection::Postgres(c) => c.pending_migrations(POSTGRES).map(|list| {
            list.iter()
                .map(|m| m.name().version().to_string())
                .collect()
        }),
    };
    pending.map_err(|e| StoreError::Migration(e.to_string()))
}
