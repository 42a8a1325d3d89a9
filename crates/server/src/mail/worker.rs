//! Background work: process received mail that is still pending (after a
//! crash, or when processing failed) and send what the outbox holds.

use std::sync::Arc;
use std::time::Duration;

use super::transport::Transport;
use crate::state::AppState;

/// Runs for the life of the server.
pub fn spawn(state: AppState, transport: Arc<Transport>) {
    let every = Duration::from_millis(state.config.settings.mail.poll_interval_ms);
    actix_web::rt::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = state.mail.wakeup.notified() => {}
            }
            if !state.schema.is_current() {
                continue;
            }
            let (s, t) = (state.clone(), transport.clone());
            let done = crate::blocking::spawn(move || {
                let processed = crate::usecase::mail::process_pending(&s);
                let sent = crate::usecase::mail::send_due(&s, &t);
                (processed, sent)
            })
            .await;
            match done {
                Ok((Ok(0), Ok(0))) => {}
                Ok((processed, sent)) => {
                    if let Err(e) = &processed {
                        tracing::warn!(error = %e, "processing received mail failed; retrying");
                    }
                    if let Err(e) = &sent {
                        tracing::warn!(error = %e, "sending mail failed; retrying");
                    }
                    tracing::debug!(?processed, ?sent, "mail worker round");
                }
                Err(e) => tracing::error!(error = %e, "mail worker task failed"),
            }
        }
    });
}
