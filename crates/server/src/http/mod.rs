//! The HTTP surface: routes, the problem+json error mapping, middleware.

mod health;
mod instance;
mod middleware;
pub mod openapi;
mod problem;

pub use problem::{ApiError, Problem};

use actix_web::web;

use crate::state::AppState;

/// Registers every route and the extractor limits on one app. The server
/// and the tests build their apps with this same function.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let json_limit = state.config.settings.server.max_json_body_bytes;
        cfg.app_data(web::Data::new(state))
            .app_data(problem::json_config(json_limit))
            .app_data(problem::query_config())
            .app_data(problem::path_config())
            .app_data(web::PayloadConfig::new(json_limit))
            .service(health::healthz)
            .service(health::readyz)
            .service(openapi::openapi_json)
            .service(web::scope("/api/v1").service(instance::get_instance))
            .default_service(web::to(problem::route_not_found));
    }
}

pub use middleware::{error_bodies_as_problems, request_log_and_id, security_headers};
