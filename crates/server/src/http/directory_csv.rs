//! Accounts and contacts as CSV files: export, and import with a dry run.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::directory_csv::{self, ImportReport, Kind, RowAction};

/// Largest CSV file accepted.
const MAX_CSV_BYTES: usize = 16 * 1_048_576;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// `accounts` or `contacts`.
    pub kind: String,
    /// `true` (the default) reports what would change and saves nothing.
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportRowView {
    /// Line in the file; the header is line 1.
    pub line: usize,
    /// `create`, `update`, `unchanged` or `invalid`.
    pub action: String,
    /// The account's name or the contact's first address.
    pub key: String,
    /// `{"before", "after"}` of the fields that change, or `{"after"}` of a new record.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<serde_json::Value>,
    /// The column at fault, for an invalid row.
    pub field: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReportView {
    /// `accounts` or `contacts`.
    pub kind: String,
    pub dry_run: bool,
    /// Whether anything was saved: never on a dry run, never with an invalid row.
    pub applied: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub invalid: usize,
    pub rows: Vec<ImportRowView>,
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Accounts => "accounts",
        Kind::Contacts => "contacts",
    }
}

impl From<ImportReport> for ImportReportView {
    fn from(r: ImportReport) -> Self {
        ImportReportView {
            kind: kind_name(r.kind).to_owned(),
            dry_run: r.dry_run,
            applied: r.applied,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            invalid: r.invalid,
            rows: r
                .rows
                .into_iter()
                .map(|row| ImportRowView {
                    line: row.line,
                    action: match row.action {
                        RowAction::Create => "create",
                        RowAction::Update => "update",
                        RowAction::Unchanged => "unchanged",
                        RowAction::Invalid => "invalid",
                    }
                    .to_owned(),
                    key: row.key,
                    changes: row.changes,
                    field: row.field,
                    error: row.error,
                })
                .collect(),
        }
    }
}

fn parse_kind(kind: &str) -> Result<Kind, ApiError> {
    match kind {
        "accounts" => Ok(Kind::Accounts),
        "contacts" => Ok(Kind::Contacts),
        other => Err(ApiError::InvalidQuery(format!(
            "kind `{other}` is not `accounts` or `contacts`"
        ))),
    }
}

/// Import accounts or contacts from CSV (admins). A dry run (the default)
/// reports row by row what would be created and changed; `dry_run=false`
/// saves, but only when every row is valid: otherwise nothing is saved and
/// the report says why. Only the columns present are set; rows match
/// existing records by `id`, else accounts by name and contacts by their
/// first address.
#[utoipa::path(post, path = "/api/v1/directory/import", tag = "accounts", params(ImportParams),
    security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv", description = "The file, UTF-8, with a header row"),
    responses((status = 200, description = "What the import did or would do", body = ImportReportView),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json"),
              (status = 413, description = "`payload_too_large`: over 16 MiB", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed` on `file`: not CSV, unknown columns, no rows", body = super::Problem, content_type = "application/problem+json")))]
pub async fn import(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<ImportParams>,
    mut body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let kind = parse_kind(&q.kind)?;
    let dry_run = q.dry_run.unwrap_or(true);
    let mut raw = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(format!("body unreadable: {e}")))?;
        if raw.len() + chunk.len() > MAX_CSV_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_CSV_BYTES,
            });
        }
        raw.extend_from_slice(&chunk);
    }
    let app = state.into_inner();
    let report =
        blocking::run(move || directory_csv::import(&app, &who.principal, kind, &raw, dry_run))
            .await?;
    Ok(HttpResponse::Ok().json(ImportReportView::from(report)))
}

async fn export(
    state: web::Data<AppState>,
    who: Authenticated,
    kind: Kind,
) -> Result<HttpResponse, ApiError> {
    let app = state.into_inner();
    let csv = blocking::run(move || directory_csv::export(&app, &who.principal, kind)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.csv\"", kind_name(kind)),
        ))
        .body(csv))
}

/// Every account as CSV, in the columns the import reads (admins).
#[utoipa::path(get, path = "/api/v1/directory/accounts.csv", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "id, name, domains, tier, lifecycle, team, owner, notes", content_type = "text/csv"),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json")))]
pub async fn export_accounts(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    export(state, who, Kind::Accounts).await
}

/// Every contact as CSV, in the columns the import reads (admins).
#[utoipa::path(get, path = "/api/v1/directory/contacts.csv", tag = "contacts", security(("bearer" = [])),
    responses((status = 200, description = "id, account, name, emails, function, title, phone, visibility, portal_access, active", content_type = "text/csv"),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json")))]
pub async fn export_contacts(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    export(state, who, Kind::Contacts).await
}
