//! Attachment metadata (the content is on disk, addressed by SHA-256).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::EntryId;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::attachments;
use crate::time::now_micros;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
struct AttachmentRow {
    id: String,
    entry_id: String,
    sha256: String,
    size: i64,
    filename: String,
    content_type: String,
    created_at: NaiveDateTime,
    redacted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub entry_id: EntryId,
    pub sha256: String,
    pub size: i64,
    pub filename: String,
    pub content_type: String,
    pub created_at: DateTime<Utc>,
    /// Set when an admin removed the file; its content is gone from disk.
    pub redacted_at: Option<DateTime<Utc>>,
}

impl TryFrom<AttachmentRow> for Attachment {
    type Error = StoreError;

    fn try_from(r: AttachmentRow) -> Result<Attachment, StoreError> {
        Ok(Attachment {
            entry_id: r
                .entry_id
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("attachments {}: entry", r.id)))?,
            id: r.id,
            sha256: r.sha256,
            size: r.size,
            filename: r.filename,
            content_type: r.content_type,
            created_at: r.created_at.and_utc(),
            redacted_at: r.redacted_at.map(|t| t.and_utc()),
        })
    }
}

pub fn insert(
    conn: &mut DbConnection,
    entry: EntryId,
    sha256: &str,
    size: i64,
    filename: &str,
    content_type: &str,
) -> Result<Attachment, StoreError> {
    let row = AttachmentRow {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: entry.to_string(),
        sha256: sha256.to_owned(),
        size,
        filename: filename.to_owned(),
        content_type: content_type.to_owned(),
        created_at: now_micros(),
        redacted_at: None,
    };
    diesel::insert_into(attachments::table)
        .values(&row)
        .execute(conn)?;
    row.try_into()
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Attachment>, StoreError> {
    attachments::table
        .find(id)
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()?
        .map(Attachment::try_from)
        .transpose()
}

/// Files whose name contains `part` (case-insensitive), newest first, not
/// redacted: candidates for a search, each still to be checked for access.
pub fn named_like(
    conn: &mut DbConnection,
    part: &str,
    limit: i64,
) -> Result<Vec<Attachment>, StoreError> {
    attachments::table
        .filter(attachments::redacted_at.is_null())
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(filename) LIKE ")
                .bind::<diesel::sql_types::Text, _>(crate::account::contains_pattern(
                    &part.to_lowercase(),
                ))
                .sql(" ESCAPE '\\'"),
        )
        .order(attachments::id.desc())
        .limit(limit)
        .select(AttachmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Attachment::try_from)
        .collect()
}

/// The attachments of these entries.
pub fn for_entries(
    conn: &mut DbConnection,
    entries: &[EntryId],
) -> Result<Vec<Attachment>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    attachments::table
        .filter(
            attachments::entry_id
                .eq_any(entries.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .order(attachments::id.asc())
        .select(AttachmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Attachment::try_from)
        .collect()
}

/// Whether any attachment row names this content.
pub fn content_referenced(conn: &mut DbConnection, sha256: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        attachments::table.filter(attachments::sha256.eq(sha256)),
    ))
    .get_result(conn)?)
}
