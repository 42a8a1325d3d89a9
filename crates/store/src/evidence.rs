//! Evidence-grade history: every version of an edited entry, and
//! redactions that remove content but leave a tombstone.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CaseId, EntryId};

use crate::case::{Author, Entry};
use crate::column::{JsonText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{attachments, case_entries, entry_emails, entry_versions, outbox, redactions};
use crate::time::now_micros;

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn author_parts(a: &Author) -> (&'static str, Option<String>) {
    match a {
        Author::Staff(id) => ("staff", Some(id.to_string())),
        Author::Contact(id) => ("contact", Some(id.to_string())),
        Author::System => ("system", None),
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = entry_versions)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct VersionRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    entry_id: EntryId,
    #[diesel(embed)]
    version: Version,
}

/// One version of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = entry_versions)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Version {
    pub version: i32,
    pub body: String,
    pub body_sha256: String,
    /// `staff`, `contact` or `system`.
    pub written_by_kind: String,
    pub written_by_id: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub written_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub redacted_at: Option<DateTime<Utc>>,
}

/// Every version of an entry, oldest first (one when never edited).
pub fn versions(conn: &mut DbConnection, entry: &Entry) -> Result<Vec<Version>, StoreError> {
    let stored: Vec<Version> = entry_versions::table
        .filter(entry_versions::entry_id.eq(entry.id.to_string()))
        .order(entry_versions::version.asc())
        .select(Version::as_select())
        .load(conn)?;
    if !stored.is_empty() {
        return Ok(stored);
    }
    let (kind, id) = author_parts(&entry.author);
    Ok(vec![Version {
        version: 1,
        body_sha256: sha256(&entry.body),
        body: entry.body.clone(),
        written_by_kind: kind.to_owned(),
        written_by_id: id,
        written_at: entry.created_at,
        redacted_at: entry.redacted_at,
    }])
}

/// Replaces the body with a new version, keeping the old one. Returns the
/// entry as it is now and the SHA-256 of the body it replaced.
pub fn edit(
    conn: &mut DbConnection,
    entry: &Entry,
    new_body: &str,
    editor: &Author,
) -> Result<(Entry, String), StoreError> {
    let now = now_micros();
    let previous_sha = sha256(&entry.body);
    if entry.version == 1 {
        let (kind, id) = author_parts(&entry.author);
        diesel::insert_into(entry_versions::table)
            .values(VersionRow {
                entry_id: entry.id,
                version: Version {
                    version: 1,
                    body: entry.body.clone(),
                    body_sha256: previous_sha.clone(),
                    written_by_kind: kind.to_owned(),
                    written_by_id: id,
                    written_at: entry.created_at,
                    redacted_at: None,
                },
            })
            .execute(conn)?;
    }
    let (kind, id) = author_parts(editor);
    let version = entry.version + 1;
    diesel::insert_into(entry_versions::table)
        .values(VersionRow {
            entry_id: entry.id,
            version: Version {
                version,
                body: new_body.to_owned(),
                body_sha256: sha256(new_body),
                written_by_kind: kind.to_owned(),
                written_by_id: id,
                written_at: now.and_utc(),
                redacted_at: None,
            },
        })
        .execute(conn)?;
    diesel::update(case_entries::table.find(entry.id.to_string()))
        .set((
            case_entries::body.eq(new_body),
            case_entries::version.eq(version),
            case_entries::edited_at.eq(Some(now)),
        ))
        .execute(conn)?;
    let updated = crate::case::find_entry(conn, entry.id)?.ok_or(StoreError::NotFound("entry"))?;
    Ok((updated, previous_sha))
}

/// A tombstone.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = redactions)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Redaction {
    pub id: String,
    /// `entry` or `attachment`.
    pub target_kind: String,
    pub target_id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub case_id: CaseId,
    /// The SHA-256 of every removed content.
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub removed_sha256: Vec<String>,
    pub reason: String,
    /// The admin's staff id.
    pub redacted_by: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub redacted_at: DateTime<Utc>,
}

