//! The committed-changes log: a row per change, written in the transaction
//! that made the change, read after commit by whatever reacts to it.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::committed_changes;
use crate::time::now_micros;

/// A change as stored: its kind names what the ids and data mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    pub id: i64,
    pub origin: String,
    pub kind: String,
    pub case_id: Option<String>,
    pub entry_id: Option<String>,
    /// JSON.
    pub data: String,
    pub created_at: NaiveDateTime,
}

/// A change about to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct NewChange<'a> {
    pub kind: &'a str,
    pub case_id: Option<&'a str>,
    pub entry_id: Option<&'a str>,
    pub data: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = committed_changes)]
struct InsertRow<'a> {
    origin: &'a str,
    kind: &'a str,
    case_id: Option<&'a str>,
    entry_id: Option<&'a str>,
    data: &'a str,
    created_at: NaiveDateTime,
}

type Selected = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    NaiveDateTime,
);

/// Records changes in the caller's transaction; returns their ids in the
/// order given.
pub fn record(
    conn: &mut DbConnection,
    origin: &str,
    changes: &[NewChange<'_>],
) -> Result<Vec<i64>, StoreError> {
    let at = now_micros();
    changes
        .iter()
        .map(|c| {
            Ok(diesel::insert_into(committed_changes::table)
                .values(InsertRow {
                    origin,
                    kind: c.kind,
                    case_id: c.case_id,
                    entry_id: c.entry_id,
                    data: c.data,
                    created_at: at,
                })
                .returning(committed_changes::id)
                .get_result(conn)?)
        })
        .collect()
}

/// Changes numbered after `after`, oldest first, at most `limit`.
pub fn after(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    let rows: Vec<Selected> = committed_changes::table
        .filter(committed_changes::id.gt(after))
        .order(committed_changes::id.asc())
        .limit(limit)
        .select((
            committed_changes::id,
            committed_changes::origin,
            committed_changes::kind,
            committed_changes::case_id,
            committed_changes::entry_id,
            committed_changes::data,
            committed_changes::created_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, origin, kind, case_id, entry_id, data, created_at)| ChangeRow {
                id,
                origin,
                kind,
                case_id,
                entry_id,
                data,
                created_at,
            },
        )
        .collect())
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
