//! Single sign-on through OpenID Connect: sends the browser to the
//! provider (authorization code with PKCE, state and nonce), takes its
//! answer, exchanges the code, checks the ID token against the provider's
//! published keys, and hands the page a one-time code in the URL fragment
//! that it redeems for a session. Errors go back to the page the same way,
//! as a sentence a person can act on.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use rapport_app::auth::oidc::{self, AuthorizationRequest, Discovery, IdClaims};
use rapport_app::usecase::UseCaseError;
use rapport_app::usecase::sso::{self, AccountProviderInput, AccountProviderView, Provider};
use rapport_domain::AccountId;
use rapport_store::sso::Audience;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::TokenResponse;
use super::problem::ApiError;
use crate::auth::extract::{Authenticated, RequestContext};
use crate::blocking;
use crate::state::AppState;

/// How long a provider's discovery document and keys are reused.
const DOCUMENT_TTL: Duration = Duration::from_secs(600);
/// How long a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider.
const MAX_PROVIDER_BODY: usize = 512 * 1024;

/// Discovery documents and keys by issuer, with when they were read.
type Documents = Mutex<HashMap<String, (Discovery, JwkSet, Instant)>>;

fn documents() -> &'static Documents {
    static DOCS: OnceLock<Documents> = OnceLock::new();
    DOCS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(PROVIDER_TIMEOUT)
        .disable_redirects()
        .finish()
}

fn failed(what: impl std::fmt::Display) -> UseCaseError {
    UseCaseError::SingleSignOnFailed(what.to_string())
}

async fn get_json(url: &str) -> Result<Vec<u8>, UseCaseError> {
    let mut res = client()
        .get(url)
        .insert_header(("accept", "application/json"))
        .send()
        .await
        .map_err(|e| failed(format!("{url} could not be reached: {e}")))?;
    if !res.status().is_success() {
        return Err(failed(format!("{url} answered {}", res.status())));
    }
    Ok(res
        .body()
        .limit(MAX_PROVIDER_BODY)
        .await
        .map_err(|e| failed(format!("{url}: {e}")))?
        .to_vec())
}

/// The provider's endpoints and keys; `fresh` reads them again (keys
/// rotate: a token signed with a key not yet seen asks once more).
async fn provider_documents(
    issuer: &str,
    fresh: bool,
) -> Result<(Discovery, JwkSet), UseCaseError> {
    if !fresh
        && let Some((d, k, at)) = documents()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer)
        && at.elapsed() < DOCUMENT_TTL
    {
        return Ok((d.clone(), k.clone()));
    }
    let doc = get_json(&Discovery::url(issuer)).await?;
    let discovery = Discovery::parse(issuer, &doc).map_err(failed)?;
    let keys: JwkSet = serde_json::from_slice(&get_json(&discovery.jwks_uri).await?)
        .map_err(|e| failed(format!("the provider's keys are unreadable: {e}")))?;
    documents()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            issuer.to_owned(),
            (discovery.clone(), keys.clone(), Instant::now()),
        );
    Ok((discovery, keys))
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}/auth/sso/callback", state.public_url())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .insert_header(("cache-control", "no-store"))
        .finish()
}

/// Back to the page, with the outcome in the fragment (never sent to a
/// server, never in a log).
fn back_to(return_to: &str, key: &str, value: &str) -> HttpResponse {
    let encoded: String = url_encode(value);
    see_other(&format!("{return_to}#{key}={encoded}"))
}

