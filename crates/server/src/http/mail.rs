//! Email over HTTP: the inbound door for mail providers (raw MIME with a
//! `mail:ingest` token), the quarantine and the outbox for admins.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rapport_domain::{CaseId, Permission};
use rapport_store::mail::{Inbound, Outbound};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::page::{Page, PageParams};
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::mail;

/// A received message and what became of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundView {
    #[schema(format = Uuid)]
    pub id: String,
    /// `lmtp`, `http` or `import`.
    pub door: String,
    pub message_id: Option<String>,
    pub sha256: String,
    pub size: i64,
    pub envelope_from: Option<String>,
    pub envelope_to: Vec<String>,
    /// `pending`, `threaded`, `ignored`, `bounce` or `quarantined`.
    pub status: String,
    /// What processing did, or why it stopped.
    pub outcome: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub case_id: Option<CaseId>,
    #[schema(format = Uuid)]
    pub entry_id: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
}

impl From<&Inbound> for InboundView {
    fn from(m: &Inbound) -> Self {
        InboundView {
            id: m.id.clone(),
            door: m.door.clone(),
            message_id: m.message_id.clone(),
            sha256: m.sha256.clone(),
            size: m.size,
            envelope_from: m.envelope_from.clone(),
            envelope_to: m.envelope_to.clone(),
            status: m.status.clone(),
            outcome: m.outcome.clone(),
            case_id: m.case_id,
            entry_id: m.entry_id.map(|e| e.to_string()),
            received_at: m.received_at,
            processed_at: m.processed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    #[serde(flatten)]
    pub message: InboundView,
    /// True when these exact bytes had been received before.
    pub duplicate: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboundParams {
    /// The envelope recipient(s), as an MTA would give them (repeatable
    /// as a comma-separated list); reply addresses there thread too.
    pub to: Option<String>,
    /// The envelope sender.
    pub from: Option<String>,
}

/// Delivers one raw RFC 5322 message (body `message/rfc822`), as a mail
/// provider's inbound webhook would. The message is stored durably before
/// the answer, then threaded; a redelivery of the same bytes stores
/// nothing new. Needs an API token with `mail:ingest` (or an admin).
#[utoipa::path(post, path = "/api/v1/inbound/email", tag = "mail", params(InboundParams),
    security(("bearer" = [])),
    request_body(content = String, content_type = "message/rfc822", description = "The raw message"),
    responses((status = 202, description = "Stored (and processed: see `status`)", body = Received),
              (status = 403, description = "`forbidden` without the `mail:ingest` scope", body = super::Problem, content_type = "application/problem+json"),
              (status = 413, description = "`payload_too_large`: over `mail.max_message_bytes`", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed`: an empty body", body = super::Problem, content_type = "application/problem+json")))]
pub async fn inbound(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<InboundParams>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    who.require(Permission::IngestMail)?;
    let limit = state.config.settings.mail.max_message_bytes;
    let mut raw = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(format!("body unreadable: {e}")))?;
        if raw.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        raw.extend_from_slice(&chunk);
    }
    let q = query.into_inner();
    let to: Vec<String> =
        q.to.as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
    let (row, new) =
        blocking::run(move || mail::ingest(&state, "http", q.from.as_deref(), &to, &raw)).await?;
    Ok(HttpResponse::Accepted().json(Received {
        message: InboundView::from(&row),
        duplicate: !new,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboundListParams {
    /// `pending`, `threaded`, `ignored`, `bounce` or `quarantined`.
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Received mail, oldest first; `?status=quarantined` is the quarantine.
/// Admins.
#[utoipa::path(get, path = "/api/v1/mail/inbound", tag = "mail", params(InboundListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of received messages", body = Page<InboundView>),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list_inbound(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<InboundListParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    };
    let limit = page.limit()?;
    if let Some(s) = &q.status
        && !["pending", "threaded", "ignored", "bounce", "quarantined"].contains(&s.as_str())
    {
        return Err(ApiError::InvalidQuery(
            "status must be pending, threaded, ignored, bounce or quarantined".into(),
        ));
    }
    let principal = who.principal;
    let rows = blocking::run(move || {
        mail::list_inbound(
            &state,
            &principal,
            q.status.as_deref(),
            page.cursor.as_deref(),
            limit,
        )
    })
    .await?;
    let items: Vec<InboundView> = rows.iter().map(InboundView::from).collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |m| m.id.clone())))
}

/// The original bytes of a received message (`message/rfc822`). Admins.
#[utoipa::path(get, path = "/api/v1/mail/inbound/{id}/raw", tag = "mail",
    params(("id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses((status = 200, description = "The message as received", content_type = "message/rfc822"),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 410, description = "`redacted`: an admin removed the message with its thread entry", body = super::Problem, content_type = "application/problem+json")))]
pub async fn inbound_raw(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let principal = who.principal;
    let (row, raw) = blocking::run(move || mail::inbound_raw(&state, &principal, &id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("message/rfc822")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!("{}.eml", row.id))],
        })
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(raw))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RetryQuery {
    /// A message held because its sender is a contact of several companies:
    /// file it as this one of their contacts.
    #[param(value_type = Option<String>, format = Uuid)]
    pub as_contact: Option<rapport_domain::ContactId>,
}

/// Processes a quarantined message again. Admins.
#[utoipa::path(post, path = "/api/v1/mail/inbound/{id}/retry", tag = "mail",
    params(("id" = String, Path, format = Uuid), RetryQuery), security(("bearer" = [])),
    responses((status = 200, description = "The message after processing", body = InboundView),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 409, description = "`conflict`: the message is not in the quarantine", body = super::Problem, content_type = "application/problem+json")))]
pub async fn retry(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<String>,
    query: web::Query<RetryQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let principal = who.principal;
    let as_contact = query.into_inner().as_contact;
    let row = blocking::run(move || mail::retry(&state, &principal, &id, as_contact)).await?;
    Ok(HttpResponse::Ok().json(InboundView::from(&row)))
}

/// A message in the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboundView {
    #[schema(format = Uuid)]
    pub id: String,
    /// `reply`, `acknowledgment`, `magic_link`, `sla_alert`, `chat_reply`,
    /// `outreach`, `satisfaction`, `appointment`, `admin_alert`,
    /// `audit_witness` or `case_notice` (a case of their function opened
    /// or resolved, to a contact).
    pub kind: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub case_id: Option<CaseId>,
    #[schema(format = Uuid)]
    pub entry_id: Option<String>,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<&Outbound> for OutboundView {
    fn from(m: &Outbound) -> Self {
        OutboundView {
            id: m.id.clone(),
            kind: m.kind.clone(),
            case_id: m.case_id,
            entry_id: m.entry_id.map(|e| e.to_string()),
            message_id: m.message_id.clone(),
            recipients: m.recipients.clone(),
            subject: m.subject.clone(),
            status: m.status.clone(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error.clone(),
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// One case's mail (staff who may read the case); without it, all (admins).
    #[param(value_type = Option<String>, format = Uuid)]
    pub case_id: Option<String>,
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    pub limit: Option<i64>,
}

/// Outgoing mail, newest first, with its delivery state (magic links are
/// listed but their content never leaves the server).
#[utoipa::path(get, path = "/api/v1/mail/outbox", tag = "mail", params(OutboxParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Outgoing messages", body = Vec<OutboundView>),
              (status = 403, description = "`forbidden`", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`: no such case for the caller", body = super::Problem, content_type = "application/problem+json")))]
pub async fn outbox(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<OutboxParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let case = q
        .case_id
        .as_deref()
        .map(|c| {
            c.parse::<CaseId>()
                .map_err(|_| ApiError::InvalidQuery("case_id is not a case id".into()))
        })
        .transpose()?;
    let principal = who.principal;
    let rows =
        blocking::run(move || mail::outbox(&state, &principal, case, q.status.as_deref(), limit))
            .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(OutboundView::from).collect::<Vec<_>>()))
}
