//! The committed-changes log: a row per change, written in the transaction
//! that made the change, read after commit by whatever reacts to it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CaseId, EntryId};

use crate::column::{OptText, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::raw::RawQuery;
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

#[derive(Insertable)]
#[diesel(table_name = committed_changes)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct InsertRow<'a> {
    origin: &'a str,
    kind: &'a str,
    #[diesel(serialize_as = OptText<CaseId>)]
    case_id: Option<CaseId>,
    #[diesel(serialize_as = OptText<EntryId>)]
    entry_id: Option<EntryId>,
    data: &'a str,
    #[diesel(serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
}

/// Records changes in the caller's transaction, numbered in the order
/// given, in as few statements as it can.
pub fn record(
    conn: &mut DbConnection,
    origin: &str,
    changes: &[NewChange<'_>],
) -> Result<(), StoreError> {
    let at = now_micros().and_utc();
    let mut rows: Vec<InsertRow<'_>> = changes
        .iter()
        .map(|c| InsertRow {
            origin,
            kind: c.kind,
            case_id: c.case_id,
            entry_id: c.entry_id,
            data: c.data,
            created_at: at,
        })
        .collect();
    if rows.len() > 1 {
        // Several changes of one commit, in few statements (diesel's batch
        // insert is not available across both backends), each well under
        // SQLite's limit of 32,766 parameters.
        for chunk in rows.chunks(500) {
            insert_many(conn, chunk, at)?;
        }
    } else if let Some(one) = rows.pop() {
        // A statement of one row is prepared once and cached.
        diesel::insert_into(committed_changes::table)
            .values(one)
            .execute(conn)?;
    }
    Ok(())
}

fn insert_many(
    conn: &mut DbConnection,
    rows: &[InsertRow<'_>],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut q = RawQuery::new(conn);
    let mut values = Vec::new();
    for r in rows {
        values.push(format!(
            "({}, {}, {}, {}, {}, {})",
            q.bind(r.origin),
            q.bind(r.kind),
            q.bind_opt(r.case_id.map(|c| c.to_string())),
            q.bind_opt(r.entry_id.map(|e| e.to_string())),
            q.bind(r.data),
            q.bind_time(at.naive_utc()),
        ));
    }
    q.sql = format!(
        "INSERT INTO committed_changes (origin, kind, case_id, entry_id, data, created_at) VALUES {}",
        values.join(", ")
    );
    q.execute(conn)?;
    Ok(())
}

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