/// Everything but RFC 3986's unreserved characters, percent-encoded.
fn url_encode(value: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

/// The cookie that ties a sign-in to the browser that started it.
const BROWSER_COOKIE: &str = "rapport_sso";

fn browser_cookie(state: &AppState, value: &str, max_age_secs: i64) -> String {
    let secure = if state.public_url().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

fn browser_of(req: &actix_web::HttpRequest) -> Option<String> {
    req.cookie(BROWSER_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// Where a sign-in goes and comes back to.
struct Trip {
    audience: Audience,
    account: Option<AccountId>,
    return_to: String,
    /// The page when `return_to` is not one of this server.
    fallback: &'static str,
    login_hint: Option<String>,
}

/// Sends the browser to the provider for a new attempt; when that cannot
/// be done, back to the page with the reason.
async fn go_to_provider(state: &AppState, provider: &Provider, trip: Trip) -> HttpResponse {
    let back = safe_path(&trip.return_to, trip.fallback).to_owned();
    let browser = match oidc::random() {
        Ok(b) => b,
        Err(e) => return back_to(&back, "sso_error", &e.to_string()),
    };
    match authorization_url(state, provider, &trip, &browser).await {
        Ok(url) => {
            let mut res = see_other(&url);
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&browser_cookie(
                state, &browser, 600,
            )) {
                res.headers_mut()
                    .append(actix_web::http::header::SET_COOKIE, v);
            }
            res
        }
        Err(e) => back_to(&back, "sso_error", &e.to_string()),
    }
}

async fn authorization_url(
    state: &AppState,
    provider: &Provider,
    trip: &Trip,
    browser: &str,
) -> Result<String, UseCaseError> {
    let (discovery, _) = provider_documents(&provider.issuer, false).await?;
    let (app, audience, account, back, browser) = (
        state.app.clone(),
        trip.audience,
        trip.account,
        trip.return_to.clone(),
        browser.to_owned(),
    );
    let started =
        blocking::call(move || sso::start(&app, audience, account, &back, &browser)).await?;
    AuthorizationRequest {
        endpoint: &discovery.authorization_endpoint,
        client_id: &provider.client_id,
        redirect_uri: &redirect_uri(state),
        state: &started.state,
        nonce: &started.nonce,
        challenge: &started.challenge,
        login_hint: trip.login_hint.as_deref(),
    }
    .url()
    .map_err(failed)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct StartParams {
    /// The page to return to after signing in (a path of this server).
    pub return_to: Option<String>,
}

/// Staff sign-in through the organisation's provider: redirects there.
#[utoipa::path(get, path = "/auth/sso/staff", tag = "auth", params(StartParams),
    responses((status = 303, description = "To the identity provider; back at the page with `#sso_error=…` when single sign-on is off or the provider cannot be reached")))]
pub async fn start_staff(
    state: web::Data<AppState>,
    query: web::Query<StartParams>,
) -> Result<HttpResponse, ApiError> {
    let return_to = query
        .into_inner()
        .return_to
        .unwrap_or_else(|| "/console".into());
    let Some(provider) = sso::staff_provider(&state.app) else {
        return Ok(back_to(
            safe_path(&return_to, "/console"),
            "sso_error",
            "single sign-on is not set up here; sign in with your password",
        ));
    };
    let trip = Trip {
        audience: Audience::Staff,
        account: None,
        return_to,
        fallback: "/console",
        login_hint: None,
    };
    Ok(go_to_provider(&state, &provider, trip).await)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactStartParams {
    /// The contact's address: its domain decides the company's provider.
    pub email: String,
    pub return_to: Option<String>,
}

/// A contact's sign-in through their company's provider: redirects there.
#[utoipa::path(get, path = "/auth/sso/contact", tag = "auth", params(ContactStartParams),
    responses((status = 303, description = "To the company's identity provider; back at the portal with `#sso_error=…` when the address's company names none")))]
pub async fn start_contact(
    state: web::Data<AppState>,
    query: web::Query<ContactStartParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let return_to = q.return_to.unwrap_or_else(|| "/portal".into());
    let email = q.email.trim().chars().take(254).collect::<String>();
    let app = state.app.clone();
    let lookup = email.clone();
    let found = blocking::run(move || sso::contact_provider(&app, &lookup)).await?;
    let Some((account, provider)) = found else {
        return Ok(back_to(
            safe_path(&return_to, "/portal"),
            "sso_error",
            "your company does not sign in here with its own account; use the email link instead",
        ));
    };
    let trip = Trip {
        audience: Audience::Contact,
        account: Some(account),
        return_to,
        fallback: "/portal",
        login_hint: Some(email),
    };
    Ok(go_to_provider(&state, &provider, trip).await)
}

fn safe_path<'a>(path: &'a str, fallback: &'a str) -> &'a str {
    sso::safe_return(path).unwrap_or(fallback)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    /// Set by the provider when it refused or failed.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    id_token: String,
}

/// The provider's answer: exchanges the code, checks the ID token, and
/// returns to the page the sign-in started from.
#[utoipa::path(get, path = "/auth/sso/callback", tag = "auth", params(CallbackParams),
    responses((status = 303, description = "Back at the page with `#sso=<one-time code>` (redeem it at `/api/v1/auth/sso/redeem`) or `#sso_error=<why>`"),
              (status = 400, description = "`invalid_query`: no state", body = super::Problem, content_type = "application/problem+json")))]
pub async fn callback(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: actix_web::HttpRequest,
    query: web::Query<CallbackParams>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let Some(state_param) = q.state.filter(|s| !s.is_empty() && s.len() <= 128) else {
        return Err(ApiError::InvalidQuery("state is missing".into()));
    };
    let (app, browser) = (state.app.clone(), browser_of(&req));
    let (attempt, provider) =
        match blocking::call(move || sso::take(&app, &state_param, browser.as_deref())).await {
            Ok(Some(found)) => found,
            // Forged or replayed: nothing was started, nothing to record.
            Ok(None) => {
                return Ok(back_to(
                    "/console",
                    "sso_error",
                    "this sign-in expired or was already used; start again",
                ));
            }
            Err(e) => {
                record_failure(&state, Audience::Staff, &e, &ctx).await;
                return Ok(back_to("/console", "sso_error", &e.to_string()));
            }
        };
    let outcome = finish(
        &state,
        &attempt,
        &provider,
        q.code,
        q.error,
        q.error_description,
        &ctx,
    )
    .await;
    match outcome {
        Ok(code) => Ok(back_to(&attempt.return_to, "sso", &code)),
        Err(e) => {
            record_failure(&state, attempt.audience, &e, &ctx).await;
            Ok(back_to(&attempt.return_to, "sso_error", &e.to_string()))
        }
    }
}

