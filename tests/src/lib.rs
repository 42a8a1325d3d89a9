//! The end-to-end test harness: starts the real Rapport server on a random
//! port against a fresh database (an SQLite file in a temporary directory,
//! or a PostgreSQL database created for the test and dropped after it) and
//! talks to it over HTTP. Also runs the real `rapport` binary.
//!
//! PostgreSQL tests use the server named by `RAPPORT_TEST_POSTGRES`
//! (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`).
//! When it is unset or unreachable they are skipped, unless
//! `RAPPORT_TEST_REQUIRE_POSTGRES=1` or `CI=true`: then they fail.
//!
//! A skipped test still shows as passed in cargo's summary, so each skip
//! is reported on its own: a `SKIPPED` line on the terminal (written past
//! the test's output capture) and a line in the file named by
//! `RAPPORT_TEST_SKIPS`, which `make test` counts at the end.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

pub mod axe;
pub mod browser;
pub mod chat_client;
mod database;
pub mod http;
pub mod idp;
pub mod invariants;
mod process;
pub mod seed;
mod server;
pub mod small_disk;
pub mod smtp_sink;
pub mod statements;

pub use chat_client::ChatClient;
pub use database::{Backend, TestDatabase};
pub use process::{RapportProcess, run_rapport};
pub use server::{Response, TestApp, send_to};

/// Reports that the running test skips some or all of what it checks.
pub fn report_skip(why: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let line = format!("SKIPPED {test}: {why}\n");
    // Straight to the terminal: the harness captures print! and eprint!.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Ok(path) = std::env::var("RAPPORT_TEST_SKIPS")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// Runs `async fn name(db: &TestDatabase)` once per backend, as the tests
/// `name::sqlite` and `name::postgres`, each on a fresh database, and then
/// checks what must hold after any test ([`invariants::check`]). The test
/// body is an ordinary function, so rustfmt formats it.
#[macro_export]
macro_rules! e2e_test {
    ($name:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                let db = $crate::TestDatabase::create($crate::Backend::Sqlite)
                    .expect("SQLite always works");
                super::$name(&db).await;
                $crate::invariants::check(&db);
            }

            #[actix_web::test]
            async fn postgres() {
                if let Some(db) = $crate::TestDatabase::create($crate::Backend::Postgres) {
                    super::$name(&db).await;
                    $crate::invariants::check(&db);
                }
            }
        }
    };
}

/// Path of the `rapport` binary built for these tests.
#[macro_export]
macro_rules! rapport_bin {
    () => {
        env!("CARGO_BIN_EXE_rapport-e2e")
    };
}