/// Removes an entry's content, every version's and its email text, and
/// leaves a tombstone. Returns the tombstone.
pub fn redact_entry(
    conn: &mut DbConnection,
    entry: &Entry,
    by: &str,
    reason: &str,
) -> Result<Redaction, StoreError> {
    let now = now_micros();
    let mut removed: Vec<String> = versions(conn, entry)?
        .into_iter()
        .filter(|v| v.redacted_at.is_none() && !v.body.is_empty())
        .map(|v| v.body_sha256)
        .collect();
    let email: Option<(Option<String>, String)> = entry_emails::table
        .find(entry.id.to_string())
        .select((entry_emails::html, entry_emails::full_text))
        .first(conn)
        .optional()?;
    if let Some((html, full)) = email {
        removed.extend(html.iter().map(|h| sha256(h)));
        if !full.is_empty() {
            removed.push(sha256(&full));
        }
        diesel::update(entry_emails::table.find(entry.id.to_string()))
            .set((
                entry_emails::html.eq(None::<String>),
                entry_emails::full_text.eq(""),
                entry_emails::subject.eq(""),
            ))
            .execute(conn)?;
    }
    // What was emailed out of this entry (a reply, a chat answer) goes too.
    let sent: Vec<(String, Vec<u8>)> = outbox::table
        .filter(outbox::entry_id.eq(entry.id.to_string()))
        .select((outbox::id, outbox::raw))
        .load(conn)?;
    for (id, raw) in sent {
        if !raw.is_empty() {
            removed.push(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&raw)));
            diesel::update(outbox::table.find(id))
                .set(outbox::raw.eq(Vec::<u8>::new()))
                .execute(conn)?;
        }
    }
    removed.dedup();
    diesel::update(entry_versions::table.filter(entry_versions::entry_id.eq(entry.id.to_string())))
        .set((
            entry_versions::body.eq(""),
            entry_versions::redacted_at.eq(Some(now)),
        ))
        .execute(conn)?;
    diesel::update(case_entries::table.find(entry.id.to_string()))
        .set((
            case_entries::body.eq(""),
            case_entries::redacted_at.eq(Some(now)),
        ))
        .execute(conn)?;
    tombstone(
        conn,
        "entry",
        &entry.id.to_string(),
        entry.case_id,
        &removed,
        by,
        reason,
        now,
    )
}

/// Marks an attachment redacted and leaves a tombstone. Returns it and
/// whether another (unredacted) attachment still holds the same content,
/// in which case the file must stay on disk.
pub fn redact_attachment(
    conn: &mut DbConnection,
    attachment: &crate::attachment::Attachment,
    case: CaseId,
    by: &str,
    reason: &str,
) -> Result<(Redaction, bool), StoreError> {
    let now = now_micros();
    diesel::update(attachments::table.find(&attachment.id))
        .set(attachments::redacted_at.eq(Some(now)))
        .execute(conn)?;
    let shared: i64 = attachments::table
        .filter(attachments::sha256.eq(&attachment.sha256))
        .filter(attachments::redacted_at.is_null())
        .count()
        .get_result(conn)?;
    let t = tombstone(
        conn,
        "attachment",
        &attachment.id,
        case,
        std::slice::from_ref(&attachment.sha256),
        by,
        reason,
        now,
    )?;
    Ok((t, shared > 0))
}

#[allow(clippy::too_many_arguments)]
fn tombstone(
    conn: &mut DbConnection,
    kind: &str,
    target: &str,
    case: CaseId,
    removed: &[String],
    by: &str,
    reason: &str,
    at: NaiveDateTime,
) -> Result<Redaction, StoreError> {
    let row = Redaction {
        id: uuid::Uuid::now_v7().to_string(),
        target_kind: kind.to_owned(),
        target_id: target.to_owned(),
        case_id: case,
        removed_sha256: removed.to_vec(),
        reason: reason.to_owned(),
        redacted_by: by.to_owned(),
        redacted_at: at.and_utc(),
    };
    diesel::insert_into(redactions::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(row)
}

/// The tombstones of these targets.
pub fn redactions_for(
    conn: &mut DbConnection,
    targets: &[String],
) -> Result<Vec<Redaction>, StoreError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    Ok(redactions::table
        .filter(redactions::target_id.eq_any(targets))
        .select(Redaction::as_select())
        .load(conn)?)
}

/// Every tombstone of a case, oldest first.
pub fn redactions_of_case(
    conn: &mut DbConnection,
    case: CaseId,
) -> Result<Vec<Redaction>, StoreError> {
    Ok(redactions::table
        .filter(redactions::case_id.eq(case.to_string()))
        .order(redactions::id.asc())
        .select(Redaction::as_select())
        .load(conn)?)
}
