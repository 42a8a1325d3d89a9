//! What every request handler can reach: the application state the use
//! cases run with, and this node's live chat hub.

use std::ops::{Deref, DerefMut};

/// Shared server state. Cheap to clone. Dereferences to the application
/// state, so handlers pass `&state` straight to the use cases.
#[derive(Clone, Debug)]
pub struct AppState {
    pub app: rapport_app::AppState,
    /// This node's hub and the bus to the other nodes.
    pub live: crate::chat::Chat,
    /// This node's webhook worker (its place in the change log).
    pub webhooks: crate::webhooks::Dispatcher,
    /// Whether the schema is current (requests and workers wait otherwise).
    pub schema: crate::schema_gate::SchemaGate,
}

impl Deref for AppState {
    type Target = rapport_app::AppState;

    fn deref(&self) -> &rapport_app::AppState {
        &self.app
    }
}

impl DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut rapport_app::AppState {
        &mut self.app
    }
}
