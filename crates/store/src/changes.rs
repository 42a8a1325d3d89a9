//! The committed-changes log: a row per change, written in the transaction
//! that made the change, read after commit by whatever reacts to it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CaseId, EntryId};

use crate::cached::{Bind, Fixed};
use crate::column::{OptText, UtcStamp};
use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::committed_changes;
use crate::time::now_micros;

/// A change as stored: its kind names what the ids and data mean.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = committed_changes)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct ChangeRow {
    pub id: i64,
    pub origin: String,
    pub kind: String,
    #[diesel(deserialize_as = OptText<CaseId>)]
    pub case_id: Option<CaseId>,
    #[diesel(deserialize_as = OptText<EntryId>)]
    pub entry_id: Option<EntryId>,
    /// JSON.
    pub data: String,
    #[diesel(deserialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
}

/// A change about to be recorded.
#[derive(Debug, Clone)]
pub struct NewChange<'a> {
    pub kind: &'a str,
    pub case_id: Option<CaseId>,
    pub entry_id: Option<EntryId>,
    pub data: &'a str,
}

/// Records changes in the caller's transaction, numbered in the order
/// given, up to sixteen to a statement.
pub fn record(
    conn: &mut DbConnection,
    origin: &str,
    changes: &[NewChange<'_>],
) -> Result<(), StoreError> {
    let at = now_micros();
    // Several changes of one commit in one statement, a few rows at a time
    // so that every statement's text is one of a few, prepared once.
    for chunk in changes.chunks(ROWS_PER_INSERT) {
        let ids: Vec<(Option<String>, Option<String>)> = chunk
            .iter()
            .map(|c| {
                (
                    c.case_id.map(|id| id.to_string()),
                    c.entry_id.map(|id| id.to_string()),
                )
            })
            .collect();
        let binds: Vec<Bind<'_>> = chunk
            .iter()
            .zip(&ids)
            .flat_map(|(c, (case_id, entry_id))| {
                [
                    Bind::Text(origin),
                    Bind::Text(c.kind),
                    Bind::OptText(case_id.as_deref()),
                    Bind::OptText(entry_id.as_deref()),
                    Bind::Text(c.data),
                    Bind::Stamp(at),
                ]
            })
            .collect();
        let sql = format!(
            "INSERT INTO committed_changes (origin, kind, case_id, entry_id, data, created_at) \
             VALUES {}",
            vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let insert = Fixed::new(&sql, &binds);
        on_backend!(conn, |c| insert.execute(c)?);
    }
    Ok(())
}

/// Rows per insert: a commit's changes are usually fewer.
const ROWS_PER_INSERT: usize = 16;

/// Changes numbered after `after`, oldest first, at most `limit`.
pub fn after(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(committed_changes::table
        .filter(committed_changes::id.gt(after))
        .order(committed_changes::id.asc())
        .limit(limit)
        .select(ChangeRow::as_select())
        .load(conn)?)
}

/// The newest id recorded (0 when none).
pub fn last_id(conn: &mut DbConnection) -> Result<i64, StoreError> {
    let id: Option<i64> = committed_changes::table
        .select(diesel::dsl::max(committed_changes::id))
        .first(conn)?;
    Ok(id.unwrap_or(0))
}

/// Forgets changes recorded before `cutoff`, and never one after
/// `handled_through` (a consumer that has not read it yet); returns how
/// many.
pub fn forget_before(
    conn: &mut DbConnection,
    cutoff: DateTime<Utc>,
    handled_through: Option<i64>,
) -> Result<usize, StoreError> {
    let old = committed_changes::table.filter(committed_changes::created_at.lt(cutoff.naive_utc()));
    Ok(match handled_through {
        Some(through) => {
            diesel::delete(old.filter(committed_changes::id.le(through))).execute(conn)?
        }
        None => diesel::delete(old).execute(conn)?,
    })
}
