//! What every use case can reach.

use std::sync::Arc;

use rapport_store::Store;

use crate::auth::throttle::LoginThrottle;
use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::secrets::Secrets;

/// Shared application state. Cheap to clone: everything is behind `Arc` or
/// is itself a handle.
#[derive(Clone, Debug)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub secrets: Arc<Secrets>,
    pub tokens: Arc<TokenKeys>,
    pub throttle: Arc<LoginThrottle>,
    /// Failed sign-ins per key many people share (client IP, client
    /// account), with a higher threshold than `throttle`.
    pub shared_throttle: Arc<LoginThrottle>,
    /// Live notifications to connected staff.
    pub notifier: crate::notify::Notifier,
    /// Live chat: views of entries and people, connections, this node's rooms.
    pub chat: crate::chat::ChatState,
    /// Email identity (address, signed reply addresses) and the workers' wake-up.
    pub mail: crate::mail::Mail,
    /// Whether writes fail for a full disk (readiness reports it).
    pub storage: crate::storage_health::StorageHealth,
    /// What the hottest reads serve from memory, dropped by the committed
    /// changes that touch it.
    pub reads: Arc<crate::read_cache::Reads>,
    /// Where links in mail point (see [`crate::config::Config::public_url`]).
    pub public_url: Arc<str>,
}

impl AppState {
    /// Where people reach this server, without a trailing slash, for
    /// links in mail.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}
