//! Rating a resolved case: signed in (portal, chat) or with the link
//! emailed at resolution.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::CaseId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::page::path_id;
use crate::auth::MaybeAuthenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::satisfaction::{self, Rater, SurveyState};

#[derive(Debug, Serialize, ToSchema)]
pub struct SatisfactionView {
    pub case_number: i64,
    pub subject: String,
    /// `not_asked` (not resolved yet), `open`, `rated` or `expired`.
    pub status: String,
    pub rating: Option<i32>,
    pub comment: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
}

impl From<SurveyState> for SatisfactionView {
    fn from(s: SurveyState) -> Self {
        let status = match &s.survey {
            None => "not_asked",
            Some(v) if v.answered_at.is_some() => "rated",
            Some(v) if v.expires_at < Utc::now() => "expired",
            Some(_) => "open",
        };
        SatisfactionView {
            case_number: s.case_number,
            subject: s.subject,
            status: status.to_owned(),
            rating: s.survey.as_ref().and_then(|v| v.rating),
            comment: s.survey.as_ref().and_then(|v| v.comment.clone()),
            expires_at: s.survey.as_ref().map(|v| v.expires_at),
            answered_at: s.survey.as_ref().and_then(|v| v.answered_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkParams {
    /// The token of the emailed rating link (instead of signing in).
    pub token: Option<String>,
}

fn rater(
    who: MaybeAuthenticated,
    token: Option<String>,
    via: &'static str,
) -> Result<Rater, ApiError> {
    match (token, who.0) {
        (Some(t), _) if t.len() <= 200 => Ok(Rater::Link(t)),
        (Some(_), _) => Err(ApiError::UseCase(
            crate::usecase::UseCaseError::InvalidRatingLink,
        )),
        (None, Some(w)) => Ok(Rater::SignedIn(w.principal, via)),
        (None, None) => Err(ApiError::Unauthenticated(
            "unauthenticated",
            "sign in, or use the rating link from the email",
        )),
    }
}

/// Whether the case was rated (signed in, or with the emailed link's token).
#[utoipa::path(get, path = "/api/v1/cases/{id}/satisfaction", tag = "satisfaction", params(LinkParams),
    responses((status = 200, description = "The case's survey", body = SatisfactionView)))]
pub async fn get(
    state: web::Data<AppState>,
    who: MaybeAuthenticated,
    id: web::Path<String>,
    params: web::Query<LinkParams>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path_id(&id, "case")?;
    let r = rater(who, params.into_inner().token, "portal")?;
    let app = state.into_inner();
    let view = blocking::run(move || satisfaction::status(&app, &r, case)).await?;
    Ok(HttpResponse::Ok().json(SatisfactionView::from(view)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBody {
    /// 1 (poor) to 5 (excellent).
    pub rating: i32,
    /// Up to 2,000 characters.
    pub comment: Option<String>,
    /// The token of the emailed rating link, when not signed in.
    pub token: Option<String>,
    /// Signed in: `portal` (default) or `chat`, where the rating was given.
    pub via: Option<String>,
}

/// Rate a resolved case, once: a contact of the case signed in, or anyone
/// holding the case's emailed link.
#[utoipa::path(post, path = "/api/v1/cases/{id}/satisfaction", tag = "satisfaction", request_body = RateBody,
    responses((status = 200, description = "Recorded", body = SatisfactionView)))]
pub async fn rate(
    state: web::Data<AppState>,
    who: MaybeAuthenticated,
    id: web::Path<String>,
    body: web::Json<RateBody>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = path_id(&id, "case")?;
    let b = body.into_inner();
    let via = match b.via.as_deref() {
        None | Some("portal") => "portal",
        Some("chat") => "chat",
        Some(_) => {
            return Err(ApiError::UseCase(
                crate::usecase::UseCaseError::Validation {
                    field: "via",
                    message: "must be one of: portal, chat".into(),
                },
            ));
        }
    };
    let r = rater(who, b.token, via)?;
    let app = state.into_inner();
    let view = blocking::run(move || {
        satisfaction::rate(&app, &r, case, b.rating, b.comment.as_deref())?;
        satisfaction::status(&app, &r, case)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SatisfactionView::from(view)))
}
