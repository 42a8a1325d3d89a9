//! Evidence over HTTP: editing with versions, redaction behind tombstones.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use rapport_domain::{CaseId, EntryId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ApiError;
use super::cases::{EntryView, TombstoneView};
use super::page::path_id;
use crate::auth::Authenticated;
use crate::blocking;
use crate::state::AppState;
use crate::usecase::evidence;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactBody {
    /// Why (3 to 500 characters); it stays on the tombstone and in the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    /// Empty once redacted.
    pub body: String,
    pub body_sha256: String,
    /// `staff`, `contact` or `system`.
    pub written_by_kind: String,
    #[schema(format = Uuid)]
    pub written_by_id: Option<String>,
    pub written_at: DateTime<Utc>,
    pub redacted_at: Option<DateTime<Utc>>,
}

fn ids(path: &(String, String)) -> Result<(CaseId, EntryId), ApiError> {
    Ok((path_id(&path.0, "case")?, path_id(&path.1, "entry")?))
}

/// Edits a note or a portal/chat message: a new version, the previous one
/// kept and audited with its SHA-256. Staff edit their own within
/// `cases.edit_window_minutes`; admins any time. Emails and events cannot
/// be edited.
#[utoipa::path(patch, path = "/api/v1/cases/{id}/entries/{entry_id}", tag = "cases", request_body = EditBody,
    params(("id" = String, Path, format = Uuid), ("entry_id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses((status = 200, description = "The entry as it is now", body = EntryView),
              (status = 403, description = "`forbidden`: not yours, or not staff", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 409, description = "`conflict`: the entry is redacted", body = super::Problem, content_type = "application/problem+json"),
              (status = 422, description = "`validation_failed`: an email or event, or the edit window passed", body = super::Problem, content_type = "application/problem+json")))]
pub async fn edit(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<EditBody>,
) -> Result<HttpResponse, ApiError> {
    let (case, entry) = ids(&path)?;
    let text = body.into_inner().body;
    let principal = who.principal;
    let updated =
        blocking::run(move || evidence::edit_entry(&state, &principal, case, entry, &text)).await?;
    Ok(HttpResponse::Ok().json(EntryView::from(&updated)))
}

