//! The OpenAPI document, generated from the handlers themselves.

use actix_web::HttpResponse;
use utoipa::OpenApi;

#[derive(OpenApi, Debug)]
#[openapi(
    info(
        title = "Rapport API",
        description = "Account-centric B2B support. Every error is `application/problem+json` with a stable `code`.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(super::health::healthz, super::health::readyz, super::instance::get_instance),
    components(schemas(super::Problem)),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "instance", description = "This installation")
    )
)]
pub struct ApiDoc;

/// The document as pretty JSON, as served and as checked into `docs/openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// This API's OpenAPI 3.1 description.
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document())
}
