//! Reading the audit log is itself audited.

use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::Principal;
use rapport_store::{Store, StoreError};
use serde_json::json;

use super::record;
use super::staff::stream as staff_stream;
use crate::audit_export::ExportRequest;
use crate::auth::RequestContext;

/// Records that `who` started an export and returns the installation id
/// for its manifest. Fails with `NotFound` when the selected case or stream
/// has no events.
pub fn record_export(
    store: &Store,
    who: &Principal,
    request: &ExportRequest,
    ctx: &RequestContext,
) -> Result<String, StoreError> {
    store.write(|conn| {
        if !crate::audit_export::selection_exists(conn, &request.query.streams)? {
            return Err(StoreError::NotFound("audit events for that selection"));
        }
        let instance = rapport_store::instance::ensure(conn)?;
        let (stream, actor) = match who {
            Principal::Staff { id, .. } => (staff_stream(*id), Actor::new(ActorKind::Staff, id)?),
            Principal::ApiToken { id, .. } => (
                StreamName::parse(&format!("api_token:{id}"))?,
                Actor::new(ActorKind::Api, id)?,
            ),
            Principal::Contact { .. } => {
                return Err(StoreError::NotFound("audit export for contacts"));
            }
        };
        record(
            conn,
            stream,
            actor,
            "audit.exported",
            ("audit_log", None),
            json!({
                "filter": request.filter.to_value(),
                "format": request.format.as_str(),
                "ip": ctx.ip,
                "user_agent": ctx.user_agent,
                "request_id": ctx.request_id,
            }),
        )?;
        Ok(instance.id.to_string())
    })
}

/// Records that an evidence bundle was written, and by whom (the CLI
/// operator is the system).
pub fn record_bundle(
    store: &Store,
    who: Option<&Principal>,
    selection: crate::bundle::Selection,
    summary: &crate::bundle::BundleSummary,
) -> Result<(), StoreError> {
    let (stream, actor) = match who {
        Some(Principal::Staff { id, .. }) => (staff_stream(*id), Actor::new(ActorKind::Staff, id)?),
        _ => (StreamName::system(), Actor::system()),
    };
    let target = match selection {
        crate::bundle::Selection::Case(c) => json!({"case": c.to_string()}),
        crate::bundle::Selection::Account(a) => json!({"account": a.to_string()}),
    };
    store.write(|conn| {
        record(
            conn,
            stream,
            actor,
            "audit.bundle_exported",
            ("audit_log", None),
            json!({"selection": target, "cases": summary.cases, "entries": summary.entries, "files": summary.files, "bytes": summary.bytes}),
        )
    })
}
