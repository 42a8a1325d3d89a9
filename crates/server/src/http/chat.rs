//! `POST /api/v1/chat/ticket` and `GET /ws`: admission to live chat. The
//! protocol itself is in `docs/chat-protocol.md`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase;

#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    /// Pass as `GET /ws?ticket=...` within `expires_at`; it works once.
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
    /// The websocket path, relative to this server.
    pub url: String,
}

/// A one-time ticket to open the chat websocket (valid 30 s by default,
/// single use), so that access tokens never appear in URLs or logs. For
/// staff and contacts; API tokens do not chat.
#[utoipa::path(post, path = "/api/v1/chat/ticket", tag = "chat", security(("bearer" = [])),
    responses((status = 201, description = "A ticket", body = Ticket),
              (status = 401, description = "`unauthenticated`, `invalid_token`, `token_expired`", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden` for API tokens", body = super::Problem, content_type = "application/problem+json"),
              (status = 429, description = "`too_many_connections`: this person already holds `chat.max_connections_per_person` connections", body = super::Problem, content_type = "application/problem+json")))]
pub async fn ticket(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    // Signing a ticket touches no database: no hop to the blocking pool,
    // so a reconnect storm's tickets never queue behind its joins.
    let (ticket, expires_at) = usecase::chat::issue_ticket(&state, &who.principal)?;
    Ok(HttpResponse::Created().json(Ticket {
        ticket,
        expires_at,
        url: "/ws".into(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    /// From `POST /api/v1/chat/ticket`.
    pub ticket: String,
}

/// Upgrades to the chat websocket (protocol version 1, JSON text frames;
/// see docs/chat-protocol.md). A missing, spent or expired ticket gets a
/// 401 problem instead of the upgrade.
#[utoipa::path(get, path = "/ws", tag = "chat", params(WsQuery),
    responses((status = 101, description = "Switching to the websocket protocol"),
              (status = 400, description = "`invalid_query`, or `not_websocket` for a request that is not a websocket upgrade", body = super::Problem, content_type = "application/problem+json"),
              (status = 401, description = "`invalid_ticket`", body = super::Problem, content_type = "application/problem+json")))]
pub async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<WsQuery>,
) -> Result<HttpResponse, ApiError> {
    let invalid = ApiError::Unauthenticated(
        "invalid_ticket",
        "the chat ticket is invalid, used or expired; get a new one from POST /api/v1/chat/ticket",
    );
    let ticket = query.into_inner().ticket;
    if ticket.is_empty() || ticket.len() > 128 {
        return Err(invalid);
    }
    // The handshake is checked before the ticket is spent, so a request
    // that cannot upgrade does not burn it.
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::NotWebsocket(e.to_string()))?;
    let redeeming = state.clone();
    let user = blocking::run(move || usecase::chat::redeem_ticket(&redeeming, &ticket))
        .await?
        .ok_or(invalid)?;
    // Tickets are refused beyond the cap; this catches tickets taken
    // together before any of them connected.
    let slot = crate::chat::connections::person_key(&user.principal)
        .and_then(|key| state.chat.connections.admit(key));
    let Some(slot) = slot else {
        let max = state.chat.connections.max_per_person;
        actix_web::rt::spawn(async move {
            let reason = format!("too many connections: at most {max} per person");
            let _ = session
                .close(Some(actix_ws::CloseReason {
                    code: actix_ws::CloseCode::Other(4029),
                    description: Some(reason),
                }))
                .await;
        });
        return Ok(response);
    };
    let hard = state.live.limits.hard_frame_bytes;
    let stream = stream
        .max_frame_size(hard)
        .aggregate_continuations()
        .max_continuation_size(hard);
    // Spawned as it is: wrapping it in another future would keep a second
    // copy of its state for as long as the connection lives.
    actix_web::rt::spawn(crate::chat::session::run(
        state.into_inner(),
        user,
        slot,
        session,
        stream,
    ));
    Ok(response)
}
