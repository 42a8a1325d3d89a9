//! The links of our automatic reply to a person who is a contact of
//! several companies: which company their message is about. No sign-in:
//! the link's token is the permission, and only the page's button
//! decides, so a mail scanner opening the link decides nothing.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::mail_accounts;

#[derive(Debug, Serialize, ToSchema)]
pub struct MailChoiceOffer {
    /// The company the link files the message under.
    pub account_name: String,
    pub subject: String,
    pub received_at: DateTime<Utc>,
    /// Set once the message was filed (by this link or another of its
    /// links): the case it became.
    pub filed_case_number: Option<i64>,
    /// The company it was filed under.
    pub filed_under: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailChoiceFiled {
    pub account_name: String,
    /// The case the message went to; none when it was set aside (for an
    /// admin to look at), which `outcome` explains.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub case_id: Option<String>,
    pub case_number: Option<i64>,
    pub outcome: String,
}

/// The token of a link, in the body: a path or query would be written to
/// the request log, and the token is the permission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailChoiceRequest {
    /// The `token` parameter of the link.
    pub token: String,
}

fn token_of(body: MailChoiceRequest) -> Result<String, ApiError> {
    if body.token.is_empty() || body.token.len() > 128 {
        return Err(ApiError::UseCase(UseCaseError::InvalidMailChoice));
    }
    Ok(body.token)
}

/// What a link would do: the company, and the message it files. Decides
/// nothing.
#[utoipa::path(post, path = "/api/v1/mail/choices/offer", tag = "mail", request_body = MailChoiceRequest,
    responses(
        (status = 200, description = "The link is open, or its message was filed already (`filed_case_number`, `filed_under`)", body = MailChoiceOffer),
        (status = 410, description = "`invalid_mail_choice`: unknown or expired, or the message is no longer held and became no case", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn offer(
    state: web::Data<AppState>,
    body: web::Json<MailChoiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = token_of(body.into_inner())?;
    let state = state.into_inner();
    let offer = blocking::run(move || mail_accounts::offer(&state, &token)).await?;
    let (filed_case_number, filed_under) = offer.filed.unzip();
    Ok(HttpResponse::Ok().json(MailChoiceOffer {
        account_name: offer.account_name,
        subject: offer.subject,
        received_at: offer.received_at,
        filed_case_number,
        filed_under,
    }))
}

/// Follow a link: the message is filed under its company, and the
/// message's other links stop working.
#[utoipa::path(post, path = "/api/v1/mail/choices/file", tag = "mail", request_body = MailChoiceRequest,
    responses(
        (status = 200, description = "Filed", body = MailChoiceFiled),
        (status = 410, description = "`invalid_mail_choice`: unknown, expired, or another of the message's links was followed first", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn choose(
    state: web::Data<AppState>,
    body: web::Json<MailChoiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = token_of(body.into_inner())?;
    let state = state.into_inner();
    let filed = blocking::run(move || mail_accounts::choose(&state, &token)).await?;
    Ok(HttpResponse::Ok().json(MailChoiceFiled {
        account_name: filed.account_name,
        case_id: filed.case_id.map(|c| c.to_string()),
        case_number: filed.case_number,
        outcome: filed.outcome,
    }))
}
