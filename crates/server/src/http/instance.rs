//! Public facts about this installation.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::blocking;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceInfo {
    /// Stable id of this installation, shared by all its server nodes.
    #[schema(value_type = String, format = Uuid)]
    pub id: String,
    /// The support desk's name (`instance.name`).
    pub name: String,
    /// Server version.
    pub version: &'static str,
    /// When this installation was first started.
    pub created_at: DateTime<Utc>,
    /// Categories a case can be filed under (`cases.categories`).
    pub categories: Vec<String>,
    /// Service tiers an account can have (`accounts.tiers`).
    pub tiers: Vec<String>,
    /// The tier of a new account when none is chosen.
    pub default_tier: String,
    /// Sites allowed to embed the chat widget (`server.widget_origins`),
    /// besides this server itself.
    pub widget_origins: Vec<String>,
    /// Where links in mail point (`server.public_url`, or the address the
    /// server listens on).
    pub public_url: String,
}

/// Identity of this installation.
#[utoipa::path(
    get,
    path = "/api/v1/instance",
    tag = "instance",
    responses(
        (status = 200, description = "This installation", body = InstanceInfo),
        (status = 503, description = "`database_unavailable`", body = super::Problem, content_type = "application/problem+json")
    )
)]
pub async fn get_instance(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let found = blocking::with_conn(&state.store, |conn| {
        rapport_store::instance::find(conn)?.ok_or(rapport_store::StoreError::NotFound("instance"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(InstanceInfo {
        id: found.id.to_string(),
        name: state.config.settings.instance.name.clone(),
        version: env!("CARGO_PKG_VERSION"),
        created_at: found.created_at,
        categories: state.config.settings.cases.categories.clone(),
        tiers: state.config.settings.accounts.tiers.clone(),
        default_tier: state.config.settings.accounts.default_tier.clone(),
        widget_origins: state.config.settings.server.widget_origins.clone(),
        public_url: state.public_url().to_owned(),
    }))
}
