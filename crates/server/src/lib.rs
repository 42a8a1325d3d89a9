//! The Rapport server: the `rapport` binary's configuration, HTTP routes,
//! authentication, background workers and command line. It composes every
//! other crate and is the only one that knows actix-web; nothing depends
//! on it but the binary and the end-to-end tests.

pub mod auth;
pub mod blocking;
pub mod chat;
pub mod cli;
pub mod config;
mod config_report;
pub mod http;
pub mod mail;
mod output;
pub mod schema_gate;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod webhooks;

pub use rapport_app::{
    attachment_files, audit_export, bundle, changes, durable, notify, secrets, storage_health,
    usecase,
};