/// Every version of an entry, oldest first (staff).
#[utoipa::path(get, path = "/api/v1/cases/{id}/entries/{entry_id}/versions", tag = "cases",
    params(("id" = String, Path, format = Uuid), ("entry_id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses((status = 200, description = "Versions", body = Vec<VersionView>),
              (status = 403, description = "`forbidden` for contacts and API tokens", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json")))]
pub async fn versions(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (case, entry) = ids(&path)?;
    let principal = who.principal;
    let list = blocking::run(move || evidence::versions(&state, &principal, case, entry)).await?;
    let views: Vec<VersionView> = list
        .into_iter()
        .map(|v| VersionView {
            version: v.version,
            body: v.body,
            body_sha256: v.body_sha256,
            written_by_kind: v.written_by_kind,
            written_by_id: v.written_by_id,
            written_at: v.written_at,
            redacted_at: v.redacted_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Removes an entry's content (all versions, email text and original
/// message) from storage and search; a tombstone stays. Admins.
#[utoipa::path(post, path = "/api/v1/cases/{id}/entries/{entry_id}/redact", tag = "cases", request_body = RedactBody,
    params(("id" = String, Path, format = Uuid), ("entry_id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses((status = 200, description = "The tombstone", body = TombstoneView),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 409, description = "`conflict`: already redacted", body = super::Problem, content_type = "application/problem+json")))]
pub async fn redact_entry(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<(String, String)>,
    body: web::Json<RedactBody>,
) -> Result<HttpResponse, ApiError> {
    let (case, entry) = ids(&path)?;
    let reason = body.into_inner().reason;
    let principal = who.principal;
    let t = blocking::run(move || evidence::redact_entry(&state, &principal, case, entry, &reason))
        .await?;
    Ok(HttpResponse::Ok().json(TombstoneView::from(&t)))
}

/// Removes a file's content from disk; a tombstone stays. Admins.
#[utoipa::path(post, path = "/api/v1/attachments/{id}/redact", tag = "cases", request_body = RedactBody,
    params(("id" = String, Path, format = Uuid)), security(("bearer" = [])),
    responses((status = 200, description = "The tombstone", body = TombstoneView),
              (status = 403, description = "`forbidden` for everyone but admins", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json"),
              (status = 410, description = "`redacted`: already redacted", body = super::Problem, content_type = "application/problem+json")))]
pub async fn redact_attachment(
    state: web::Data<AppState>,
    who: Authenticated,
    path: web::Path<String>,
    body: web::Json<RedactBody>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let reason = body.into_inner().reason;
    let principal = who.principal;
    let t = blocking::run(move || evidence::redact_attachment(&state, &principal, &id, &reason))
        .await?;
    Ok(HttpResponse::Ok().json(TombstoneView::from(&t)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BundleParams {
    /// A case by number or id.
    pub case: Option<String>,
    /// An account by id: all of its cases.
    #[param(format = Uuid)]
    pub account: Option<String>,
}

/// An evidence bundle (ZIP): threads as HTML and text with versions and
/// tombstones, original emails, attachments, the audit log, `SHA256SUMS`
/// and a manifest signed with the audit key. Admins, auditors and
/// `audit:read` tokens; the download is itself recorded in the audit log.
#[utoipa::path(get, path = "/api/v1/audit/bundle", tag = "audit", params(BundleParams), security(("bearer" = [])),
    responses((status = 200, description = "The bundle", content_type = "application/zip"),
              (status = 400, description = "`invalid_query`: give exactly one of case and account", body = super::Problem, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`", body = super::Problem, content_type = "application/problem+json"),
              (status = 404, description = "`not_found`", body = super::Problem, content_type = "application/problem+json")))]
pub async fn bundle(
    state: web::Data<AppState>,
    who: Authenticated,
    query: web::Query<BundleParams>,
) -> Result<HttpResponse, ApiError> {
    who.require(rapport_domain::Permission::ReadAuditLog)?;
    let q = query.into_inner();
    let principal = who.principal;
    let app = state.into_inner();
    let (file, name) = blocking::run(move || -> Result<_, ApiError> {
        let mut conn = app.store.conn()?;
        let selection = match (q.case.as_deref(), q.account.as_deref()) {
            (Some(c), None) => {
                let reference = rapport_store::case::CaseRef::parse(c).ok_or_else(|| {
                    ApiError::InvalidQuery("case is not a case number or id".into())
                })?;
                let found = rapport_store::case::find_by_ref(&mut conn, reference)?;
                crate::bundle::Selection::Case(
                    found
                        .ok_or(ApiError::UseCase(crate::usecase::UseCaseError::NotFound(
                            "case",
                        )))?
                        .id,
                )
            }
            (None, Some(a)) => {
                let id = a
                    .parse()
                    .map_err(|_| ApiError::InvalidQuery("account is not an account id".into()))?;
                rapport_store::account::find(&mut conn, id)?.ok_or(ApiError::UseCase(
                    crate::usecase::UseCaseError::NotFound("account"),
                ))?;
                crate::bundle::Selection::Account(id)
            }
            _ => {
                return Err(ApiError::InvalidQuery(
                    "give exactly one of case and account".into(),
                ));
            }
        };
        let instance = rapport_store::instance::ensure(&mut conn)?.id.to_string();
        let dir = app.config.settings.data_dir.join("tmp");
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::Internal(format!("temporary directory: {e}")))?;
        let path = dir.join(format!("bundle-{}.zip", uuid::Uuid::now_v7().simple()));
        let file = std::fs::File::create(&path)
            .map_err(|e| ApiError::Internal(format!("temporary file: {e}")))?;
        let written = crate::bundle::write(
            &mut conn,
            &app.config.settings.data_dir,
            selection,
            &app.secrets.audit,
            &instance,
            std::io::BufWriter::with_capacity(1 << 20, file),
            |_| {},
        );
        let (_, summary) = match written {
            Ok(done) => done,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(ApiError::Internal(e.to_string()));
            }
        };
        crate::usecase::audit::record_bundle(&app.store, Some(&principal), selection, &summary)?;
        let name = match selection {
            crate::bundle::Selection::Case(id) => format!("evidence-case-{id}.zip"),
            crate::bundle::Selection::Account(id) => format!("evidence-account-{id}.zip"),
        };
        let file = std::fs::File::open(&path)
            .map_err(|e| ApiError::Internal(format!("bundle unreadable: {e}")))?;
        // Unlinked now: the open handle streams it and nothing is left behind.
        let _ = std::fs::remove_file(&path);
        Ok((file, name))
    })
    .await?;
    let stream = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = crate::blocking::spawn(move || {
            use std::io::Read;
            let mut buf = vec![0u8; 256 * 1024];
            let n = file.read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await;
        match read {
            Ok(Ok((buf, _))) if buf.is_empty() => None,
            Ok(Ok((buf, file))) => {
                Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), Some(file)))
            }
            Ok(Err(e)) => Some((Err(e), None)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(stream))
}

/// Writes an uploaded stream to an unlinked temporary file (gone when the
/// handle is), a mebibyte at a time off the async executor; at most
/// [`MAX_VERIFY_BYTES`].
async fn spool<S, E>(state: &AppState, mut body: S) -> Result<std::fs::File, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    use std::io::Write;
    let dir = state.config.settings.data_dir.join("tmp");
    let mut file = blocking::run(move || -> Result<_, ApiError> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::Internal(format!("temporary directory: {e}")))?;
        let path = dir.join(format!("verify-{}", uuid::Uuid::now_v7().simple()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| ApiError::Internal(format!("temporary file: {e}")))?;
        let _ = std::fs::remove_file(&path);
        Ok(file)
    })
    .await?;
    let flush = |mut file: std::fs::File, buf: Vec<u8>| {
        blocking::run(move || {
            file.write_all(&buf)
                .map(|()| file)
                .map_err(|e| ApiError::Internal(format!("temporary file: {e}")))
        })
    };
    let mut buf = Vec::with_capacity(VERIFY_WRITE_BYTES);
    let mut size = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(format!("body unreadable: {e}")))?;
        size += chunk.len();
        if size > MAX_VERIFY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_VERIFY_BYTES,
            });
        }
        buf.extend_from_slice(&chunk);
        if buf.len() >= VERIFY_WRITE_BYTES {
            let full = std::mem::replace(&mut buf, Vec::with_capacity(VERIFY_WRITE_BYTES));
            file = flush(file, full).await?;
        }
    }
    flush(file, buf).await
}

/// `file` (the newer export) and `against` (an earlier one) as multipart
/// parts: both verify, every earlier event is in the newer export
/// unchanged, and the newer checkpoint extends the earlier one.
async fn verify_against(
    state: web::Data<AppState>,
    mut parts: actix_multipart::Multipart,
) -> Result<HttpResponse, ApiError> {
    use futures_util::StreamExt;
    let (mut newer, mut older) = (None, None);
    while let Some(part) = parts.next().await {
        let part = part.map_err(|e| ApiError::InvalidMultipart(e.to_string()))?;
        let name = part.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => newer = Some(spool(&state, part).await?),
            "against" => older = Some(spool(&state, part).await?),
            other => {
                return Err(ApiError::InvalidMultipart(format!(
                    "unknown part `{other}`: send `file` (the newer export) and `against` (the earlier one)"
                )));
            }
        }
    }
    let (Some(newer), Some(older)) = (newer, older) else {
        return Err(ApiError::InvalidMultipart(
            "send both `file` (the newer export) and `against` (the earlier one)".into(),
        ));
    };
    let app = state.app.clone();
    let result = blocking::run(move || -> Result<VerifyResult, ApiError> {
        let outcome = compare_files(&app, older, newer);
        Ok(match outcome {
            Ok((summary, events)) => VerifyResult {
                ok: true,
                kind: "comparison",
                summary,
                events: Some(events),
                cases: None,
            },
            Err(problem) => VerifyResult {
                ok: false,
                kind: "comparison",
                summary: problem,
                events: None,
                cases: None,
            },
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

fn compare_files(
    app: &rapport_app::AppState,
    mut older: std::fs::File,
    mut newer: std::fs::File,
) -> Result<(String, u64), String> {
    use crate::usecase::audit_tree::check_manifests_extend;
    use std::io::{Seek, SeekFrom};
    let key = app.secrets.audit.public_key();
    let rewind = |f: &mut std::fs::File| {
        f.seek(SeekFrom::Start(0))
            .map(|_| ())
            .map_err(|e| format!("temporary file: {e}"))
    };
    let copy = |f: &std::fs::File| f.try_clone().map_err(|e| format!("temporary file: {e}"));
    // The copies share the file position: each read starts from the top.
    rewind(&mut older)?;
    let old_report = rapport_audit::verify_export(copy(&older)?, &key)
        .map_err(|f| format!("the earlier export: {f}"))?;
    rewind(&mut newer)?;
    let new_report = rapport_audit::verify_export(copy(&newer)?, &key)
        .map_err(|f| format!("the newer export: {f}"))?;
    rewind(&mut older)?;
    rewind(&mut newer)?;
    let compared = rapport_audit::compare_exports(older, newer).map_err(|f| f.to_string())?;
    let mut conn = app.store.conn().map_err(|e| e.to_string())?;
    let checkpoints = match check_manifests_extend(
        &mut conn,
        &key,
        old_report.checkpoint.as_ref(),
        new_report.checkpoint.as_ref(),
    )? {
        Some((m, n)) => format!(
            "; the log of {n} events extends the log of {m} events the earlier export was made under"
        ),
        None => String::new(),
    };
    Ok((
        format!(
            "{} events of the earlier export are unchanged in the newer one, {} are new{checkpoints}",
            compared.unchanged, compared.added
        ),
        new_report.events,
    ))
}

/// Largest file `POST /api/v1/audit/verify` reads.
const MAX_VERIFY_BYTES: usize = 4 << 30;

/// How much of an uploaded file `verify` gathers before each disk write.
const VERIFY_WRITE_BYTES: usize = 1 << 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    /// True when everything checked out.
    pub ok: bool,
    /// `export` (JSON Lines or CSV) or `bundle` (ZIP).
    pub kind: &'static str,
    /// What was verified, or the first problem found.
    pub summary: String,
    pub events: Option<u64>,
    /// Bundles: the case numbers in it.
    pub cases: Option<Vec<i64>>,
}

/// Verifies an audit export or an evidence bundle against this
/// installation's audit key, as `rapport audit verify` does offline.
/// Admins, auditors and `audit:read` tokens. A file that does not verify
/// is a 200 with `ok: false` and the first problem.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit", security(("bearer" = [])),
    request_body(content = String, content_type = "application/octet-stream", description = "The export or bundle"),
    responses((status = 200, description = "The verification result", body = VerifyResult),
              (status = 403, description = "`forbidden`", body = super::Problem, content_type = "application/problem+json"),
              (status = 413, description = "`payload_too_large`: over 4 GiB", body = super::Problem, content_type = "application/problem+json")))]
pub async fn verify(
    state: web::Data<AppState>,
    who: Authenticated,
    req: actix_web::HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    who.require(rapport_domain::Permission::ReadAuditLog)?;
    let multipart = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        return verify_against(state, actix_multipart::Multipart::new(req.headers(), body)).await;
    }
    let mut file = spool(&state, body).await?;
    let key = state.secrets.audit.public_key();
    let result = blocking::run(move || -> Result<VerifyResult, ApiError> {
        use std::io::{Read, Seek, SeekFrom};
        let io = |e: std::io::Error| ApiError::Internal(format!("temporary file: {e}"));
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        if n == 4 && &magic == b"PK\x03\x04" {
            return Ok(match crate::bundle::verify(file, &key) {
                Ok(r) => VerifyResult {
                    ok: true,
                    kind: "bundle",
                    summary: format!("{} files match SHA256SUMS and the signed manifest; the audit log of {} events verifies (key {})", r.files, r.audit_events, r.key_id),
                    events: Some(r.audit_events),
                    cases: Some(r.cases),
                },
                Err(problem) => VerifyResult { ok: false, kind: "bundle", summary: problem, events: None, cases: None },
            });
        }
        Ok(match rapport_audit::verify_export(file, &key) {
            Ok(r) => VerifyResult {
                ok: true,
                kind: "export",
                summary: format!("{} events in {} streams verified ({}, key {})", r.events, r.streams, r.format.as_str(), r.key_id),
                events: Some(r.events),
                cases: None,
            },
            Err(problem) => VerifyResult { ok: false, kind: "export", summary: problem.to_string(), events: None, cases: None },
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