async fn record_failure(
    state: &AppState,
    audience: Audience,
    e: &UseCaseError,
    ctx: &RequestContext,
) {
    let (app, why, ctx) = (state.app.clone(), e.to_string(), ctx.0.clone());
    if let Err(err) = blocking::call(move || sso::record_failure(&app, audience, &why, &ctx)).await
    {
        tracing::warn!(error = %err, "could not record a failed single sign-on");
    }
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    attempt: &rapport_store::sso::Attempt,
    provider: &Provider,
    code: Option<String>,
    error: Option<String>,
    description: Option<String>,
    ctx: &RequestContext,
) -> Result<String, UseCaseError> {
    if let Some(error) = error {
        let said = description.unwrap_or(error);
        return Err(UseCaseError::SingleSignOnFailed(format!(
            "the identity provider did not sign you in: {}",
            said.chars().take(200).collect::<String>()
        )));
    }
    let code = code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| failed("the provider's answer has no code"))?;
    let (discovery, keys) = provider_documents(&provider.issuer, false).await?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        url_encode(&provider.client_id),
        url_encode(&provider.client_secret)
    ));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", &redirect_uri(state)),
        ("code_verifier", attempt.verifier.as_str()),
    ];
    let mut res = client()
        .post(&discovery.token_endpoint)
        .insert_header(("authorization", format!("Basic {basic}")))
        .insert_header(("accept", "application/json"))
        .send_form(&form)
        .await
        .map_err(|e| {
            failed(format!(
                "the provider's token endpoint could not be reached: {e}"
            ))
        })?;
    let body = res
        .body()
        .limit(MAX_PROVIDER_BODY)
        .await
        .map_err(|e| failed(format!("the provider's token answer: {e}")))?;
    if !res.status().is_success() {
        return Err(failed(format!(
            "the provider refused the code ({}): {}",
            res.status(),
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        )));
    }
    let answer: TokenAnswer = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("the provider's token answer has no ID token: {e}")))?;
    let issuers = [provider.issuer.as_str(), discovery.issuer.as_str()];
    let verify = |keys: &JwkSet| {
        oidc::verify_id_token(
            &answer.id_token,
            keys,
            &issuers,
            &provider.client_id,
            &attempt.nonce,
        )
    };
    let claims: IdClaims = match verify(&keys) {
        Ok(c) => c,
        // A key the cache has not seen yet: the provider may have rotated.
        Err(_) => verify(&provider_documents(&provider.issuer, true).await?.1).map_err(failed)?,
    };
    let (app, attempt, ctx) = (state.app.clone(), attempt.clone(), ctx.0.clone());
    blocking::call(move || sso::complete(&app, &attempt, &claims, &ctx)).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RedeemSso {
    /// The code of the `#sso=` fragment.
    pub code: String,
}

/// Signed in through the provider: the page's one-time code for a session.
#[utoipa::path(post, path = "/api/v1/auth/sso/redeem", tag = "auth", request_body = RedeemSso,
    responses((status = 200, description = "Signed in", body = TokenResponse),
              (status = 401, description = "`invalid_sso_code`: unknown, used or older than two minutes", body = super::Problem, content_type = "application/problem+json")))]
pub async fn redeem(
    state: web::Data<AppState>,
    ctx: RequestContext,
    req: actix_web::HttpRequest,
    body: web::Json<RedeemSso>,
) -> Result<HttpResponse, ApiError> {
    let code = body.into_inner().code;
    if code.is_empty() || code.len() > 128 {
        return Err(UseCaseError::InvalidSingleSignOnCode.into());
    }
    let (app, browser) = (state.app.clone(), browser_of(&req));
    let (tokens, _) =
        blocking::run(move || sso::redeem(&app, &code, browser.as_deref(), &ctx.0)).await?;
    // The cookie did its work: gone.
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::SET_COOKIE,
            browser_cookie(&state, "", 0),
        ))
        .json(TokenResponse::from(tokens)))
}

/// What sign-in pages offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoOffer {
    /// The staff button's label when single sign-on is on ("Sign in with …").
    pub staff: Option<String>,
}

/// Whether staff sign in through the organisation's provider.
#[utoipa::path(get, path = "/api/v1/auth/sso", tag = "auth",
    responses((status = 200, description = "What the sign-in page offers", body = SsoOffer)))]
