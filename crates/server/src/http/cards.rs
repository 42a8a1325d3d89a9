//! Customer cards over HTTP: admins register the systems to ask; staff
//! read a case's cards, fetched from every source at once, each within a
//! short timeout and reused for a few minutes.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use rapport_app::usecase::cards::{self, Card, CardRequest};
use rapport_domain::CaseId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;

/// How long a source may take to answer.
const TIMEOUT: Duration = Duration::from_secs(3);
/// How long an answer is reused for the same case.
const CACHE_FOR: Duration = Duration::from_secs(300);
/// The largest answer read.
const MAX_ANSWER: usize = 64 * 1024;
/// Answers kept at most (each under [`MAX_ANSWER`] once parsed and cut).
const CACHE_ENTRIES: usize = 10_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSourceBody {
    /// The card's name when the system gives no title ("ERP").
    #[schema(example = "ERP")]
    pub name: String,
    /// Where Rapport POSTs `{"account", "contact", "case"}` (signed like
    /// webhooks) and reads `{"title", "rows": [{"label", "value"}], "links": [{"label", "url"}]}`.
    #[schema(example = "https://erp.example/rapport/card")]
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

impl From<&rapport_store::cards::CardSource> for SourceView {
    fn from(s: &rapport_store::cards::CardSource) -> Self {
        SourceView {
            id: s.id.clone(),
            name: s.name.clone(),
            url: s.url.clone(),
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredSourceView {
    #[serde(flatten)]
    pub source: SourceView,
    /// The signing secret (`whsec_` + base64), shown only here.
    pub secret: String,
}

/// Register a source of customer cards (admins).
#[utoipa::path(post, path = "/api/v1/customer-cards", tag = "customer cards", request_body = NewSourceBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; the secret is shown only here", body = RegisteredSourceView),
        (status = 422, description = "`validation_failed`: a bad name or URL", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<NewSourceBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let app = state.app.clone();
    let r = blocking::run(move || cards::register(&app, &who.principal, &b.name, &b.url)).await?;
    Ok(HttpResponse::Created().json(RegisteredSourceView {
        source: SourceView::from(&r.source),
        secret: r.secret,
    }))
}

/// Every source of customer cards (admins).
#[utoipa::path(get, path = "/api/v1/customer-cards", tag = "customer cards", security(("bearer" = [])),
    responses((status = 200, description = "The sources, in the order cards show", body = [SourceView]),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn list(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let sources = blocking::run(move || cards::list(&app, &who.principal)).await?;
    Ok(HttpResponse::Ok().json(sources.iter().map(SourceView::from).collect::<Vec<_>>()))
}

/// Remove a source of customer cards (admins).
#[utoipa::path(delete, path = "/api/v1/customer-cards/{id}", tag = "customer cards", security(("bearer" = [])),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: admins only", body = super::Problem, content_type = "application/problem+json")))]
pub async fn remove(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    blocking::run(move || cards::remove(&app, &who.principal, &id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// One source's card for a case, or why there is none.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CardView {
    pub source: String,
    #[schema(value_type = Option<Object>)]
    pub card: Option<Card>,
    /// Why the source gave no card (it did not answer in time, said 500…).
    pub error: Option<String>,
}

/// Answers by source, account and contact, with when they came.
type Cache = Mutex<HashMap<String, (Card, Instant)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

async fn ask(client: &awc::Client, r: CardRequest) -> CardView {
    if let Some((card, at)) = cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&r.cache_key)
        && at.elapsed() < CACHE_FOR
    {
        return CardView {
            source: r.name,
            card: Some(card.clone()),
            error: None,
        };
    }
    let answer = async {
        let mut res = client
            .post(&r.url)
            .insert_header(("content-type", "application/json"))
            .insert_header(("webhook-id", r.webhook_id.as_str()))
            .insert_header(("webhook-timestamp", r.timestamp.to_string()))
            .insert_header(("webhook-signature", r.signature.as_str()))
            .send_body(r.body.clone())
            .await
            .map_err(|e| match e {
                awc::error::SendRequestError::Timeout => "it did not answer in time".to_owned(),
                other => format!("it could not be reached ({other})"),
            })?;
        if !res.status().is_success() {
            return Err(format!("it answered {}", res.status()));
        }
        let body = res
            .body()
            .limit(MAX_ANSWER)
            .await
            .map_err(|e| format!("its answer could not be read ({e})"))?;
        cards::parse_card(&r.name, &body)
    }
    .await;
    match answer {
        Ok(card) => {
            let mut cached = cache().lock().unwrap_or_else(|e| e.into_inner());
            // Expired answers go; a full cache starts over rather than grow.
            cached.retain(|_, (_, at)| at.elapsed() < CACHE_FOR);
            if cached.len() >= CACHE_ENTRIES {
                cached.clear();
            }
            cached.insert(r.cache_key, (card.clone(), Instant::now()));
            drop(cached);
            CardView {
                source: r.name,
                card: Some(card),
                error: None,
            }
        }
        Err(why) => {
            tracing::info!(source = %r.source_id, %why, "a customer card source gave no card");
            CardView {
                source: r.name,
                card: None,
                error: Some(why),
            }
        }
    }
}

/// The customer cards of a case: every source asked at once, each given
/// three seconds; staff who may read the case.
#[utoipa::path(get, path = "/api/v1/cases/{id}/cards", tag = "customer cards", security(("bearer" = [])),
    responses((status = 200, description = "One per source, in order", body = [CardView]),
              (status = 404, description = "`not_found`: no such case, or not yours to read", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden` for contacts and API tokens", body = super::Problem, content_type = "application/problem+json")))]
pub async fn of_case(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let case: CaseId = super::page::path_id(&id, "case")?;
    let app = state.app.clone();
    let requests =
        blocking::run(move || cards::requests_for_case(&app, &who.principal, case, Utc::now()))
            .await?;
    let client = awc::Client::builder()
        .timeout(TIMEOUT)
        .disable_redirects()
        .finish();
    let views = join_all(requests.into_iter().map(|r| ask(&client, r))).await;
    Ok(HttpResponse::Ok().json(views))
}
