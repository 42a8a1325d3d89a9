//! Evidence-grade history: edits keep every version, admins redact
//! content behind a tombstone, and what auditors read is itself recorded.

use chrono::{Duration, Utc};
use rapport_audit::{Actor, ActorKind};
use rapport_domain::{CaseId, EntryId, EntryKind, Principal, StaffRole};
use rapport_store::case::{self as store_case, Author, Entry};
use rapport_store::evidence::{self as store_evidence, Redaction, Version};
use rapport_store::mail::Inbound;
use serde_json::json;

use super::UseCaseError;
use super::case;
use super::input::{invalid, optional_text};
use crate::changes::Change;
use crate::state::AppState;

/// The entry if it is in this case and the caller may read it.
fn entry_in_case(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    entry_id: EntryId,
) -> Result<Entry, UseCaseError> {
    case::get(state, who, case_id)?;
    let entry = store_case::find_entry(&mut *state.store.conn()?, entry_id)?
        .filter(|e| e.case_id == case_id)
        .filter(|e| rapport_domain::can_see_entry(who, e.kind))
        .ok_or(UseCaseError::NotFound("entry"))?;
    Ok(entry)
}

fn staff(who: &Principal) -> Result<(rapport_domain::StaffId, StaffRole), UseCaseError> {
    match who {
        Principal::Staff { id, role } => Ok((*id, *role)),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// Edits an entry: a new version, the old one kept. Staff edit their own
/// notes and portal or chat replies within `cases.edit_window_minutes`;
/// admins edit any of those at any time. Emails record what crossed the
/// wire and are never edited (redaction removes content instead).
pub fn edit_entry(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    entry_id: EntryId,
    body: &str,
) -> Result<Entry, UseCaseError> {
    let (staff_id, role) = staff(who)?;
    if role == StaffRole::Auditor {
        return Err(UseCaseError::Forbidden);
    }
    let body = case::check_body(state, body)?;
    let entry = entry_in_case(state, who, case_id, entry_id)?;
    if !matches!(
        entry.kind,
        EntryKind::Note | EntryKind::Portal | EntryKind::Chat
    ) {
        return Err(invalid(
            "entry",
            "only notes and portal or chat messages can be edited; emails and events stay as they were",
        ));
    }
    if entry.redacted_at.is_some() {
        return Err(UseCaseError::Conflict("a redacted entry cannot be edited"));
    }
    if role != StaffRole::Admin {
        if entry.author != Author::Staff(staff_id) {
            return Err(UseCaseError::Forbidden);
        }
        let window = Duration::minutes(i64::from(state.config.settings.cases.edit_window_minutes));
        if Utc::now() - entry.created_at > window {
            return Err(invalid(
                "entry",
                format!(
                    "can be edited for {} minutes after it was written; ask an admin",
                    state.config.settings.cases.edit_window_minutes
                ),
            ));
        }
    }
    if body == entry.body {
        return Ok(entry);
    }
    let actor = Actor::new(ActorKind::Staff, staff_id)?;
    super::commit(state, |conn, changes| {
        store_case::lock_for_append(conn, case_id)?;
        // Read again under the lock: two edits at once make two versions.
        let current =
            store_case::find_entry(conn, entry_id)?.ok_or(UseCaseError::NotFound("entry"))?;
        let (updated, previous_sha) =
            store_evidence::edit(conn, &current, &body, &Author::Staff(staff_id))?;
        let c = store_case::find(conn, case_id)?.ok_or(UseCaseError::NotFound("case"))?;
        case::audit(
            conn,
            &c,
            actor,
            "entry.edited",
            json!({
                "entry_id": entry_id.to_string(),
                "version": updated.version,
                "previous_body_sha256": previous_sha,
                "body_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())),
            }),
        )?;
        changes.push(Change::EntryUpdated(updated.clone()));
        Ok(updated)
    })
}

/// Every version of an entry, for staff.
pub fn versions(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    entry_id: EntryId,
) -> Result<Vec<Version>, UseCaseError> {
    staff(who)?;
    let entry = entry_in_case(state, who, case_id, entry_id)?;
    record_auditor_read(state, who, "entry_versions", &entry_id.to_string())?;
    Ok(store_evidence::versions(&mut *state.store.conn()?, &entry)?)
}

fn require_admin(who: &Principal) -> Result<rapport_domain::StaffId, UseCaseError> {
    match staff(who)? {
        (id, StaffRole::Admin) => Ok(id),
        _ => Err(UseCaseError::Forbidden),
    }
}

fn check_reason(reason: &str) -> Result<String, UseCaseError> {
    optional_text("reason", Some(reason), 500, false)?
        .filter(|r| r.trim().chars().count() >= 3)
        .ok_or_else(|| {
            invalid(
                "reason",
                "say why (3 to 500 characters): it stays on the tombstone",
            )
        })
}

/// Removes an entry's content (every version, its email text and the
/// original message) from storage and search. A tombstone stays in the
/// thread; the audit event keeps the SHA-256 of what was removed.
pub fn redact_entry(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    entry_id: EntryId,
    reason: &str,
) -> Result<Redaction, UseCaseError> {
    let admin = require_admin(who)?;
    let reason = check_reason(reason)?;
    let entry = entry_in_case(state, who, case_id, entry_id)?;
    if entry.redacted_at.is_some() {
        return Err(UseCaseError::Conflict("this entry is already redacted"));
    }
    let actor = Actor::new(ActorKind::Staff, admin)?;
    let (tombstone, originals) = super::commit(state, |conn, changes| {
        store_case::lock_for_append(conn, case_id)?;
        let current =
            store_case::find_entry(conn, entry_id)?.ok_or(UseCaseError::NotFound("entry"))?;
        // The original message of a received email goes too, with any
        // copy of it filed as a duplicate.
        let received = rapport_store::mail::entry_emails_for(conn, &[entry_id])?
            .into_iter()
            .filter_map(|e| e.inbound_id)
            .next()
            .map(|id| rapport_store::mail::find_inbound(conn, &id))
            .transpose()?
            .flatten();
        let original = received.as_ref().map(|row| row.sha256.clone());
        let copies = match &received {
            Some(Inbound {
                sha256,
                message_id: Some(mid),
                ..
            }) => rapport_store::mail::duplicates_of(conn, mid, entry_id, sha256)?,
            _ => Vec::new(),
        };
        for sha in original.iter().chain(&copies) {
            rapport_store::mail::forget_original(conn, sha)?;
        }
        let t = store_evidence::redact_entry(conn, &current, &admin.to_string(), &reason)?;
        let c = store_case::find(conn, case_id)?.ok_or(UseCaseError::NotFound("case"))?;
        case::audit(
            conn,
            &c,
            actor,
            "entry.redacted",
            json!({
                "entry_id": entry_id.to_string(),
                "reason": reason,
                "removed_sha256": t.removed_sha256,
                "original_message_sha256": original,
                "copies_sha256": copies,
            }),
        )?;
        if let Some(e) = store_case::find_entry(conn, entry_id)? {
            changes.push(Change::EntryUpdated(e));
        }
        Ok((t, original.into_iter().chain(copies).collect::<Vec<_>>()))
    })?;
    for sha in originals {
        let path = crate::mail::spool::path(&state.config.settings.data_dir, &sha);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(error = %e, path = %path.display(), "redacted message could not be removed from the spool");
        }
    }
    Ok(tombstone)
}

/// Removes an attachment's content from disk (unless another, unredacted
/// attachment holds the same bytes) and leaves a tombstone.
pub fn redact_attachment(
    state: &AppState,
    who: &Principal,
    attachment_id: &str,
    reason: &str,
) -> Result<Redaction, UseCaseError> {
    let admin = require_admin(who)?;
    let reason = check_reason(reason)?;
    let (found, _) = case::attachment(state, who, attachment_id)?;
    let entry = store_case::find_entry(&mut *state.store.conn()?, found.entry_id)?
        .ok_or(UseCaseError::NotFound("attachment"))?;
    let actor = Actor::new(ActorKind::Staff, admin)?;
    let (tombstone, shared) = state.store.write(|conn| {
        let (t, shared) = store_evidence::redact_attachment(
            conn,
            &found,
            entry.case_id,
            &admin.to_string(),
            &reason,
        )?;
        let c = store_case::find(conn, entry.case_id)?.ok_or(UseCaseError::NotFound("case"))?;
        case::audit(
            conn,
            &c,
            actor,
            "attachment.redacted",
            json!({
                "attachment_id": found.id,
                "entry_id": found.entry_id.to_string(),
                "filename": found.filename,
                "reason": reason,
                "removed_sha256": [found.sha256],
            }),
        )?;
        Ok::<_, UseCaseError>((t, shared))
    })?;
    if !shared {
        let path =
            crate::attachment_files::content_path(&state.config.settings.data_dir, &found.sha256);
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::error!(error = %e, path = %path.display(), "redacted attachment could not be removed");
        }
    }
    Ok(tombstone)
}

/// Auditors' reads are recorded in their own stream: who looked at what.
pub fn record_auditor_read(
    state: &AppState,
    who: &Principal,
    what: &str,
    id: &str,
) -> Result<(), UseCaseError> {
    let Principal::Staff {
        id: auditor,
        role: StaffRole::Auditor,
    } = who
    else {
        return Ok(());
    };
    let actor = Actor::new(ActorKind::Staff, auditor)?;
    state.store.write(|conn| {
        super::record(
            conn,
            super::staff::stream(*auditor),
            actor,
            "audit.viewed",
            (what, Some(id)),
            json!({}),
        )
    })?;
    Ok(())
}
