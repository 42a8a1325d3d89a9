//! The Merkle tree over the audit log: its leaves in the order they were
//! taken in, and its signed checkpoints.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{audit_checkpoints, audit_tree_leaves};

/// A signed statement of the tree's size and root at a time.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = audit_checkpoints)]
pub struct Checkpoint {
    pub tree_size: i64,
    /// Hex.
    pub root_hash: String,
    pub created_at: NaiveDateTime,
    pub key_id: String,
    pub signature: String,
}

#[derive(QueryableByName)]
struct Untaken {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    hash: String,
}

/// Takes events not yet in the tree into it, oldest first, after the
/// current last leaf (under a lock, so positions stay gap-free with
/// several nodes); returns the tree's size. `leaf` turns an event hash
/// (hex) into its leaf hash (hex).
pub fn extend(
    conn: &mut DbConnection,
    limit: i64,
    leaf: impl Fn(&str) -> Result<String, StoreError>,
) -> Result<i64, StoreError> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("LOCK TABLE audit_tree_leaves IN EXCLUSIVE MODE").execute(pg)?;
    }
    let mut size: i64 = audit_tree_leaves::table
        .select(diesel::dsl::max(audit_tree_leaves::position))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0);
    let untaken: Vec<Untaken> = diesel::sql_query(format!(
        "SELECT e.id AS id, e.hash AS hash FROM audit_events e \
         LEFT JOIN audit_tree_leaves l ON l.event_id = e.id \
         WHERE l.event_id IS NULL ORDER BY e.at, e.stream, e.seq LIMIT {limit}"
    ))
    .load(conn)?;
    for e in untaken {
        size += 1;
        diesel::insert_into(audit_tree_leaves::table)
            .values((
                audit_tree_leaves::position.eq(size),
                audit_tree_leaves::event_id.eq(&e.id),
                audit_tree_leaves::leaf_hash.eq(leaf(&e.hash)?),
            ))
            .execute(conn)?;
    }
    Ok(size)
}

/// The leaf hashes (hex) of the first `size` events of the tree.
pub fn leaves(conn: &mut DbConnection, size: i64) -> Result<Vec<String>, StoreError> {
    Ok(audit_tree_leaves::table
        .filter(audit_tree_leaves::position.le(size))
        .order(audit_tree_leaves::position.asc())
        .select(audit_tree_leaves::leaf_hash)
        .load(conn)?)
}

pub fn insert_checkpoint(conn: &mut DbConnection, c: &Checkpoint) -> Result<(), StoreError> {
    diesel::insert_into(audit_checkpoints::table)
        .values(c.clone())
        .execute(conn)?;
    Ok(())
}

pub fn latest(conn: &mut DbConnection) -> Result<Option<Checkpoint>, StoreError> {
    Ok(audit_checkpoints::table
        .order(audit_checkpoints::tree_size.desc())
        .select(Checkpoint::as_select())
        .first(conn)
        .optional()?)
}

pub fn at_size(conn: &mut DbConnection, size: i64) -> Result<Option<Checkpoint>, StoreError> {
    Ok(audit_checkpoints::table
        .find(size)
        .select(Checkpoint::as_select())
        .first(conn)
        .optional()?)
}

#[derive(QueryableByName)]
struct CurrentLeaf {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    position: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Text)]
    hash: String,
    #[diesel(sql_type = Text)]
    leaf_hash: String,
}

/// The first `size` leaves with the events they stand for as those are
/// now: (position, event id, event hash, stored leaf hash). An event
/// deleted from the log leaves a hole in the positions.
pub fn current_leaves(
    conn: &mut DbConnection,
    size: i64,
) -> Result<Vec<(i64, String, String, String)>, StoreError> {
    let rows: Vec<CurrentLeaf> = diesel::sql_query(format!(
        "SELECT l.position AS position, l.event_id AS event_id, e.hash AS hash, l.leaf_hash AS leaf_hash \
         FROM audit_tree_leaves l JOIN audit_events e ON e.id = l.event_id \
         WHERE l.position <= {size} ORDER BY l.position"
    ))
    .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let expected = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if r.position != expected {
            return Err(StoreError::Corrupt(format!(
                "the event at position {expected} of the audit log is gone"
            )));
        }
        out.push((r.position, r.event_id, r.hash, r.leaf_hash));
    }
    Ok(out)
}
