//! Signing in and out, for staff and for contacts.

use actix_web::{HttpResponse, web};
use rapport_domain::AccountId;
use rapport_store::session::SubjectKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::{Authenticated, AuthenticatedAnyPassword, RequestContext};
use crate::blocking;
use crate::state::AppState;
use crate::usecase::UseCaseError;
use crate::usecase::second_factor;
use crate::usecase::session::{self, SessionTokens};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "anna@support.example")]
    pub email: String,
    pub password: String,
    /// Staff with a second factor: the six-digit code of their app.
    #[serde(default)]
    pub totp_code: Option<String>,
    /// Staff with a second factor and no phone at hand: one of their
    /// recovery codes (each works once).
    #[serde(default)]
    pub recovery_code: Option<String>,
    /// Contacts of several companies: the one to sign in to (the first
    /// by name otherwise). Switch later with `/api/v1/auth/contact/switch`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub account_id: Option<AccountId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    #[schema(example = "finance@client.example")]
    pub email: String,
    /// Contacts of several companies: the one the link signs in to.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub account_id: Option<AccountId>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    /// The session's refresh token: it is spent, as by a refresh.
    pub refresh_token: String,
    /// The company to act for; one of `memberships` in `/api/v1/me` (the
    /// companies whose contact has the address this sign-in was made with).
    #[schema(value_type = String, format = Uuid)]
    pub account_id: AccountId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The `token` parameter of the link.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// The address the sign-in email went to.
    pub email: String,
    /// The eight-character code of the email (`ABCD-EFGH`; case, spaces
    /// and the dash do not matter).
    pub code: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `token` parameter of the invitation link.
    pub token: String,
    /// The password chosen: at least 12 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// Required when a password is already set, except in the session of
    /// a sign-in with a one-time password (which that sign-in just checked).
    pub current_password: Option<String>,
    /// At least 12 characters.
    pub new_password: String,
}

/// A session: a short-lived access token and the refresh token that renews it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque; exchange it at `/api/v1/auth/refresh`. Each use replaces it.
    pub refresh_token: String,
    /// When true, only `GET /api/v1/me` and `POST /api/v1/me/password` are allowed.
    pub password_change_required: bool,
    /// When true, the role requires a second factor: only `/api/v1/me`,
    /// `/api/v1/me/password` and `/api/v1/me/totp*` are allowed until it is
    /// set up and the session refreshed.
    pub totp_enrolment_required: bool,
}

impl From<SessionTokens> for TokenResponse {
    fn from(t: SessionTokens) -> Self {
        TokenResponse {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            password_change_required: t.password_change_required,
            totp_enrolment_required: t.totp_enrolment_required,
        }
    }
}

/// Bounds on credentials accepted for checking at all: nothing larger is
/// hashed, so a huge body cannot buy server CPU.
fn bounded(field: &'static str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(ApiError::UseCase(UseCaseError::Validation {
            field,
            message: format!("must be 1 to {max} bytes"),
        }));
    }
    Ok(())
}

const MAX_PASSWORD: usize = crate::auth::password::MAX_PASSWORD_BYTES;