pub async fn offer(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(SsoOffer {
        staff: sso::staff_provider(&state.app).map(|p| p.label),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactOfferParams {
    pub email: String,
}

/// A company's sign-in, for the portal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactOffer {
    /// The company's provider, as its button names it; none when it has none.
    pub label: Option<String>,
    /// Contacts of the company sign in only this way.
    pub required: bool,
}

/// Whether the address's company signs its people in with its own account.
#[utoipa::path(get, path = "/api/v1/auth/sso/contact", tag = "auth", params(ContactOfferParams),
    responses((status = 200, description = "The company's sign-in, if any", body = ContactOffer)))]
pub async fn contact_offer(
    state: web::Data<AppState>,
    query: web::Query<ContactOfferParams>,
) -> Result<HttpResponse, ApiError> {
    let email = query.into_inner().email;
    if email.len() > 254 {
        return Err(ApiError::InvalidQuery(
            "email is longer than 254 characters".into(),
        ));
    }
    let app = state.app.clone();
    let found = blocking::run(move || sso::contact_provider(&app, &email))
        .await?
        .map(|(_, p)| ContactOffer {
            label: Some(p.label),
            required: p.required,
        })
        .unwrap_or(ContactOffer {
            label: None,
            required: false,
        });
    Ok(HttpResponse::Ok().json(found))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountSsoView {
    pub issuer: String,
    pub client_id: String,
    pub label: String,
    pub required: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<AccountProviderView> for AccountSsoView {
    fn from(v: AccountProviderView) -> Self {
        AccountSsoView {
            issuer: v.issuer,
            client_id: v.client_id,
            label: v.label,
            required: v.required,
            updated_at: v.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AccountSsoBody {
    /// The company's issuer URL.
    #[schema(example = "https://login.acme.example")]
    pub issuer: String,
    pub client_id: String,
    /// Required the first time; leave out to keep the stored one.
    pub client_secret: Option<String>,
    /// The portal's button: "Sign in with <label>".
    pub label: String,
    /// Contacts then sign in only through it (no password, no email link).
    #[serde(default)]
    pub required: bool,
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    raw.parse()
        .map_err(|_| UseCaseError::NotFound("account").into())
}

/// The account's own identity provider (admins).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/sso", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The provider", body = AccountSsoView),
              (status = 404, description = "`not_found`: no such account, or it names no provider", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn get_account_sso(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&id)?;
    let app = state.app.clone();
    let found = blocking::run(move || sso::account_provider(&app, &who.principal, account)).await?;
    match found {
        Some(v) => Ok(HttpResponse::Ok().json(AccountSsoView::from(v))),
        None => Err(UseCaseError::NotFound("identity provider").into()),
    }
}

/// Sets the account's own identity provider (admins). Register
/// `<public_url>/auth/sso/callback` as the redirect URI at the provider.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/sso", tag = "accounts", request_body = AccountSsoBody, security(("bearer" = [])),
    responses((status = 200, description = "Saved", body = AccountSsoView),
              (status = 422, description = "`validation_failed`", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn put_account_sso(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<AccountSsoBody>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&id)?;
    let b = body.into_inner();
    let input = AccountProviderInput {
        issuer: b.issuer,
        client_id: b.client_id,
        client_secret: b.client_secret,
        label: b.label,
        required: b.required,
    };
    let app = state.app.clone();
    let saved =
        blocking::run(move || sso::set_account_provider(&app, &who.principal, account, input))
            .await?;
    Ok(HttpResponse::Ok().json(AccountSsoView::from(saved)))
}

/// Removes the account's own identity provider (admins).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/sso", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn delete_account_sso(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = account_id(&id)?;
    let app = state.app.clone();
    blocking::run(move || sso::remove_account_provider(&app, &who.principal, account)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_server_are_returned_to() {
        assert_eq!(safe_path("/console", "/"), "/console");
        assert_eq!(safe_path("/console/cases/1042", "/"), "/console/cases/1042");
        assert_eq!(safe_path("//evil.example/x", "/portal"), "/portal");
        assert_eq!(safe_path("https://evil.example", "/portal"), "/portal");
        assert_eq!(safe_path("/\\evil.example", "/portal"), "/portal");
        assert_eq!(safe_path("/\t/evil.example", "/portal"), "/portal");
        assert_eq!(safe_path("/console/\t/evil.example", "/portal"), "/portal");
        // Never an endpoint that would carry the code on to another site.
        assert_eq!(
            safe_path("/auth/sso/contact?email=x@evil.example", "/portal"),
            "/portal"
        );
        assert_eq!(safe_path("/consolex", "/portal"), "/portal");
        assert_eq!(url_encode("a b/é"), "a%20b%2F%C3%A9");
    }
}
