//! Liveness and readiness for load balancers and orchestrators.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use rapport_store::Readiness;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiError;
use crate::blocking;
use crate::state::AppState;

/// How long readiness waits for a database connection: a probe must answer
/// quickly even when the pool is exhausted or the database is down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    /// Always `current`.
    pub migrations: &'static str,
}

/// The process is alive. Never touches the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is alive", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The database answers and its schema is current: this node can serve.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "`database_unavailable`, `migrations_pending`, `storage_full` or `storage_failed`", body = super::Problem, content_type = "application/problem+json")
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.storage.is_full(&state.config.settings.data_dir) {
        return Err(crate::usecase::UseCaseError::StorageFull(
            "the last write failed for want of space, or the data directory is full".into(),
        )
        .into());
    }
    let store = state.store.clone();
    // Not queued behind a burst of work: a balancer must not think the node
    // down while it is busy.
    let readiness = blocking::spawn_unlimited(move || store.readiness(READINESS_TIMEOUT)).await??;
    match readiness {
        Readiness::Ready => Ok(HttpResponse::Ok().json(Ready {
            status: "ready",
            database: state.store.backend().as_str(),
            migrations: "current",
        })),
        Readiness::MigrationsPending(versions) => {
            Err(ApiError::MigrationsPending(versions.join(", ")))
        }
    }
}
