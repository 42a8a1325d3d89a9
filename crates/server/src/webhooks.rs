//! The webhook worker of this node: turns committed changes into
//! deliveries and sends those due, signed (`usecase::webhooks` decides
//! what is sent when; this is the HTTP side). Several nodes may run it:
//! queuing is idempotent and each attempt is leased to one node.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::changes::Cursor;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::webhooks::{self, Outcome, Outgoing};

/// How often the change log and the due deliveries are looked at.
const EVERY: Duration = Duration::from_millis(500);
/// How long a receiver may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent per round.
const BATCH: i64 = 50;
/// What is read of a receiver's answer.
const BODY_READ: usize = 64 * 1024;

/// Where this node is in the change log.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    cursor: Arc<Mutex<Option<Cursor>>>,
}

/// The HTTP client deliveries go out with (one per worker task: it is
/// not shared between threads).
pub fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(TIMEOUT)
        .disable_redirects()
        .finish()
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub queued: usize,
    pub sent: usize,
}

impl Dispatcher {
    /// Queues new events and sends what is due at `now` (tests pass a
    /// later `now` to walk the retry schedule).
    pub async fn run_once(
        &self,
        state: &AppState,
        client: &awc::Client,
        now: DateTime<Utc>,
    ) -> Result<Round, UseCaseError> {
        let (s, cursor) = (state.clone(), self.cursor.clone());
        let queued = crate::blocking::call(move || {
            let mut guard = cursor.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                // From the start of the log the first time: endpoints only
                // take what was committed after they were registered.
                let mut conn = s.store.conn()?;
                *guard = Some(Cursor::starting_at(rapport_store::consumer_cursor::cursor(
                    &mut conn,
                    webhooks::CONSUMER,
                    0,
                )?));
            }
            match guard.as_mut() {
                Some(c) => webhooks::dispatch(&s, c),
                None => Ok(0),
            }
        })
        .await?;
        let s = state.clone();
        let due = crate::blocking::call(move || webhooks::take_due(&s, now, BATCH)).await?;
        let sent = due.len();
        for out in due {
            let outcome = send(client, &out).await;
            let s = state.clone();
            crate::blocking::call(move || webhooks::attempted(&s, &out.delivery, &outcome, now))
                .await?;
        }
        Ok(Round { queued, sent })
    }
}

async fn send(client: &awc::Client, out: &Outgoing) -> Outcome {
    let sent = client
        .post(&out.url)
        .insert_header(("content-type", "application/json"))
        .insert_header((
            "user-agent",
            concat!("Rapport-Webhooks/", env!("CARGO_PKG_VERSION")),
        ))
        .insert_header(("webhook-id", out.webhook_id.as_str()))
        .insert_header(("webhook-timestamp", out.webhook_timestamp.to_string()))
        .insert_header(("webhook-signature", out.webhook_signature.as_str()))
        .send_body(out.delivery.payload.clone())
        .await;
    match sent {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let body = res.body().limit(BODY_READ).await.unwrap_or_default();
            Outcome::Answered {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            }
        }
        Err(e) => Outcome::Unreachable(e.to_string()),
    }
}

/// Runs for the life of the server.
pub fn spawn(state: AppState) {
    let dispatcher = state.webhooks.clone();
    actix_web::rt::spawn(async move {
        let client = client();
        loop {
            tokio::time::sleep(EVERY).await;
            if !state.schema.is_current() {
                continue;
            }
            if let Err(e) = dispatcher.run_once(&state, &client, Utc::now()).await {
                tracing::warn!(error = %e, "webhook round failed; retrying shortly");
            }
        }
    });
}
