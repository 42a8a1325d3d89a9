//! The Rapport server: the `rapport` binary's configuration, HTTP routes,
//! authentication, background workers and command line. It composes every
//! other crate and is the only one that knows actix-web; nothing depends
//! on it but the binary and the end-to-end tests.

pub mod attachment_files;
pub mod audit_export;
pub mod auth;
pub mod blocking;
pub mod bundle;
pub mod changes;
pub mod chat;
pub mod cli;
pub mod config;
mod config_report;
pub mod durable;
pub mod http;
pub mod mail;
pub mod notify;
mod output;
pub mod secrets;
pub mod server;
pub mod state;
pub mod storage_health;
pub mod telemetry;
pub mod usecase;
