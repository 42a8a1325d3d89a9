//! Whether the database schema matches this binary. Started with
//! `database.migrate_on_start = false` and migrations pending, the server
//! answers every API request with 503 `migrations_pending` (instead of
//! failing on missing tables) and its workers wait, until `rapport
//! migrate` has run; it notices within seconds, and says so once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rapport_store::{Readiness, Store};

/// How often a server waiting for migrations looks again.
const RECHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct SchemaGate {
    current: Arc<AtomicBool>,
    /// The versions pending at start, for the error clients get.
    pending: Arc<str>,
}

impl SchemaGate {
    /// `pending`: the migrations not applied at start (none: current).
    pub fn new(pending: &[String]) -> SchemaGate {
        SchemaGate {
            current: Arc::new(AtomicBool::new(pending.is_empty())),
            pending: Arc::from(pending.join(", ")),
        }
    }

    /// The migrations that were pending at start.
    pub fn pending(&self) -> &str {
        &self.pending
    }

    /// Whether requests and workers may use the database.
    pub fn is_current(&self) -> bool {
        self.current.load(Ordering::Acquire)
    }

    /// While pending, looks again every few seconds; logs once when the
    /// schema became current.
    pub fn watch(&self, store: Store) {
        if self.is_current() {
            return;
        }
        let current = self.current.clone();
        actix_web::rt::spawn(async move {
            loop {
                tokio::time::sleep(RECHECK).await;
                let s = store.clone();
                let ready =
                    crate::blocking::spawn_unlimited(move || s.readiness(Duration::from_secs(2)))
                        .await
                        .ok()
                        .and_then(Result::ok);
                if ready == Some(Readiness::Ready) {
                    current.store(true, Ordering::Release);
                    tracing::info!("the database schema is current now; serving every request");
                    return;
                }
            }
        });
    }
}
