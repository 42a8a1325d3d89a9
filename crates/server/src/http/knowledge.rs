//! The knowledge base over HTTP. Reading needs no sign-in for public
//! articles; what each reader sees is decided in the use case.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{AccountId, ArticleId, ArticleStatus, ArticleVisibility, SuggestionId};
use rapport_store::kb::{Article, ArticleFilter, ArticleHit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use super::directory::parse_enum;
use super::page::{id_field, path_id};
use crate::auth::{Authenticated, MaybeAuthenticated};
use crate::blocking;
use crate::state::AppState;
use crate::usecase::knowledge::{self, ArticleInput};

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    #[schema(format = Uuid)]
    pub id: String,
    pub title: String,
    /// Markdown as written.
    pub body: String,
    /// The body rendered to sanitised HTML (no scripts, no event handlers).
    pub html: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// `public`, `contacts` or `restricted`.
    pub visibility: String,
    /// Staff only: who may read a restricted article.
    pub audience_tiers: Option<Vec<String>>,
    pub audience_accounts: Option<Vec<String>>,
    /// `draft`, `published` or `archived`.
    pub status: String,
    pub revision: i32,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

impl ArticleView {
    fn of(a: &Article, staff: bool) -> ArticleView {
        ArticleView {
            id: a.id.to_string(),
            title: a.title.clone(),
            body: a.body.clone(),
            html: knowledge::render(&a.body),
            category: a.category.clone(),
            tags: a.tags.clone(),
            visibility: a.visibility.as_str().to_owned(),
            audience_tiers: staff.then(|| a.audience.tiers.clone()),
            audience_accounts: staff.then(|| {
                a.audience
                    .accounts
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            }),
            status: a.status.as_str().to_owned(),
            revision: a.revision,
            updated_at: a.updated_at,
            published_at: a.published_at,
        }
    }
}

/// An article in a list: no body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleSummary {
    #[schema(format = Uuid)]
    pub id: String,
    pub title: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub visibility: String,
    pub status: String,
    pub updated_at: DateTime<Utc>,
    /// Search results: the matching passage, as plain text.
    pub snippet: Option<String>,
    /// The same passage in parts, the matched words marked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet_parts: Option<Vec<super::snippet::SnippetPart>>,
}

impl ArticleSummary {
    fn of(a: &Article, snippet: Option<String>) -> ArticleSummary {
        ArticleSummary {
            id: a.id.to_string(),
            title: a.title.clone(),
            category: a.category.clone(),
            tags: a.tags.clone(),
            visibility: a.visibility.as_str().to_owned(),
            status: a.status.as_str().to_owned(),
            updated_at: a.updated_at,
            snippet: None,
            snippet_parts: snippet.map(|s| super::snippet::split(&s).1),
        }
        .with_plain_snippet()
    }

    fn with_plain_snippet(mut self) -> Self {
        self.snippet = self
            .snippet_parts
            .as_ref()
            .map(|parts| parts.iter().map(|p| p.text.as_str()).collect());
        self
    }

    fn hit(h: &ArticleHit) -> ArticleSummary {
        ArticleSummary::of(&h.article, Some(plain(&h.snippet)))
    }
}

/// A passage of Markdown as plain text: emphasis, code and heading marks
/// go (the markers around matches stay).
fn plain(snippet: &str) -> String {
    snippet
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#').trim_start())
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['*', '`'], "")
        .replace("__", "")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleBody {
    pub title: String,
    /// Markdown, up to 200,000 characters.
    pub body: String,
    pub category: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `public` (anyone), `contacts` (default: signed-in contacts) or
    /// `restricted` (the tiers and accounts named below).
    pub visibility: Option<String>,
    #[serde(default)]
    pub audience_tiers: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub audience_accounts: Vec<String>,
    /// `draft` (default on creation), `published` or `archived`.
    pub status: Option<String>,
}

fn input(b: ArticleBody) -> Result<ArticleInput, ApiError> {
    Ok(ArticleInput {
        title: b.title,
        body: b.body,
        category: b.category,
        tags: b.tags,
        visibility: parse_enum(
            "visibility",
            b.visibility.as_deref(),
            ArticleVisibility::parse,
            ArticleVisibility::choices(),
        )?,
        audience_tiers: b.audience_tiers,
        audience_accounts: b
            .audience_accounts
            .iter()
            .map(|a| id_field::<AccountId>("audience_accounts", a))
            .collect::<Result<_, _>>()?,
        status: parse_enum(
            "status",
            b.status.as_deref(),
            ArticleStatus::parse,
            ArticleStatus::choices(),
        )?,
    })
}

