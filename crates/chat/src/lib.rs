//! Rapport live chat: the websocket protocol, per-case rooms, presence and
//! typing, and the fan-out bus between server nodes.
//!
//! Depends on `rapport-domain` only; it reaches storage through small
//! traits that the server implements, and never imports diesel, actix-web
//! routing, `rapport-store` or `rapport-server`. The protocol lands with
//! the live chat work.
