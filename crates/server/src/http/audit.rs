//! The audit log over HTTP: the public key, and streamed exports for
//! auditors and admins.

use std::io::{self, Write};

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, web};
use rapport_domain::Permission;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::audit_export::{self, ExportRequest};
use crate::auth::{Authenticated, RequestContext};
use crate::blocking;
use crate::state::AppState;

/// Bytes handed to the client at a time, and chunks in flight: an export
/// holds at most about half a megabyte, however large it is.
const CHUNK_BYTES: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKey {
    /// Always `ed25519`.
    pub algorithm: &'static str,
    /// `ed25519-` and 16 hex characters; matches `key_id` in manifests.
    pub key_id: String,
    /// The raw 32-byte key, base64.
    pub public_key: String,
    /// The form `rapport audit verify --public-key` takes.
    pub verify_argument: String,
}

/// The key that signs audit export manifests. Public: auditors fetch it
/// once and keep it with their records.
#[utoipa::path(get, path = "/api/v1/audit/public-key", tag = "audit",
    responses((status = 200, description = "The audit signing public key", body = PublicKey)))]
pub async fn public_key(state: web::Data<AppState>) -> HttpResponse {
    let key = state.secrets.audit.public_key();
    HttpResponse::Ok().json(PublicKey {
        algorithm: "ed25519",
        key_id: key.key_id(),
        public_key: key.to_base64(),
        verify_argument: format!("ed25519:{}", key.to_base64()),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// One stream, e.g. `system` or `case:<id>`.
    pub stream: Option<String>,
    /// One case's stream.
    pub case: Option<String>,
    /// An account's stream and the streams of all its cases.
    pub account: Option<String>,
    /// Events at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Events before this time (RFC 3339).
    pub to: Option<String>,
    /// `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

/// Export audit events with a signed manifest, streamed (admins and
/// auditors). Verify with `rapport audit verify FILE --public-key ...`.
/// Each export is itself recorded in the exporter's audit stream.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON Lines (`application/jsonl`) or CSV; see docs/audit-format.md"),
        (status = 400, description = "`invalid_query`: a parameter names the problem", body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`forbidden`: only admins and auditors export", body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no audit events for that case or stream", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn export(
    state: web::Data<AppState>,
    who: Authenticated,
    ctx: RequestContext,
    params: web::Query<ExportParams>,
) -> Result<HttpResponse, ApiError> {
    who.require(Permission::ReadAuditLog)?;
    let p = params.into_inner();
    let request = ExportRequest::parse(
        p.stream.as_deref(),
        p.case.as_deref(),
        p.account.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        p.format.as_deref(),
    )
    .map_err(|e| ApiError::InvalidQuery(e.to_string()))?;

    let prepared = request.clone();
    let principal = who.principal;
    let instance = blocking::run({
        let store = state.store.clone();
        move || crate::usecase::audit::record_export(&store, &principal, &prepared, &ctx)
    })
    .await?;

    let (tx, rx) = mpsc::channel::<io::Result<web::Bytes>>(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    let secrets = state.secrets.clone();
    let format = request.format;
    blocking::detach(move || {
        let failure_tx = tx.clone();
        let result = store
            .conn()
            .map_err(audit_export::ExportRunError::from)
            .and_then(|mut conn| {
                audit_export::run(
                    &mut conn,
                    &request,
                    &secrets.audit,
                    &instance,
                    ChunkWriter::new(tx, store.clone()),
                    |_| {},
                )
            });
        match result {
            Ok((mut writer, _)) => {
                if let Err(e) = writer.flush() {
                    tracing::info!(error = %e, "audit export not delivered: the client went away");
                }
            }
            Err(e) => {
                // Ending the body with an error makes the client see a cut
                // transfer, never a short file that looks complete.
                tracing::error!(error = %e, "audit export failed mid-stream");
                let _ = failure_tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let filename = format!(
        "rapport-audit-{}.{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        format.as_str()
    );
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// Hands the export to the response in chunks; fails once the client is gone.
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<web::Bytes>>,
    buf: Vec<u8>,
    /// A chunk leaves while its connection is still reading: it waits for
    /// the commits it could show to be on disk first.
    store: rapport_store::Store,
}

impl ChunkWriter {
    fn new(tx: mpsc::Sender<io::Result<web::Bytes>>, store: rapport_store::Store) -> Self {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
            store,
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.store.wait_until_reads_durable();
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client closed the connection",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A signed statement of the audit log's Merkle tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Events in the tree.
    pub tree_size: i64,
    /// Hex SHA-256 Merkle root (RFC 9162 hashing over event hashes).
    pub root_hash: String,
    pub created_at: String,
    pub key_id: String,
    /// Base64 Ed25519 signature of `signed_text`, by the audit key.
    pub signature: String,
    /// Exactly what was signed.
    pub signed_text: String,
}

fn checkpoint_view(c: &rapport_store::audit_tree::Checkpoint, instance: &str) -> CheckpointView {
    CheckpointView {
        tree_size: c.tree_size,
        root_hash: c.root_hash.clone(),
        created_at: rapport_audit::format_at(&c.created_at.and_utc()),
        key_id: c.key_id.clone(),
        signature: c.signature.clone(),
        signed_text: crate::usecase::audit_tree::signed_text(instance, c),
    }
}

/// The newest signed checkpoint of the audit log (auditors, admins,
/// `audit:read`).
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/latest", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The checkpoint", body = CheckpointView),
        (status = 404, description = "`not_found`: no checkpoint yet", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn latest_checkpoint(
    state: web::Data<AppState>,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    who.require(Permission::ReadAuditLog)?;
    let state = state.into_inner();
    let (c, instance) =
        blocking::run(move || crate::usecase::audit_tree::get(&state, None)).await?;
    Ok(HttpResponse::Ok().json(checkpoint_view(&c, &instance)))
}

/// The signed checkpoint of a tree size (auditors, admins, `audit:read`).
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/{size}", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The checkpoint", body = CheckpointView)))]
pub async fn checkpoint_of_size(
    state: web::Data<AppState>,
    who: Authenticated,
    size: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    who.require(Permission::ReadAuditLog)?;
    let size: i64 = super::page::path_id(&size, "checkpoint")?;
    let state = state.into_inner();
    let (c, instance) =
        blocking::run(move || crate::usecase::audit_tree::get(&state, Some(size))).await?;
    Ok(HttpResponse::Ok().json(checkpoint_view(&c, &instance)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ConsistencyParams {
    /// The older tree size (an earlier checkpoint's).
    pub from: i64,
    /// The newer tree size, at most the newest checkpoint's.
    pub to: i64,
}

/// The RFC 9162 consistency proof that the tree of `from` events is a
/// prefix of the tree of `to` (hex hashes, in order).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyView {
    pub from: i64,
    pub to: i64,
    pub proof: Vec<String>,
}

/// Proof that an older checkpoint's log is a prefix of a newer one's
/// (auditors, admins, `audit:read`).
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The proof", body = ConsistencyView),
        (status = 422, description = "`validation_failed`: sizes out of range", body = super::Problem, content_type = "application/problem+json"),
    ))]
pub async fn consistency(
    state: web::Data<AppState>,
    who: Authenticated,
    q: web::Query<ConsistencyParams>,
) -> Result<HttpResponse, ApiError> {
    who.require(Permission::ReadAuditLog)?;
    let (from, to) = (q.from, q.to);
    let state = state.into_inner();
    let proof =
        blocking::run(move || crate::usecase::audit_tree::consistency(&state, from, to)).await?;
    Ok(HttpResponse::Ok().json(ConsistencyView { from, to, proof }))
}
