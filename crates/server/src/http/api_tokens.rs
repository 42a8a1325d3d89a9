//! API tokens over HTTP (admins).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{ApiScope, ApiTokenId};
use rapport_store::api_token::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::page::path_id;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::{UseCaseError, api_token};

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// `audit:read`, `directory:read`, `mail:ingest`.
    pub scopes: Vec<String>,
    #[schema(format = Uuid)]
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<&ApiToken> for ApiTokenView {
    fn from(t: &ApiToken) -> Self {
        ApiTokenView {
            id: t.id.to_string(),
            name: t.name.clone(),
            scopes: t.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_by: t.created_by.to_string(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked: t.revoked,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenCreated {
    #[serde(flatten)]
    pub token: ApiTokenView,
    /// Send as `Authorization: Bearer <secret>`. Shown once; only its hash is kept.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiTokenCreate {
    pub name: String,
    pub scopes: Vec<String>,
    /// Omit for a token that lasts until revoked.
    pub expires_in_days: Option<u32>,
}

/// Create an API token (admins). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-tokens", tag = "api-tokens", request_body = ApiTokenCreate, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = ApiTokenCreated)))]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<ApiTokenCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let scopes = body
        .scopes
        .iter()
        .map(|s| {
            ApiScope::parse(s).ok_or_else(|| UseCaseError::Validation {
                field: "scopes",
                message: format!("{s:?} is not one of: {}", ApiScope::choices()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let store = state.store.clone();
    let (token, secret) = blocking::run(move || {
        api_token::create(
            &store,
            &who.principal,
            &body.name,
            &scopes,
            body.expires_in_days,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(ApiTokenCreated {
        token: ApiTokenView::from(&token),
        secret,
    }))
}

/// All API tokens, without secrets (admins).
#[utoipa::path(get, path = "/api/v1/api-tokens", tag = "api-tokens", security(("bearer" = [])),
    responses((status = 200, description = "Tokens", body = [ApiTokenView])))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let tokens = blocking::run(move || api_token::list(&store, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(tokens.iter().map(ApiTokenView::from).collect::<Vec<_>>()))
}

/// Revoke an API token (admins); it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-tokens/{id}", tag = "api-tokens", security(("bearer" = [])),
    responses((status = 204, description = "Revoked")))]
pub async fn revoke(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ApiTokenId = path_id(&id, "API token")?;
    let store = state.store.clone();
    blocking::run(move || api_token::revoke(&store, &who.principal, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
