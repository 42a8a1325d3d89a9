//! Who is calling: the bearer token checked on every request.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use rapport_domain::{Permission, Principal, ScopeSet, StaffId, StaffRole, authorize};
use tracing_actix_web::RequestId;

use crate::blocking;
use crate::http::ApiError;
use crate::state::AppState;
use rapport_app::auth::token::{TokenError, TokenKeys};

/// A signed-in staff member or contact whose password is not a one-time
/// password.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub principal: Principal,
}

impl Authenticated {
    /// Refuses with 403 unless the principal holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        authorize(&self.principal, permission)
            .map_err(|_| ApiError::Forbidden("your role does not allow this"))
    }

    /// The staff member, or 403 for a contact.
    pub fn staff(&self) -> Result<(StaffId, StaffRole), ApiError> {
        match self.principal {
            Principal::Staff { id, role } => Ok((id, role)),
            Principal::Contact { .. } | Principal::ApiToken { .. } => {
                Err(ApiError::Forbidden("only staff may do this"))
            }
        }
    }
}

/// Like [`Authenticated`], but also accepts a session that must first
/// change its one-time password or set up a second factor: for `/me`,
/// changing the password and setting up the second factor.
#[derive(Debug, Clone)]
pub struct AuthenticatedAnyPassword {
    pub user: Authenticated,
    pub password_change_required: bool,
    /// The role requires a second factor not set up yet.
    pub totp_enrolment_required: bool,
    /// A contact's session: the address its sign-in was proven with.
    pub sign_in_address: Option<String>,
}

pub use rapport_app::auth::token::API_TOKEN_PREFIX;

fn bearer(req: &HttpRequest) -> Result<(web::Data<AppState>, String), ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthenticated(
            "unauthenticated",
            "sign in and send Authorization: Bearer <access token>",
        ))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 4096)
        .ok_or(ApiError::Unauthenticated(
            "invalid_token",
            "the Authorization header must be `Bearer <access token>`",
        ))?;
    Ok((state, token.to_owned()))
}

async fn authenticate(
    state: web::Data<AppState>,
    token: String,
) -> Result<AuthenticatedAnyPassword, ApiError> {
    let invalid = || ApiError::Unauthenticated("invalid_token", "the access token is invalid");
    if token.starts_with(API_TOKEN_PREFIX) {
        let hash = super::token::opaque_token_hash(&token);
        let found = blocking::with_conn(&state.store, move |conn| {
            rapport_store::api_token::find_by_hash(conn, &hash)
        })
        .await?;
        let found = found
            .filter(rapport_store::api_token::ApiToken::is_live)
            .ok_or_else(invalid)?;
        return Ok(AuthenticatedAnyPassword {
            user: Authenticated {
                principal: Principal::ApiToken {
                    id: found.id,
                    scopes: ScopeSet::of(&found.scopes),
                },
            },
            password_change_required: false,
            totp_enrolment_required: false,
            sign_in_address: None,
        });
    }
    let refused = |e| match e {
        TokenError::Expired => {
            ApiError::Unauthenticated("token_expired", "the access token has expired; refresh it")
        }
        TokenError::Invalid => invalid(),
    };
    let claims = state.tokens.verify(&token).map_err(refused)?;
    let (principal, restrictions) = TokenKeys::principal_of(&claims).map_err(refused)?;
    Ok(AuthenticatedAnyPassword {
        user: Authenticated { principal },
        password_change_required: restrictions.password_change,
        totp_enrolment_required: restrictions.second_factor_enrolment,
        sign_in_address: claims.adr,
    })
}

impl FromRequest for AuthenticatedAnyPassword {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = bearer(req);
        Box::pin(async move {
            let (state, token) = parsed?;
            authenticate(state, token).await
        })
    }
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = bearer(req);
        Box::pin(async move {
            let (state, token) = parsed?;
            let who = authenticate(state, token).await?;
            if who.password_change_required {
                Err(ApiError::PasswordChangeRequired)
            } else if who.totp_enrolment_required {
                Err(ApiError::TotpEnrolmentRequired)
            } else {
                Ok(who.user)
            }
        })
    }
}

/// The signed-in caller if the request carries a token, else nobody: for
/// what anyone may read (public knowledge base articles). A token that is
/// present but bad is still refused, so nobody is silently downgraded.
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(header::AUTHORIZATION).is_none() {
            return Box::pin(async { Ok(MaybeAuthenticated(None)) });
        }
        let who = Authenticated::from_request(req, payload);
        Box::pin(async move { Ok(MaybeAuthenticated(Some(who.await?))) })
    }
}

/// Where a request came from, recorded with security events: the
/// application layer's context, extracted from the request.
#[derive(Debug, Clone, Default)]
pub struct RequestContext(pub rapport_app::auth::RequestContext);

impl std::ops::Deref for RequestContext {
    type Target = rapport_app::auth::RequestContext;

    fn deref(&self) -> &rapport_app::auth::RequestContext {
        &self.0
    }
}

impl FromRequest for RequestContext {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The TCP peer, or what a trusted proxy forwarded for: a client can
        // write any header, but cannot fake the TCP peer.
        let ip = crate::http::client_address::of(req).map(|a| a.to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        let request_id = req.extensions().get::<RequestId>().map(|id| id.to_string());
        ready(Ok(RequestContext(rapport_app::auth::RequestContext {
            ip,
            user_agent,
            request_id,
        })))
    }
}
