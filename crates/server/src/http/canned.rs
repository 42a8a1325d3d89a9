//! Canned responses over HTTP.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{CannedResponseId, CaseId, TeamId};
use rapport_store::canned::CannedResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::page::{id_field, path_id};
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::canned::{self, CannedInput};

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedView {
    #[schema(format = Uuid)]
    pub id: String,
    /// Null: for every agent.
    #[schema(format = Uuid)]
    pub team_id: Option<String>,
    pub title: String,
    /// Text with placeholders: {{contact.name}}, {{contact.first_name}},
    /// {{case.number}}, {{case.subject}}, {{account.name}}, {{agent.name}}.
    pub body: String,
    /// What inserting it also does to the case (a macro): `status`,
    /// `priority`, `add_tags`; `{}` for nothing.
    #[schema(value_type = Object)]
    pub actions: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

impl From<&CannedResponse> for CannedView {
    fn from(c: &CannedResponse) -> Self {
        CannedView {
            id: c.id.to_string(),
            team_id: c.team_id.map(|t| t.to_string()),
            title: c.title.clone(),
            body: c.body.clone(),
            actions: c.actions.clone(),
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    /// A team (its agents may write it); omit for a global response (admins).
    #[schema(format = Uuid)]
    pub team_id: Option<String>,
    pub title: String,
    pub body: String,
    /// Make it a macro: what inserting it also does to the case.
    #[serde(default)]
    pub actions: Option<MacroBody>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroBody {
    /// A status to set (`open`, `pending_client`, `pending_internal`,
    /// `resolved`, `closed`).
    pub status: Option<String>,
    /// A priority to set.
    pub priority: Option<String>,
    /// Labels to add.
    #[serde(default)]
    pub add_tags: Vec<String>,
}

fn input(b: CannedBody) -> Result<CannedInput, ApiError> {
    let actions = b.actions.unwrap_or_default();
    let macro_actions = canned::MacroActions {
        status: super::directory::parse_enum(
            "actions",
            actions.status.as_deref(),
            rapport_domain::CaseStatus::parse,
            rapport_domain::CaseStatus::choices(),
        )?,
        priority: super::directory::parse_enum(
            "actions",
            actions.priority.as_deref(),
            rapport_domain::CasePriority::parse,
            rapport_domain::CasePriority::choices(),
        )?,
        add_tags: actions.add_tags,
    };
    Ok(CannedInput {
        team_id: b
            .team_id
            .as_deref()
            .map(|t| id_field::<TeamId>("team_id", t))
            .transpose()?,
        title: b.title,
        body: b.body,
        actions: macro_actions,
    })
}

/// The responses the caller may use: global ones and their teams' (staff).
#[utoipa::path(get, path = "/api/v1/canned-responses", tag = "canned-responses", security(("bearer" = [])),
    responses((status = 200, description = "By title", body = [CannedView])))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let list = blocking::run(move || canned::list(&app, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(list.iter().map(CannedView::from).collect::<Vec<_>>()))
}

/// Write a response: global (admins) or for a team (its agents, admins).
#[utoipa::path(post, path = "/api/v1/canned-responses", tag = "canned-responses", request_body = CannedBody, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = CannedView)))]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<CannedBody>,
) -> Result<HttpResponse, ApiError> {
    let input = input(body.into_inner())?;
    let app = state.into_inner();
    let c = blocking::run(move || canned::create(&app, &who.principal, &input)).await?;
    Ok(HttpResponse::Created().json(CannedView::from(&c)))
}

/// Replace a response.
#[utoipa::path(put, path = "/api/v1/canned-responses/{id}", tag = "canned-responses", request_body = CannedBody, security(("bearer" = [])),
    responses((status = 200, description = "Updated", body = CannedView)))]
pub async fn update(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<CannedBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CannedResponseId = path_id(&id, "canned response")?;
    let input = input(body.into_inner())?;
    let app = state.into_inner();
    let c = blocking::run(move || canned::update(&app, &who.principal, id, &input)).await?;
    Ok(HttpResponse::Ok().json(CannedView::from(&c)))
}

/// Delete a response (its history stays in the audit log).
#[utoipa::path(delete, path = "/api/v1/canned-responses/{id}", tag = "canned-responses", security(("bearer" = [])),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CannedResponseId = path_id(&id, "canned response")?;
    let app = state.into_inner();
    blocking::run(move || canned::delete(&app, &who.principal, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    #[schema(format = Uuid)]
    pub case_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedView {
    /// The text with every placeholder filled in for the case.
    pub text: String,
    /// What inserting it also does to the case (a macro); the console
    /// applies it as the agent's own change.
    #[schema(value_type = Object)]
    pub actions: serde_json::Value,
}

/// The response filled in for one case, to insert in the composer.
#[utoipa::path(post, path = "/api/v1/canned-responses/{id}/render", tag = "canned-responses", request_body = RenderBody, security(("bearer" = [])),
    responses((status = 200, description = "Filled in", body = RenderedView)))]
pub async fn render(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<RenderBody>,
) -> Result<HttpResponse, ApiError> {
    let id: CannedResponseId = path_id(&id, "canned response")?;
    let case: CaseId = id_field("case_id", &body.case_id)?;
    let app = state.into_inner();
    let (text, actions) =
        blocking::run(move || canned::render(&app, &who.principal, id, case)).await?;
    Ok(HttpResponse::Ok().json(RenderedView { text, actions }))
}
