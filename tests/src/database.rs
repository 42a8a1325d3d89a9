use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test only.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// URL the server is given.
    pub url: String,
    /// A data directory the test may use for the server.
    pub dir: tempfile::TempDir,
    postgres: Option<PostgresDatabase>,
}

#[derive(Debug)]
struct PostgresDatabase {
    admin_url: String,
    name: String,
    /// A tablespace made for this database alone, dropped after it.
    tablespace: std::sync::Mutex<Option<String>>,
}

fn postgres_required() -> bool {
    std::env::var("RAPPORT_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
        || std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

impl TestDatabase {
    /// A fresh database, or `None` when PostgreSQL is not configured and
    /// not required. Panics when PostgreSQL is required but unreachable.
    pub fn create(backend: Backend) -> Option<TestDatabase> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("rapport.db").display());
                Some(TestDatabase {
                    backend,
                    url,
                    dir,
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("RAPPORT_TEST_POSTGRES") else {
                    assert!(
                        !postgres_required(),
                        "PostgreSQL tests are required here (CI) but RAPPORT_TEST_POSTGRES is not set"
                    );
                    crate::report_skip("the PostgreSQL leg: RAPPORT_TEST_POSTGRES is not set");
                    return None;
                };
                let name = format!("rapport_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = match PgConnection::establish(&admin_url) {
                    Ok(conn) => conn,
                    Err(e) if !postgres_required() => {
                        crate::report_skip(&format!(
                            "the PostgreSQL leg: cannot reach {admin_url}: {e}"
                        ));
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL is required but unreachable at {admin_url}: {e}"),
                };
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .expect("create test database");
                let url = replace_database(&admin_url, &name);
                Some(TestDatabase {
                    backend,
                    url,
                    dir,
                    postgres: Some(PostgresDatabase {
                        admin_url,
                        name,
                        tablespace: std::sync::Mutex::new(None),
                    }),
                })
            }
        }
    }

    /// Moves a fresh PostgreSQL database to a tablespace at `location` (a
    /// directory the server's user owns), so that its tables live there.
    pub fn move_to_tablespace(&self, location: &Path) {
        let pg = self.postgres.as_ref().expect("a PostgreSQL database");
        let tablespace = format!("{}_space", pg.name);
        let mut admin = PgConnection::establish(&pg.admin_url).expect("admin connection");
        diesel::sql_query(format!(
            "CREATE TABLESPACE {tablespace} LOCATION '{}'",
            location.display()
        ))
        .execute(&mut admin)
        .expect("create tablespace");
        *pg.tablespace.lock().unwrap_or_else(|e| e.into_inner()) = Some(tablespace.clone());
        diesel::sql_query(format!(
            "ALTER DATABASE {} SET TABLESPACE {tablespace}",
            pg.name
        ))
        .execute(&mut admin)
        .expect("move the database to the tablespace");
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.url.strip_prefix("sqlite://").map(PathBuf::from)
    }

    /// Makes the database disappear under a running server: the SQLite
    /// file is deleted, the PostgreSQL database dropped with its sessions.
    pub fn destroy(&self) {
        match &self.postgres {
            None => {
                let path = self.sqlite_path().expect("sqlite url");
                std::fs::remove_file(&path).expect("remove database file");
            }
            Some(pg) => drop_database(pg),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(pg) = &self.postgres {
            drop_database(pg);
        }
    }
}

fn drop_database(pg: &PostgresDatabase) {
    // The server under test may still hold connections: FORCE ends them.
    for _ in 0..3 {
        let dropped = PgConnection::establish(&pg.admin_url).is_ok_and(|mut admin| {
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name))
                .execute(&mut admin)
                .is_ok()
        });
        if dropped {
            let space = pg
                .tablespace
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if let (Some(space), Ok(mut admin)) = (space, PgConnection::establish(&pg.admin_url)) {
                let _ = diesel::sql_query(format!("DROP TABLESPACE IF EXISTS {space}"))
                    .execute(&mut admin);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `postgres://u@h:5432/postgres?x=y` with `name` as the database.
fn replace_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_name_is_swapped_in_the_url() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "t3"), "postgres://h/t3");
    }
}
