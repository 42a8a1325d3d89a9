//! Rapport's application layer: the use cases. Every change to Rapport's
//! state goes through a use case here, whichever channel asked for it
//! (HTTP, websocket, LMTP, CLI, worker): it checks access, writes the
//! change, its audit event and its committed changes in one transaction,
//! and returns what happened or one typed error ([`usecase::UseCaseError`]).
//!
//! This crate knows nothing of HTTP: it never imports actix, clap or
//! figment. It composes domain, audit, store, mail and chat protocol
//! types; the server maps its results and errors to each channel.

pub mod attachment_files;
pub mod audit_export;
pub mod auth;
pub mod backup;
pub mod bundle;
pub mod changes;
pub mod chat;
pub mod config;
pub mod durable;
pub mod mail;
pub mod notify;
pub mod read_cache;
pub mod secrets;
pub mod state;
pub mod storage_health;
pub mod usecase;

pub use state::AppState;
