//! The LMTP listener's side of the pipeline: a message is recorded with
//! its bytes (durably) before the listener answers 250, then processed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rapport_mail::lmtp::{Envelope, LmtpLimits, Refusal, Sink, SinkFuture};

use crate::state::AppState;
use crate::usecase::UseCaseError;

struct Door {
    state: AppState,
}

impl Sink for Door {
    fn accept(&self, envelope: Envelope, raw: Vec<u8>) -> SinkFuture {
        let state = self.state.clone();
        Box::pin(async move {
            let received = crate::blocking::spawn(move || {
                crate::usecase::mail::ingest(
                    &state,
                    "lmtp",
                    Some(&envelope.mail_from),
                    &envelope.rcpt_to,
                    &raw,
                )
            })
            .await
            .map_err(|e| Refusal::Temporary(format!("internal error: {e}")))?;
            match received {
                Ok(_) => Ok(()),
                Err(e) => Err(refusal(e)),
            }
        })
    }
}

/// The LMTP reply for a message the pipeline did not take: every
/// use-case error, no fallback. Only a message that can never be taken is
/// refused for good; anything else the sending server retries.
fn refusal(e: UseCaseError) -> Refusal {
    match e {
        UseCaseError::Validation { message, .. } => Refusal::Permanent(message),
        UseCaseError::StorageFull(_) => {
            Refusal::InsufficientStorage("insufficient system storage; try again later".into())
        }
        UseCaseError::Conflict(_)
        | UseCaseError::NotFound(_)
        | UseCaseError::Forbidden
        | UseCaseError::InvalidCredentials
        | UseCaseError::TotpRequired
        | UseCaseError::InvalidTotp
        | UseCaseError::RateLimited(_)
        | UseCaseError::InvalidRefreshToken
        | UseCaseError::RefreshTokenReused
        | UseCaseError::InvalidMagicLink
        | UseCaseError::PasswordSignInDisabled
        | UseCaseError::SingleSignOnRequired
        | UseCaseError::SingleSignOnRefused(_)
        | UseCaseError::SingleSignOnFailed(_)
        | UseCaseError::InvalidSingleSignOnCode
        | UseCaseError::InvalidSignInCode
        | UseCaseError::InvalidMailChoice
        | UseCaseError::InvalidInvitation
        | UseCaseError::InvalidRatingLink
        | UseCaseError::Redacted(_)
        | UseCaseError::TooManyConnections(_)
        | UseCaseError::Store(_)
        | UseCaseError::Internal(_) => Refusal::Temporary(format!("try again later: {e}")),
    }
}

/// Binds the listener (before the server reports ready) and serves it.
pub fn start(state: &AppState, bind: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(bind)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let limits = LmtpLimits {
        max_message_bytes: state.config.settings.mail.max_message_bytes,
        max_recipients: 100,
        idle_timeout: Duration::from_secs(300),
    };
    let hostname = state.mail.domain.clone();
    let sink: Arc<dyn Sink> = Arc::new(Door {
        state: state.clone(),
    });
    actix_web::rt::spawn(async move {
        match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => rapport_mail::lmtp::serve(l, hostname, sink, limits).await,
            Err(e) => tracing::error!(error = %e, "cannot run the LMTP listener"),
        }
    });
    Ok(addr)
}
