//! The signed-in person.

use actix_web::{HttpResponse, web};
use rapport_domain::{PersonName, Principal};
use rapport_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::AuthenticatedAnyPassword;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::UseCaseError;

#[derive(Debug, Serialize, ToSchema)]
pub struct Avatar {
    /// Shown when there is no picture: "Anna Berg" gives "AB".
    pub initials: String,
    /// A CSS colour for the initials, the same on every screen (chat too).
    pub color: String,
    pub url: Option<String>,
}

impl Avatar {
    pub fn of(id: &str, name: &PersonName, url: Option<String>) -> Avatar {
        Avatar {
            initials: name.initials(),
            color: rapport_chat::Avatar::for_person(id, name.as_str()).color,
            url,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// `staff` or `contact`.
    pub kind: &'static str,
    pub email: String,
    pub name: String,
    /// The name others see.
    pub display_name: String,
    pub avatar: Avatar,
    /// Staff: `admin`, `agent` or `auditor`.
    pub role: Option<String>,
    /// Contact: their account.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub account_id: Option<String>,
    /// Contact: `own_cases`, `function_cases` or `all_account_cases`.
    pub visibility: Option<String>,
    /// Contact: their function at the company (`finance`, `operations`...).
    pub function: Option<String>,
    /// Contact: how they hear of cases opened and resolved in the
    /// categories of their function: `each`, `digest` or `off`.
    pub case_notices: Option<String>,
    pub password_change_required: bool,
    /// This session may only set up the second factor the role requires.
    pub totp_enrolment_required: bool,
    /// Contact: every company they may act for (they are a contact of
    /// several when this has more than one), this session's included.
    /// Switch with `POST /api/v1/auth/contact/switch`.
    pub memberships: Vec<MembershipView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    #[schema(value_type = String, format = Uuid)]
    pub account_id: String,
    pub account_name: String,
    /// The session acts for this company now.
    pub current: bool,
    /// The company's own support address: mail written to it is filed
    /// under this company.
    pub mail_address: String,
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in staff member or contact", body = Me),
        (status = 401, description = "`unauthenticated`, `invalid_token` or `token_expired`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(
    state: web::Data<AppState>,
    who: AuthenticatedAnyPassword,
) -> Result<HttpResponse, ApiError> {
    let principal = who.user.principal;
    let address = who.sign_in_address;
    let mut me = profile(&state, who.user.principal, who.totp_enrolment_required).await?;
    // Staff, the hot path of every console page, belong to no company.
    if !matches!(principal, Principal::Contact { .. }) {
        return Ok(HttpResponse::Ok().json(me));
    }
    let state = state.into_inner();
    me.memberships = blocking::run(move || {
        Ok::<_, UseCaseError>(
            crate::usecase::memberships::list(&state, &principal, address.as_deref())?
                .into_iter()
                .map(|m| MembershipView {
                    account_id: m.account_id.to_string(),
                    mail_address: crate::usecase::mail_accounts::account_address(
                        &state,
                        m.account_id,
                    ),
                    account_name: m.account_name,
                    current: m.current,
                })
                .collect(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(me))
}

/// The profile of `principal`.
async fn profile(
    state: &AppState,
    principal: Principal,
    totp_enrolment_required: bool,
) -> Result<Me, ApiError> {
    let id = match principal {
        Principal::ApiToken { .. } => {
            return Err(ApiError::Forbidden("an API token has no profile"));
        }
        Principal::Contact { id, .. } => id,
        Principal::Staff { id, .. } => {
            let s = match state.reads.staff.get(&id) {
                Ok(cached) => cached,
                Err(ticket) => {
                    let loaded = blocking::with_conn(&state.store, move |conn| {
                        rapport_store::staff::find(conn, id)?
                            .ok_or(StoreError::NotFound("staff member"))
                    })
                    .await?;
                    state.reads.staff.keep(ticket, id, loaded)
                }
            };
            return Ok(Me {
                id: s.id.to_string(),
                kind: "staff",
                email: s.email.to_string(),
                name: s.name.as_str().to_owned(),
                display_name: s.display_name.as_str().to_owned(),
                avatar: Avatar::of(&s.id.to_string(), &s.display_name, s.avatar_url.clone()),
                role: Some(s.role.as_str().to_owned()),
                account_id: None,
                visibility: None,
                function: None,
                case_notices: None,
                password_change_required: s.password_change_required,
                totp_enrolment_required,
                memberships: Vec::new(),
            });
        }
    };
    blocking::with_conn(&state.store, move |conn| {
        let c = rapport_store::contact::find(conn, id)?.ok_or(StoreError::NotFound("contact"))?;
        Ok(Me {
            id: c.id.to_string(),
            kind: "contact",
            email: c
                .emails
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            name: c.name.as_str().to_owned(),
            display_name: c.name.as_str().to_owned(),
            avatar: Avatar::of(&c.id.to_string(), &c.name, None),
            role: None,
            account_id: Some(c.account_id.to_string()),
            visibility: Some(c.visibility.as_str().to_owned()),
            function: Some(c.function.as_str().to_owned()),
            case_notices: Some(c.case_notices.as_str().to_owned()),
            password_change_required: false,
            totp_enrolment_required: false,
            memberships: Vec::new(),
        })
    })
    .await
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseNoticesBody {
    /// `each` (an email per case opened or resolved), `digest` (one a day)
    /// or `off`.
    pub case_notices: String,
}

/// A contact chooses how they hear of cases of their function.
#[utoipa::path(put, path = "/api/v1/me/case-notices", tag = "auth", request_body = CaseNoticesBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact as now", body = Me),
        (status = 422, description = "`validation_failed`: not one of each, digest, off", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: contacts only", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_case_notices(
    state: web::Data<AppState>,
    who: crate::auth::Authenticated,
    body: web::Json<CaseNoticesBody>,
) -> Result<HttpResponse, ApiError> {
    if !matches!(who.principal, Principal::Contact { .. }) {
        return Err(crate::usecase::UseCaseError::Forbidden.into());
    }
    let raw = body.into_inner().case_notices;
    let choice = rapport_domain::CaseNotices::parse(&raw).ok_or_else(|| {
        crate::usecase::UseCaseError::Validation {
            field: "case_notices",
            message: format!(
                "{raw:?} is not one of: {}",
                rapport_domain::CaseNotices::choices()
            ),
        }
    })?;
    let app = state.clone().into_inner();
    let principal = who.principal;
    blocking::run(move || crate::usecase::contact::set_own_case_notices(&app, &principal, choice))
        .await?;
    Ok(HttpResponse::Ok().json(profile(&state, principal, false).await?))
}