async fn password_login(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: LoginRequest,
    kind: SubjectKind,
) -> Result<HttpResponse, ApiError> {
    bounded("email", &body.email, 254)?;
    bounded("password", &body.password, MAX_PASSWORD)?;
    for (field, value) in [
        ("totp_code", &body.totp_code),
        ("recovery_code", &body.recovery_code),
    ] {
        if let Some(v) = value {
            bounded(field, v, 64)?;
        }
    }
    let second = second_factor::Presented {
        totp_code: body.totp_code.clone(),
        recovery_code: body.recovery_code.clone(),
    };
    let state = state.into_inner();
    let tokens = blocking::run(move || {
        session::login(
            &state,
            kind,
            &body.email,
            &body.password,
            &second,
            body.account_id,
            &ctx,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Sign in as staff with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: unknown address, wrong password or deactivated; `totp_required`: the password is right, now give `totp_code` or `recovery_code`; `invalid_totp`: that code is wrong, expired or used", body = super::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many failures; see Retry-After", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    password_login(state, ctx, body.into_inner(), SubjectKind::Staff).await
}

/// Sign in as a client contact with email and password (once one is set).
#[utoipa::path(post, path = "/api/v1/auth/contact/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: unknown address, wrong or unset password, no portal access", body = super::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn contact_login(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    password_login(state, ctx, body.into_inner(), SubjectKind::Contact).await
}

/// Email a contact a one-time sign-in link (valid 15 minutes). Always 202,
/// whether or not the address is known.
#[utoipa::path(post, path = "/api/v1/auth/contact/magic-link", tag = "auth", request_body = MagicLinkRequest,
    responses(
        (status = 202, description = "If the address belongs to a contact with portal access, a link is on its way"),
        (status = 429, description = "`rate_limited`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_magic_link(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<MagicLinkRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("email", &body.email, 254)?;
    let state = state.into_inner();
    blocking::run(move || session::request_magic_link(&state, &body.email, body.account_id, &ctx))
        .await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Sign in with the token of a magic link.
#[utoipa::path(post, path = "/api/v1/auth/contact/magic-link/redeem", tag = "auth", request_body = RedeemRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_magic_link`: unknown, used or expired", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn redeem_magic_link(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<RedeemRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("token", &body.token, 128)?;
    let state = state.into_inner();
    let tokens =
        blocking::run(move || session::redeem_magic_link(&state, &body.token, &ctx)).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Sign in with the code of a sign-in email (the chat widget), together
/// with the address it was sent to.
#[utoipa::path(post, path = "/api/v1/auth/contact/code", tag = "auth", request_body = CodeRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "`invalid_sign_in_code`: wrong, used or expired", body = super::Problem, content_type = "application/problem+json"),
        (status = 429, description = "`rate_limited`: too many wrong codes", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn redeem_sign_in_code(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<CodeRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("email", &body.email, 254)?;
    bounded("code", &body.code, 32)?;
    let state = state.into_inner();
    let tokens =
        blocking::run(move || session::redeem_sign_in_code(&state, &body.email, &body.code, &ctx))
            .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Choose a first password with a staff invitation's token; signs in.
#[utoipa::path(post, path = "/api/v1/auth/invitation", tag = "auth", request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Password set and signed in", body = TokenResponse),
        (status = 401, description = "`invalid_invitation`: unknown, used, replaced or expired", body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed` on `password`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("token", &body.token, 128)?;
    bounded("password", &body.password, MAX_PASSWORD)?;
    let state = state.into_inner();
    let tokens = blocking::run(move || {
        session::accept_invitation(&state, &body.token, &body.password, &ctx)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Exchange a refresh token for a new session; the old token is spent.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token`, or `refresh_token_reused` (the whole sign-in is revoked)", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("refresh_token", &body.refresh_token, 128)?;
    let state = state.into_inner();
    let tokens = blocking::run(move || session::refresh(&state, &body.refresh_token, &ctx)).await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// A contact of several companies acts for another of them: the session's
/// refresh token is exchanged for tokens of their contact there.
#[utoipa::path(post, path = "/api/v1/auth/contact/switch", tag = "auth", request_body = SwitchRequest,
    responses(
        (status = 200, description = "New tokens, acting for that company", body = TokenResponse),
        (status = 401, description = "`invalid_refresh_token` or `refresh_token_reused`", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: a staff session; `sso_required`: that company signs its people in through its own identity provider", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the person is not a contact of that company with portal access", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn switch_account(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<SwitchRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("refresh_token", &body.refresh_token, 128)?;
    let state = state.into_inner();
    let tokens = blocking::run(move || {
        session::switch_account(&state, &body.refresh_token, body.account_id, &ctx)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Sign out: revokes the refresh token's whole sign-in.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also when the token was unknown)")))]
pub async fn logout(
    state: web::Data<AppState>,
    ctx: RequestContext,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("refresh_token", &body.refresh_token, 128)?;
    let state = state.into_inner();
    blocking::run(move || session::logout(&state, &body.refresh_token, &ctx)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Change one's own password (required after a one-time password). Other
/// sessions are signed out; a fresh session is returned.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Password changed", body = TokenResponse),
        (status = 422, description = "`validation_failed` with `field`", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    state: web::Data<AppState>,
    ctx: RequestContext,
    who: AuthenticatedAnyPassword,
    body: web::Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(current) = &body.current_password {
        bounded("current_password", current, MAX_PASSWORD)?;
    }
    let state = state.into_inner();
    let principal = who.user.principal;
    let one_time_session = who.password_change_required;
    let address = who.sign_in_address;
    let tokens = blocking::run(move || {
        session::change_password(
            &state,
            &principal,
            address.as_deref(),
            body.current_password.as_deref(),
            &body.new_password,
            &ctx,
            one_time_session,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// Whether sign-in asks for a code from an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpStatusView {
    pub enabled: bool,
    /// Set up begun, no code confirmed yet.
    pub pending: bool,
    pub recovery_codes_left: i64,
    /// The caller's role must sign in with a second factor.
    pub required: bool,
}

/// What an authenticator app needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolmentView {
    /// Base32, to type into the app.
    pub secret: String,
    /// `otpauth://totp/...`, to scan or import.
    pub otpauth_uri: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    /// The six-digit code the app shows now.
    pub code: String,
}

/// Shown once: each works once in place of a code.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// The caller's second factor (staff).
#[utoipa::path(get, path = "/api/v1/me/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Second factor status", body = TotpStatusView)))]
pub async fn totp_status(
    state: web::Data<AppState>,
    who: AuthenticatedAnyPassword,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let principal = who.user.principal;
    let s = blocking::run(move || second_factor::status(&state, &principal)).await?;
    Ok(HttpResponse::Ok().json(TotpStatusView {
        enabled: s.enabled,
        pending: s.pending,
        recovery_codes_left: s.recovery_codes_left,
        required: s.required,
    }))
}

/// Start setting up a second factor (staff): a new secret for an
/// authenticator app. Sign-in asks for codes once one is confirmed.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The secret, shown once", body = TotpEnrolmentView),
        (status = 409, description = "`conflict`: a second factor is already enabled", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn totp_begin(
    state: web::Data<AppState>,
    who: AuthenticatedAnyPassword,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let principal = who.user.principal;
    let e = blocking::run(move || second_factor::begin(&state, &principal)).await?;
    Ok(HttpResponse::Ok().json(TotpEnrolmentView {
        secret: e.secret,
        otpauth_uri: e.otpauth_uri,
    }))
}

/// Confirm the second factor with a code from the app (staff): from now
/// on sign-in asks for a code. Returns ten single-use recovery codes.
/// A session limited to setting it up is refreshed to a full one with
/// `POST /api/v1/auth/refresh`.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "auth", request_body = TotpConfirmRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Enabled", body = RecoveryCodesView),
        (status = 422, description = "`validation_failed`: not the app's current code", body = super::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: nothing to confirm, or already enabled", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn totp_confirm(
    state: web::Data<AppState>,
    who: AuthenticatedAnyPassword,
    body: web::Json<TotpConfirmRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    bounded("code", &body.code, 64)?;
    let state = state.into_inner();
    let principal = who.user.principal;
    let codes =
        blocking::run(move || second_factor::confirm(&state, &principal, &body.code)).await?;
    Ok(HttpResponse::Ok().json(RecoveryCodesView {
        recovery_codes: codes,
    }))
}

/// Remove a staff member's second factor (admins), for someone who lost
/// their phone and recovery codes; they set up a new one after signing in.
#[utoipa::path(delete, path = "/api/v1/staff/{id}/totp", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
pub async fn totp_remove(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let staff = super::page::path_id(&id, "staff member")?;
    let state = state.into_inner();
    blocking::run(move || second_factor::remove(&state, &who.principal, staff)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A role's second-factor requirement.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolePolicyView {
    /// `admin`, `agent` or `auditor`.
    pub role: String,
    /// Everyone of the role signs in with a code from an authenticator app.
    pub required: bool,
    /// Required by the server's configuration (`auth.totp_required_roles`):
    /// not changeable here.
    pub by_config: bool,
}

fn policy_views(p: Vec<second_factor::RolePolicy>) -> Vec<RolePolicyView> {
    p.into_iter()
        .map(|p| RolePolicyView {
            role: p.role.as_str().to_owned(),
            required: p.required,
            by_config: p.by_config,
        })
        .collect()
}

/// Which roles must sign in with a second factor (admins).
#[utoipa::path(get, path = "/api/v1/security/second-factor", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "Every role", body = [RolePolicyView]),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn second_factor_policies(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let p = blocking::run(move || second_factor::policies(&state, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(policy_views(p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePolicyBody {
    pub required: bool,
}

/// Require a second factor of everyone of a role, or stop (admins). People
/// of the role without one can then only set it up.
#[utoipa::path(put, path = "/api/v1/security/second-factor/{role}", tag = "auth", request_body = RolePolicyBody, security(("bearer" = [])),
    responses((status = 200, description = "Every role, as now", body = [RolePolicyView]),
              (status = 404, description = "`not_found`: no such role", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed`: the configuration requires it", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn set_second_factor_policy(
    state: web::Data<AppState>,
    who: Authenticated,
    role: web::Path<String>,
    body: web::Json<RolePolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let role = rapport_domain::StaffRole::parse(&role)
        .ok_or(crate::usecase::UseCaseError::NotFound("role"))?;
    let required = body.into_inner().required;
    let state = state.into_inner();
    let p =
        blocking::run(move || second_factor::set_policy(&state, &who.principal, role, required))
            .await?;
    Ok(HttpResponse::Ok().json(policy_views(p)))
}
