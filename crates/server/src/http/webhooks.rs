//! Outgoing webhooks over HTTP (admins): register endpoints, read their
//! delivery logs, send a delivery again, enable an endpoint disabled after
//! failing.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::webhooks::{self, NewEndpoint};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEndpointBody {
    /// Where deliveries are POSTed.
    #[schema(example = "https://erp.example/rapport-events")]
    pub url: String,
    /// Any of `case.opened`, `entry.added`, `case.status_changed`,
    /// `case.assignee_changed`, `case.priority_changed`,
    /// `satisfaction.received`, `sla.breached`, `account.created`,
    /// `account.updated`, `contact.created`, `contact.updated`.
    pub events: Vec<String>,
    /// Internal notes are sent as `entry.added` too (off unless asked).
    #[serde(default)]
    pub include_notes: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub include_notes: bool,
    pub created_at: DateTime<Utc>,
    /// Set when deliveries kept failing for more than a day.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

impl From<&rapport_store::webhook::Endpoint> for EndpointView {
    fn from(e: &rapport_store::webhook::Endpoint) -> Self {
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            include_notes: e.include_notes,
            created_at: e.created_at,
            disabled_at: e.disabled_at,
            disabled_reason: e.disabled_reason.clone(),
        }
    }
}

/// A new endpoint and its signing secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredView {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_` + base64: verify `webhook-signature` with it.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The `webhook-id` header, the same on every attempt.
    pub id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's last HTTP status (none: it could not be reached).
    pub last_status: Option<i32>,
    /// The start of the receiver's last answer, or why it was unreachable.
    pub last_response: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body as signed and sent.
    pub payload: serde_json::Value,
}

impl From<&rapport_store::webhook::Delivery> for DeliveryView {
    fn from(d: &rapport_store::webhook::Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_type: d.event_type.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            created_at: d.created_at,
            next_attempt_at: (d.status == "pending").then_some(d.next_attempt_at),
            last_attempt_at: d.last_attempt_at,
            last_status: d.last_status,
            last_response: d.last_response.clone(),
            delivered_at: d.delivered_at,
            payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    pub limit: Option<i64>,
}

/// Register an endpoint (admins). Deliveries carry `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` (Standard Webhooks).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewEndpointBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; the secret is shown only here", body = RegisteredView),
        (status = 422, description = "`validation_failed`: a bad URL or event", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<NewEndpointBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let state = state.into_inner();
    let r = blocking::run(move || {
        webhooks::register(
            &state,
            &who.principal,
            &NewEndpoint {
                url: b.url,
                events: b.events,
                include_notes: b.include_notes,
            },
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(RegisteredView {
        endpoint: EndpointView::from(&r.endpoint),
        secret: r.secret,
    }))
}

/// Every endpoint (admins).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "Endpoints", body = Vec<EndpointView>)))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let list = blocking::run(move || webhooks::list(&state, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(EndpointView::from).collect::<Vec<_>>()))
}

/// Remove an endpoint and its delivery log (admins).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
pub async fn remove(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let id = id.into_inner();
    blocking::run(move || webhooks::remove(&state, &who.principal, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Enable an endpoint disabled after failing (admins): what waited is sent.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/enable", tag = "webhooks", security(("bearer" = [])),
    responses((status = 200, description = "Enabled", body = EndpointView)))]
pub async fn enable(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let id = id.into_inner();
    let e = blocking::run(move || webhooks::enable(&state, &who.principal, &id)).await?;
    Ok(HttpResponse::Ok().json(EndpointView::from(&e)))
}

/// An endpoint's deliveries, newest first, with each last answer (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", security(("bearer" = [])),
    params(("limit" = Option<i64>, Query, description = "At most this many (1-200, default 50)")),
    responses((status = 200, description = "Deliveries", body = Vec<DeliveryView>)))]
pub async fn deliveries(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    q: web::Query<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let id = id.into_inner();
    let limit = q.limit.unwrap_or(50);
    let list =
        blocking::run(move || webhooks::deliveries(&state, &who.principal, &id, limit)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(DeliveryView::from).collect::<Vec<_>>()))
}

/// Send a delivery again now, with the same `webhook-id` (admins).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "Queued again", body = DeliveryView)))]
pub async fn redeliver(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, delivery) = path.into_inner();
    let state = state.into_inner();
    let d =
        blocking::run(move || webhooks::redeliver(&state, &who.principal, &id, &delivery)).await?;
    Ok(HttpResponse::Ok().json(DeliveryView::from(&d)))
}