fn is_staff(who: &MaybeAuthenticated) -> bool {
    matches!(
        who.0.map(|w| w.principal),
        Some(rapport_domain::Principal::Staff { .. })
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleListParams {
    pub category: Option<String>,
    pub tag: Option<String>,
    /// Staff: `draft`, `published` or `archived`.
    pub status: Option<String>,
    /// 1 to 200; default 100.
    pub limit: Option<i64>,
}

fn limit(raw: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match raw.unwrap_or(default) {
        n @ 1..=200 => Ok(n),
        _ => Err(ApiError::InvalidQuery("limit must be 1 to 200".into())),
    }
}

/// Articles the caller may read, most recently changed first. Without a
/// sign-in: public articles only.
#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "knowledge", params(ArticleListParams),
    responses((status = 200, description = "Articles", body = [ArticleSummary])))]
pub async fn list(
    state: web::Data<AppState>,
    who: MaybeAuthenticated,
    params: web::Query<ArticleListParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let filter = ArticleFilter {
        category: p.category.filter(|c| !c.is_empty()),
        tag: p.tag.map(|t| t.to_lowercase()).filter(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        }),
        status: p
            .status
            .as_deref()
            .map(|s| {
                ArticleStatus::parse(s).ok_or_else(|| {
                    ApiError::InvalidQuery(format!(
                        "status must be one of: {}",
                        ArticleStatus::choices()
                    ))
                })
            })
            .transpose()?,
    };
    let n = limit(p.limit, 100)?;
    let app = state.into_inner();
    let principal = who.0.map(|w| w.principal);
    let found =
        blocking::run(move || knowledge::list(&app, principal.as_ref(), &filter, n)).await?;
    Ok(HttpResponse::Ok().json(
        found
            .iter()
            .map(|a| ArticleSummary::of(a, None))
            .collect::<Vec<_>>(),
    ))
}

/// Write an article (agents and admins); every revision is kept in the audit log.
#[utoipa::path(post, path = "/api/v1/kb/articles", tag = "knowledge", request_body = ArticleBody, security(("bearer" = [])),
    responses((status = 201, description = "Created", body = ArticleView)))]
pub async fn create(
    state: web::Data<AppState>,
    who: Authenticated,
    body: web::Json<ArticleBody>,
) -> Result<HttpResponse, ApiError> {
    let input = input(body.into_inner())?;
    let app = state.into_inner();
    let a = blocking::run(move || knowledge::create(&app, &who.principal, &input)).await?;
    Ok(HttpResponse::Created().json(ArticleView::of(&a, true)))
}

/// One article, if the caller may read it (404 otherwise).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}", tag = "knowledge",
    responses((status = 200, description = "The article", body = ArticleView)))]
pub async fn get(
    state: web::Data<AppState>,
    who: MaybeAuthenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ArticleId = path_id(&id, "article")?;
    let staff = is_staff(&who);
    let principal = who.0.map(|w| w.principal);
    let app = state.into_inner();
    let a = blocking::run(move || knowledge::get(&app, principal.as_ref(), id)).await?;
    Ok(HttpResponse::Ok().json(ArticleView::of(&a, staff)))
}

/// Replace an article with a new revision (agents and admins). Every field
/// is replaced: `visibility` and `status` are required, and a field left
/// out (category, tags, audience) is cleared. An agent may not change the
/// audience of an article restricted to an account their teams do not serve.
#[utoipa::path(put, path = "/api/v1/kb/articles/{id}", tag = "knowledge", request_body = ArticleBody, security(("bearer" = [])),
    responses((status = 200, description = "The new revision", body = ArticleView)))]
