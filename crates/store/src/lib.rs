//! Rapport storage: the diesel schema, the migrations of both backends
//! (SQLite embedded, PostgreSQL in production), the connection pool and the
//! repositories, one module per aggregate.
//!
//! Every function here is blocking; callers on an async executor run them on
//! a blocking pool. A repository function that writes takes the connection
//! (the caller's transaction), never the pool, so that a change and its
//! audit event commit together.
//!
//! This crate knows diesel but never HTTP: it must not depend on actix,
//! on `rapport-server`, `rapport-chat` or `rapport-mail`.

pub mod account;
pub mod api_token;
pub mod appointment;
pub mod attachment;
pub mod audit;
pub mod audit_tree;
mod cached;
pub mod canned;
pub mod cards;
pub mod case;
pub mod case_notice;
pub mod category;
pub mod changes;
pub mod chat;
mod column;
mod connection;
pub mod consumer_cursor;
pub mod contact;
pub mod csat;
mod database_url;
mod error;
pub mod evidence;
mod flusher;
mod group_commit;
pub mod instance;
pub mod kb;
pub mod magic_link;
pub mod mail;
pub mod mail_choice;
mod migrations;
pub mod notify;
mod pool;
pub mod privileges;
mod raw;
pub mod report;
pub mod role_policy;
pub mod schema;
pub mod search;
pub mod session;
pub mod sla;
pub mod sso;
pub mod staff;
pub mod staff_invitation;
pub mod team;
mod time;
pub mod totp;
pub mod webhook;
mod write_scope;

pub use connection::{ConnectError, ConnectionManager, DbConnection};
pub use database_url::{Backend, DatabaseUrl, DatabaseUrlError};
/// The error diesel reports for a query; write transactions need to be
/// able to carry it.
pub use diesel::result::Error as QueryError;
pub use error::StoreError;
pub use flusher::HOLD_COMMITS_ENV;
pub use migrations::MigrationReport;
pub use pool::{PoolOptions, PooledConnection, Readiness, Store, savepoint, write_transaction};
pub use time::now_micros;
pub use write_scope::after_commit;
