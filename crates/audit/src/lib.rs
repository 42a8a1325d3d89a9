//! Rapport audit log: the audit event, its canonical encoding (RFC 8785),
//! the per-stream SHA-256 hash chain, the export formats (JSON Lines, CSV)
//! with their Ed25519-signed manifest, and the offline verifier. The format
//! is specified in `docs/audit-format.md`.
//!
//! No IO beyond `Read`/`Write`: this crate must never depend on diesel,
//! actix or any Rapport crate other than `rapport-domain`. Storage seals
//! events with [`seal`] inside its own transactions.

pub mod canonical;
mod chain;
mod compare;
mod event;
mod export;
mod hash;
mod manifest;
pub mod merkle;
mod signing;
mod verify;

pub use chain::{ChainHead, seal};
pub use compare::{CompareReport, compare_exports};
pub use event::{
    Action, Actor, ActorKind, AuditEvent, EventError, MAX_DATA_BYTES, NewEvent, StreamName,
    Subject, format_at, hash_of_unhashed, to_micros,
};
pub use export::{CSV_HEADER, CSV_MANIFEST_MARKER, ExportError, ExportFormat, ExportWriter};
pub use hash::{EventHash, HashParseError};
pub use manifest::{ExportFilter, ExportMeta, FORMAT_VERSION, StreamSummary, manifest_value};
pub use signing::{AuditPublicKey, AuditSigner, KeyError};
pub use verify::{VerifyFailure, VerifyReport, verify_export};
