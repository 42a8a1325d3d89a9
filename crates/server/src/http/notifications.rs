//! `GET /api/v1/notifications/stream`: server-sent events to staff.

use std::time::Duration;

use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpResponse, web};
use rapport_domain::{StaffRole, TeamId};
use tokio::sync::broadcast::error::RecvError;

use super::ApiError;
use crate::auth::Authenticated;
use crate::blocking;
use crate::notify::Notification;
use crate::state::AppState;

/// A comment line this often keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn event(n: &Notification) -> web::Bytes {
    let data = serde_json::to_string(n).unwrap_or_else(|_| "{}".to_owned());
    web::Bytes::from(format!("event: {}\ndata: {data}\n\n", n.kind))
}

/// Live notifications (SLA warnings and breaches) for the caller's teams'
/// cases; admins receive all. `text/event-stream`; each event's data is a
/// JSON object with `kind`, `case_id`, `case_number`, `account_id`,
/// `team_id`, `text` and `at`.
#[utoipa::path(get, path = "/api/v1/notifications/stream", tag = "cases", security(("bearer" = [])),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"),
              (status = 403, description = "`forbidden` for auditors and contacts", body = super::Problem, content_type = "application/problem+json")))]
pub async fn stream(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let (staff, role) = who.staff()?;
    let teams: Option<Vec<TeamId>> = match role {
        StaffRole::Admin => None,
        StaffRole::Agent => Some(
            blocking::with_conn(&state.store, move |conn| {
                rapport_store::team::teams_of(conn, staff)
            })
            .await?,
        ),
        StaffRole::Auditor => return Err(ApiError::Forbidden("auditors do not work cases")),
    };
    let rx = state.notifier.subscribe();
    let body = futures_util::stream::unfold((rx, teams), |(mut rx, teams)| async move {
        loop {
            let chunk = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
                Err(_) => web::Bytes::from_static(b": keep-alive\n\n"),
                Ok(Ok(n)) => {
                    let mine = match &teams {
                        None => true,
                        Some(teams) => n.team_id.is_some_and(|t| teams.contains(&t)),
                    };
                    if !mine {
                        continue;
                    }
                    event(&n)
                }
                Ok(Err(RecvError::Lagged(missed))) => {
                    web::Bytes::from(format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n"))
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            return Some((Ok::<_, std::io::Error>(chunk), (rx, teams)));
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression would hold events back until a block fills.
        .insert_header(ContentEncoding::Identity)
        .streaming(body))
}
