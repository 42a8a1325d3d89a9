//! Rapport audit log: the audit event, its canonical encoding, the per-stream
//! hash chain, export formats, signing and offline verification.
//!
//! No IO beyond `Read`/`Write`: this crate must never depend on diesel,
//! actix or any Rapport crate other than `rapport-domain`.
