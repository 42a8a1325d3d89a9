//! Errors as RFC 9457 problem details. This is the one place where errors
//! of every crate become HTTP: each gets a status and a stable `code` that
//! clients may rely on; a 5xx logs its cause and shows the client only a
//! generic message.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error, web};
use rapport_store::StoreError;

use crate::usecase::UseCaseError;
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
    #[error(
        "your role signs in with a second factor: set one up first (POST /api/v1/me/totp, then /api/v1/me/totp/confirm), then refresh the session"
    )]
    TotpEnrolmentRequired,
    #[error(transparent)]
    UseCase(#[from] UseCaseError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The stable problem code clients match on.
    pub fn code(&self) -> &'static str {
        self.classify().1
    }

    fn status(&self) -> StatusCode {
        self.classify().0
    }

    /// Every error's status and code, in one exhaustive match.
    fn classify(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::UseCase(e) => use_case_problem(e),
            ApiError::Store(e) => store_problem(e),
            ApiError::Unauthenticated(code, _) => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::PasswordChangeRequired => (StatusCode::FORBIDDEN, "password_change_required"),
            ApiError::TotpEnrolmentRequired => (StatusCode::FORBIDDEN, "totp_enrolment_required"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::MigrationsPending(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "migrations_pending")
            }
            ApiError::RouteNotFound { .. } => (StatusCode::NOT_FOUND, "route_not_found"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::InvalidJson(_) => (StatusCode::BAD_REQUEST, "invalid_json"),
            ApiError::InvalidMultipart(_) => (StatusCode::BAD_REQUEST, "invalid_multipart"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::InvalidPath(_) => (StatusCode::BAD_REQUEST, "invalid_path"),
            ApiError::NotWebsocket(_) => (StatusCode::BAD_REQUEST, "not_websocket"),
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

/// A use case's error as HTTP: every variant, no fallback.
pub(crate) fn use_case_problem(e: &UseCaseError) -> (StatusCode, &'static str) {
    match e {
        UseCaseError::Store(e) => store_problem(e),
        UseCaseError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        UseCaseError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        UseCaseError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        UseCaseError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        UseCaseError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        UseCaseError::TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
        UseCaseError::InvalidTotp => (StatusCode::UNAUTHORIZED, "invalid_totp"),
        UseCaseError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        UseCaseError::InvalidRefreshToken => (StatusCode::UNAUTHORIZED, "invalid_refresh_token"),
        UseCaseError::RefreshTokenReused => (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
        UseCaseError::InvalidMagicLink => (StatusCode::UNAUTHORIZED, "invalid_magic_link"),
        UseCaseError::PasswordSignInDisabled => {
            (StatusCode::FORBIDDEN, "password_sign_in_disabled")
        }
        UseCaseError::SingleSignOnRequired => (StatusCode::FORBIDDEN, "sso_required"),
        UseCaseError::SingleSignOnRefused(_) => (StatusCode::FORBIDDEN, "sso_refused"),
        UseCaseError::SingleSignOnFailed(_) => (StatusCode::BAD_GATEWAY, "sso_failed"),
        UseCaseError::InvalidSingleSignOnCode => (StatusCode::UNAUTHORIZED, "invalid_sso_code"),
        UseCaseError::InvalidSignInCode => (StatusCode::UNAUTHORIZED, "invalid_sign_in_code"),
        UseCaseError::InvalidMailChoice => (StatusCode::GONE, "invalid_mail_choice"),
        UseCaseError::InvalidInvitation => (StatusCode::UNAUTHORIZED, "invalid_invitation"),
        UseCaseError::InvalidRatingLink => (StatusCode::FORBIDDEN, "invalid_rating_link"),
        UseCaseError::Redacted(_) => (StatusCode::GONE, "redacted"),
        UseCaseError::TooManyConnections(_) => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_connections")
        }
        UseCaseError::StorageFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_full"),
        UseCaseError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// A storage error as HTTP: a database that cannot be reached is worth a
/// retry (503), a broken row or query is ours (500).
fn store_problem(e: &StoreError) -> (StatusCode, &'static str) {
    const UNAVAILABLE: (StatusCode, &str) =
        (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
    const INTERNAL: (StatusCode, &str) = (StatusCode::INTERNAL_SERVER_ERROR, "internal");
    match e {
        StoreError::Unavailable(_)
        | StoreError::Connect { .. }
        | StoreError::SqliteFileMissing(_) => UNAVAILABLE,
        StoreError::Database(_) if e.is_unavailable() => UNAVAILABLE,
        StoreError::StorageFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_full"),
        // Nothing of the request was kept: retrying is safe.
        StoreError::CommitFailed(_) => (StatusCode::SERVICE_UNAVAILABLE, "commit_failed"),
        // The disk refused an fsync: nothing is acknowledged until a restart.
        StoreError::NotDurable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_failed"),
        StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        StoreError::Database(_)
        | StoreError::Url(_)
        | StoreError::CreateDir { .. }
        | StoreError::Migration(_)
        | StoreError::AuditEvent(_)
        | StoreError::Corrupt(_)
        | StoreError::NestedWrite
        | StoreError::AuditOutsideWrite => INTERNAL,
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
        if let ApiError::UseCase(UseCaseError::Validation { field, .. }) = self {
            problem.field = Some((*field).to_owned());
        }
        let mut res = problem.response();
        let headers = res.headers_mut();
        match self {
            ApiError::MethodNotAllowed { allow, .. } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::UseCase(UseCaseError::RateLimited(wait)) => {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// One of every use-case error, with the answer clients rely on.
    /// `use_case_problem` has no fallback arm, so a new variant does not
    /// compile until it is mapped; add it here too.
    fn every_use_case_error() -> Vec<(UseCaseError, u16, &'static str)> {
        vec![
            (
                UseCaseError::Validation {
                    field: "body",
                    message: "is empty".into(),
                },
                422,
                "validation_failed",
            ),
            (UseCaseError::Conflict("taken"), 409, "conflict"),
            (UseCaseError::NotFound("case"), 404, "not_found"),
            (UseCaseError::Forbidden, 403, "forbidden"),
            (UseCaseError::InvalidCredentials, 401, "invalid_credentials"),
            (UseCaseError::TotpRequired, 401, "totp_required"),
            (UseCaseError::InvalidTotp, 401, "invalid_totp"),
            (
                UseCaseError::RateLimited(Duration::from_secs(3)),
                429,
                "rate_limited",
            ),
            (
                UseCaseError::InvalidRefreshToken,
                401,
                "invalid_refresh_token",
            ),
            (
                UseCaseError::RefreshTokenReused,
                401,
                "refresh_token_reused",
            ),
            (UseCaseError::InvalidMagicLink, 401, "invalid_magic_link"),
            (
                UseCaseError::PasswordSignInDisabled,
                403,
                "password_sign_in_disabled",
            ),
            (UseCaseError::SingleSignOnRequired, 403, "sso_required"),
            (
                UseCaseError::SingleSignOnRefused("unknown"),
                403,
                "sso_refused",
            ),
            (
                UseCaseError::SingleSignOnFailed("x".into()),
                502,
                "sso_failed",
            ),
            (
                UseCaseError::InvalidSingleSignOnCode,
                401,
                "invalid_sso_code",
            ),
            (UseCaseError::InvalidSignInCode, 401, "invalid_sign_in_code"),
            (UseCaseError::InvalidMailChoice, 410, "invalid_mail_choice"),
            (UseCaseError::InvalidInvitation, 401, "invalid_invitation"),
            (UseCaseError::InvalidRatingLink, 403, "invalid_rating_link"),
            (UseCaseError::Redacted("2026-11-30".into()), 410, "redacted"),
            (
                UseCaseError::TooManyConnections(5),
                429,
                "too_many_connections",
            ),
            (
                UseCaseError::StorageFull("disk".into()),
                503,
                "storage_full",
            ),
            (UseCaseError::Internal("bug".into()), 500, "internal"),
            (
                UseCaseError::Store(StoreError::Corrupt("row".into())),
                500,
                "internal",
            ),
            (
                UseCaseError::Store(StoreError::SqliteFileMissing("x".into())),
                503,
                "database_unavailable",
            ),
            (
                UseCaseError::Store(StoreError::NotFound("case")),
                404,
                "not_found",
            ),
        ]
    }

    #[test]
    fn every_use_case_error_has_its_status_and_code() {
        for (e, status, code) in every_use_case_error() {
            let described = e.to_string();
            let api = ApiError::UseCase(e);
            assert_eq!(api.status().as_u16(), status, "{described}");
            assert_eq!(api.code(), code, "{described}");
            let res = api.error_response();
            assert_eq!(res.status().as_u16(), status);
            if status == 429 && code == "rate_limited" {
                assert!(res.headers().contains_key(header::RETRY_AFTER));
            }
            if status == 401 {
                assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
            }
        }
    }

    #[test]
    fn only_internal_errors_hide_their_message() {
        for (e, status, _) in every_use_case_error() {
            let described = e.to_string();
            let detail = ApiError::UseCase(e).detail();
            if status == 500 {
                assert!(!detail.contains(&described), "{detail}");
            } else if status != 503 {
                assert_eq!(detail, described);
            }
        }
    }
}
