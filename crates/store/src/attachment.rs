//! Attachment metadata (the content is on disk, addressed by SHA-256).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::EntryId;

use crate::column::{OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::attachments;
use crate::time::now_micros;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = attachments)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Attachment {
    pub id: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub entry_id: EntryId,
    pub sha256: String,
    pub size: i64,
    pub filename: String,
    pub content_type: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    /// Set when an admin removed the file; its content is gone from disk.
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub redacted_at: Option<DateTime<Utc>>,
}

pub fn insert(
    conn: &mut DbConnection,
    entry: EntryId,
    sha256: &str,
    size: i64,
    filename: &str,
    content_type: &str,
) -> Result<Attachment, StoreError> {
    let row = Attachment {
        id: uuid::Uuid::now_v7().to_string(),
        entry_id: entry,
        sha256: sha256.to_owned(),
        size,
        filename: filename.to_owned(),
        content_type: content_type.to_owned(),
        created_at: now_micros().and_utc(),
        redacted_at: None,
    };
    diesel::insert_into(attachments::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(row)
}

pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Attachment>, StoreError> {
    Ok(attachments::table
        .find(id)
        .select(Attachment::as_select())
        .first(conn)
        .optional()?)
}

/// Files whose name contains `part` (case-insensitive), newest first, not
/// redacted: candidates for a search, each still to be checked for access.
pub fn named_like(
    conn: &mut DbConnection,
    part: &str,
    limit: i64,
) -> Result<Vec<Attachment>, StoreError> {
    Ok(attachments::table
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
        .select(Attachment::as_select())
        .load(conn)?)
}

/// The attachments of these entries.
pub fn for_entries(
    conn: &mut DbConnection,
    entries: &[EntryId],
) -> Result<Vec<Attachment>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    Ok(attachments::table
        .filter(
            attachments::entry_id
                .eq_any(entries.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .order(attachments::id.asc())
        .select(Attachment::as_select())
        .load(conn)?)
}

/// Whether any attachment row names this content.
pub fn content_referenced(conn: &mut DbConnection, sha256: &str) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        attachments::table.filter(attachments::sha256.eq(sha256)),
    ))
    .get_result(conn)?)
}
