//! Cross-cutting HTTP behaviour: request ids, one log line per request,
//! security headers, and problem+json bodies on every error status.

use std::time::Instant;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, HttpMessage};
use tracing_actix_web::RequestId;

use super::problem::{PROBLEM_CONTENT_TYPE, Problem, code_for_status};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Echoes the request id (set by the tracing root span) in a response
/// header, so a user can quote it and an operator can find the log lines,
/// and logs one line per request inside that span.
pub async fn request_log_and_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let status = res.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1_000.0;
    if res.request().path() == "/healthz" {
        tracing::debug!(status, elapsed_ms, "request served");
    } else {
        tracing::info!(status, elapsed_ms, "request served");
    }
    Ok(res)
}

/// Keeps [`crate::storage_health`] current: a request refused for a full
/// disk marks storage full; a write that succeeds clears the mark.
pub async fn watch_storage(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .cloned();
    let writes = !matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    let res = next.call(req).await?;
    if let Some(state) = state {
        let full = res
            .response()
            .error()
            .and_then(|e| e.as_error::<super::ApiError>())
            .is_some_and(|e| e.code() == "storage_full");
        if full {
            state.storage.mark_full(std::time::Duration::from_secs(
                super::problem::STORAGE_FULL_RETRY_SECS,
            ));
        } else if writes && res.status().is_success() {
            state.storage.mark_writable();
        }
    }
    Ok(res)
}

/// Headers every response carries. Pages that need more (the web UI)
/// widen the policy on their own responses.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
}

/// Replaces the body of any error response that is not already a problem
/// document (statuses produced inside actix itself, such as a body over
/// the payload limit or a malformed request), so clients
/// parse one error shape everywhere.
pub fn error_bodies_as_problems<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let already_problem = res
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
        if already_problem {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let detail = status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned();
        let (req, old) = res.into_parts();
        let mut problem = Problem::new(status, code_for_status(status), detail).response();
        // Keep headers that tell the client the fix (Allow, Retry-After...).
        for (name, value) in old.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                problem.headers_mut().insert(name.clone(), value.clone());
            }
        }
        let res: ServiceResponse<EitherBody<B, BoxBody>> =
            ServiceResponse::new(req, problem).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(res))
    })
}

/// While migrations are pending (a server started with
/// `database.migrate_on_start = false`), every API request and chat
/// connection answers 503 `migrations_pending`, never a failure on a
/// missing table. Probes and pages are served.
pub async fn wait_for_schema(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    let path = req.path();
    let gated = path.starts_with("/api/") || path == "/ws";
    let pending = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .filter(|s| !s.schema.is_current())
        .map(|s| s.schema.pending().to_owned());
    if let (true, Some(pending)) = (gated, pending) {
        let res =
            actix_web::ResponseError::error_response(&super::ApiError::MigrationsPending(pending));
        return Ok(req.into_response(res).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