pub async fn update(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<ArticleBody>,
) -> Result<HttpResponse, ApiError> {
    let id: ArticleId = path_id(&id, "article")?;
    let input = input(body.into_inner())?;
    let app = state.into_inner();
    let a = blocking::run(move || knowledge::update(&app, &who.principal, id, &input)).await?;
    Ok(HttpResponse::Ok().json(ArticleView::of(&a, true)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionView {
    pub at: DateTime<Utc>,
    /// `article.created`, `article.updated`, `article.published`, `article.archived`.
    pub action: String,
    #[schema(format = Uuid)]
    pub staff_id: Option<String>,
    /// The whole revision: revision, title, body, category, tags, visibility, audience, status.
    #[schema(value_type = Object)]
    pub content: serde_json::Map<String, serde_json::Value>,
}

/// Every revision of an article, oldest first, from the audit log (staff).
#[utoipa::path(get, path = "/api/v1/kb/articles/{id}/revisions", tag = "knowledge", security(("bearer" = [])),
    responses((status = 200, description = "Revisions", body = [RevisionView])))]
pub async fn revisions(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ArticleId = path_id(&id, "article")?;
    let app = state.into_inner();
    let list = blocking::run(move || knowledge::revisions(&app, &who.principal, id)).await?;
    Ok(HttpResponse::Ok().json(
        list.into_iter()
            .map(|r| RevisionView {
                at: r.at,
                action: r.action,
                staff_id: r.staff_id,
                content: r.content,
            })
            .collect::<Vec<_>>(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find (letters and digits; other characters separate words).
    pub q: String,
    /// 1 to 200; default 20.
    pub limit: Option<i64>,
}

/// Articles the caller may read that contain every word, best first.
#[utoipa::path(get, path = "/api/v1/kb/search", tag = "knowledge", params(SearchParams),
    responses((status = 200, description = "Matches", body = [ArticleSummary])))]
pub async fn search(
    state: web::Data<AppState>,
    who: MaybeAuthenticated,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    if p.q.chars().count() > 200 {
        return Err(ApiError::InvalidQuery(
            "q must be at most 200 characters".into(),
        ));
    }
    let n = limit(p.limit, 20)?;
    let principal = who.0.map(|w| w.principal);
    let app = state.into_inner();
    let hits = blocking::run(move || knowledge::search(&app, principal.as_ref(), &p.q, n)).await?;
    Ok(HttpResponse::Ok().json(hits.iter().map(ArticleSummary::hit).collect::<Vec<_>>()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestParams {
    /// The subject being typed.
    pub q: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionView {
    /// Pass as `kb_suggestion_id` when opening the case, or deflect with it.
    /// Null when nothing was suggested or the caller is staff.
    #[schema(format = Uuid)]
    pub suggestion_id: Option<String>,
    pub articles: Vec<ArticleSummary>,
}

/// Articles for a new case's subject, best first (any word matches, the
/// last one as a prefix). For contacts the suggestion is recorded.
#[utoipa::path(get, path = "/api/v1/kb/suggest", tag = "knowledge", params(SuggestParams), security(("bearer" = [])),
    responses((status = 200, description = "Suggested articles", body = SuggestionView)))]
pub async fn suggest(
    state: web::Data<AppState>,
    who: Authenticated,
    params: web::Query<SuggestParams>,
) -> Result<HttpResponse, ApiError> {
    let q = params.into_inner().q;
    let app = state.into_inner();
    let (id, hits) = blocking::run(move || knowledge::suggest(&app, &who.principal, &q)).await?;
    Ok(HttpResponse::Ok().json(SuggestionView {
        suggestion_id: id.map(|i| i.to_string()),
        articles: hits.iter().map(ArticleSummary::hit).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeflectBody {
    /// The suggested article that answered the question, if one did.
    #[schema(format = Uuid)]
    pub article_id: Option<String>,
}

/// The contact found the answer in the suggested articles and opens no case.
#[utoipa::path(post, path = "/api/v1/kb/suggestions/{id}/deflect", tag = "knowledge", request_body = DeflectBody, security(("bearer" = [])),
    responses((status = 204, description = "Recorded")))]
pub async fn deflect(
    state: web::Data<AppState>,
    who: Authenticated,
    id: web::Path<String>,
    body: web::Json<DeflectBody>,
) -> Result<HttpResponse, ApiError> {
    let id: SuggestionId = path_id(&id, "suggestion")?;
    let helpful = body
        .article_id
        .as_deref()
        .map(|a| id_field::<ArticleId>("article_id", a))
        .transpose()?;
    let app = state.into_inner();
    blocking::run(move || knowledge::deflect(&app, &who.principal, id, helpful)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkdownBody {
    /// Markdown, as written in a reply or an article.
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkdownPreview {
    /// The HTML an email reply's HTML part (or an article) will show:
    /// sanitised, no scripts, no event handlers.
    pub html: String,
}

/// How Markdown will look (staff): the preview beside a reply or an article.
#[utoipa::path(post, path = "/api/v1/markdown", tag = "knowledge", request_body = MarkdownBody, security(("bearer" = [])),
    responses((status = 200, description = "The rendered HTML", body = MarkdownPreview),
              (status = 403, description = "`forbidden` for everyone but staff", body = super::Problem, content_type = "application/problem+json")))]
pub async fn preview_markdown(
    who: Authenticated,
    body: web::Json<MarkdownBody>,
) -> Result<HttpResponse, ApiError> {
    who.staff()?;
    let text = body.into_inner().text;
    if text.chars().count() > knowledge::MAX_BODY_CHARS {
        return Err(ApiError::UseCase(
            crate::usecase::UseCaseError::Validation {
                field: "text",
                message: format!("must be at most {} characters", knowledge::MAX_BODY_CHARS),
            },
        ));
    }
    Ok(HttpResponse::Ok().json(MarkdownPreview {
        html: knowledge::render(&text),
    }))
}
