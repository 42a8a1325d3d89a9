//! Rapport email: inbound MIME parsing, threading keys, loop detection,
//! quote stripping, the LMTP listener; outbound message building and SMTP.
//!
//! Depends on `rapport-domain` only; storage comes through small traits
//! that the server implements. It must never import diesel,
//! `rapport-store` or `rapport-server`. The pipeline lands with the email work.
