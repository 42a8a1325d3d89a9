//! Errors as RFC 9457 problem details. This is the one place where errors
//! of every crate become HTTP: each gets a status and a stable `code` that
//! clients may rely on; a 5xx logs its cause and shows the client only a
//! generic message.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error, web};
use rapport_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Seconds a client is told to wait when storage is full; also how long
/// readiness reports it after the last write that failed for it.
pub const STORAGE_FULL_RETRY_SECS: u64 = 30;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:rapport:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short human summary of the problem type.
    pub title: String,
    /// The HTTP status, repeated for clients that only see the body.
    pub status: u16,
    /// Stable machine-readable error code.
    pub code: String,
    /// What went wrong with this request.
    pub detail: String,
    /// The request field at fault, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: String) -> Self {
        Problem {
            kind: format!("urn:rapport:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail,
            field: None,
        }
    }

    pub fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
            ))
            .json(self)
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database schema is behind: migrations {0} are pending; run `rapport migrate`")]
    MigrationsPending(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("{method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allow: &'static str,
    },
    #[error("invalid multipart body: {0}")]
    InvalidMultipart(String),
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("invalid query string: {0}")]
    InvalidQuery(String),
    #[error("invalid path parameter: {0}")]
    InvalidPath(String),
    #[error("not a websocket upgrade request: {0}")]
    NotWebsocket(String),
    #[error("{1}")]
    Unauthenticated(&'static str, &'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("this one-time password must be changed first: POST /api/v1/me/password")]
    PasswordChangeRequired,
    #[error(transparent)]
    UseCase(#[from] crate::usecase::UseCaseError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        use crate::usecase::UseCaseError as U;
        match self {
            ApiError::UseCase(U::Store(e)) => ApiError::store_code(e),
            ApiError::UseCase(U::Validation { .. }) => "validation_failed",
            ApiError::UseCase(U::Conflict(_)) => "conflict",
            ApiError::UseCase(U::NotFound(_)) => "not_found",
            ApiError::UseCase(U::Forbidden) => "forbidden",
            ApiError::UseCase(U::InvalidCredentials) => "invalid_credentials",
            ApiError::UseCase(U::RateLimited(_)) => "rate_limited",
            ApiError::UseCase(U::InvalidRefreshToken) => "invalid_refresh_token",
            ApiError::UseCase(U::RefreshTokenReused) => "refresh_token_reused",
            ApiError::UseCase(U::InvalidMagicLink) => "invalid_magic_link",
            ApiError::UseCase(U::Redacted(_)) => "redacted",
            ApiError::UseCase(U::InvalidRatingLink) => "invalid_rating_link",
            ApiError::UseCase(U::InvalidInvitation) => "invalid_invitation",
            ApiError::UseCase(U::InvalidSignInCode) => "invalid_sign_in_code",
            ApiError::UseCase(U::StorageFull(_)) => "storage_full",
            ApiError::UseCase(U::TooManyConnections(_)) => "too_many_connections",
            ApiError::UseCase(_) => "internal",
            ApiError::Unauthenticated(code, _) => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::PasswordChangeRequired => "password_change_required",
            ApiError::Store(e) => ApiError::store_code(e),
            ApiError::Internal(_) => "internal",
            ApiError::MigrationsPending(_) => "migrations_pending",
            ApiError::RouteNotFound { .. } => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidMultipart(_) => "invalid_multipart",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::NotWebsocket(_) => "not_websocket",
        }
    }

    fn store_code(e: &StoreError) -> &'static str {
        match e {
            e if e.is_unavailable() => "database_unavailable",
            StoreError::StorageFull(_) => "storage_full",
            StoreError::NotFound(_) => "not_found",
            StoreError::Conflict(_) => "conflict",
            _ => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self.code() {
            "database_unavailable" | "migrations_pending" | "storage_full" => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            "not_found" | "route_not_found" => StatusCode::NOT_FOUND,
            "conflict" => StatusCode::CONFLICT,
            "validation_failed" => StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_credentials"
            | "invalid_magic_link"
            | "invalid_invitation"
            | "invalid_sign_in_code"
            | "invalid_refresh_token"
            | "refresh_token_reused"
            | "unauthenticated"
            | "invalid_token"
            | "token_expired"
            | "invalid_ticket" => StatusCode::UNAUTHORIZED,
            "forbidden" | "password_change_required" | "invalid_rating_link" => {
                StatusCode::FORBIDDEN
            }
            "rate_limited" | "too_many_connections" => StatusCode::TOO_MANY_REQUESTS,
            "method_not_allowed" => StatusCode::METHOD_NOT_ALLOWED,
            "invalid_json" | "invalid_query" | "invalid_path" | "invalid_multipart"
            | "not_websocket" => StatusCode::BAD_REQUEST,
            "payload_too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            "redacted" => StatusCode::GONE,
            "unsupported_media_type" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client may see. Internal errors keep their cause in the log.
    fn detail(&self) -> String {
        match (self.code(), self) {
            ("database_unavailable", _) => {
                "the database is not reachable right now; retry shortly".to_owned()
            }
            ("storage_full", _) => format!(
                "the server's storage is full, so nothing was saved; retry in {STORAGE_FULL_RETRY_SECS} s (the operator has been alerted in the log)"
            ),
            ("internal", _) => {
                "an internal error occurred; it has been logged with this request's id".to_owned()
            }
            (_, ApiError::Store(e)) => e.to_string(),
            (_, other) => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %error_chain(self), "request failed");
        }
        let mut problem = Problem::new(status, self.code(), self.detail());
        if let ApiError::UseCase(crate::usecase::UseCaseError::Validation { field, .. }) = self {
            problem.field = Some((*field).to_owned());
        }
        let mut res = problem.response();
        let headers = res.headers_mut();
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::UseCase(crate::usecase::UseCaseError::RateLimited(wait)) => {
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            _ if self.code() == "storage_full" => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(STORAGE_FULL_RETRY_SECS),
                );
            }
            _ if status == StatusCode::UNAUTHORIZED => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"rapport\""),
                );
            }
            _ => {}
        }
        res
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

pub(super) async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().chars().take(200).collect(),
    })
}

/// The default service of a resource: its path exists, the method does not.
pub(super) fn method_not_allowed(
    allow: &'static str,
) -> impl Fn(HttpRequest) -> std::future::Ready<Result<HttpResponse, ApiError>> + Clone {
    move |req: HttpRequest| {
        std::future::ready(Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            path: req.path().chars().take(200).collect(),
            allow,
        }))
    }
}

pub(super) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |err, _req| {
            let api = match &err {
                error::JsonPayloadError::OverflowKnownLength { .. }
                | error::JsonPayloadError::Overflow { .. } => ApiError::PayloadTooLarge { limit },
                error::JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                error::JsonPayloadError::Deserialize(e) => ApiError::InvalidJson(e.to_string()),
                other => ApiError::InvalidJson(other.to_string()),
            };
            api.into()
        })
}

pub(super) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| ApiError::InvalidQuery(err.to_string()).into())
}

pub(super) fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| ApiError::InvalidPath(err.to_string()).into())
}

/// A stable code for error statuses that no handler of ours produced
/// (e.g. actix's own 405 for a known path with the wrong method).
pub(super) fn code_for_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "client_error",
    }
}
