//! Chat tickets (one-time websocket admission) and read markers.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{CaseId, EntryId};

use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{chat_offline_digests, chat_read_markers, chat_tickets};
use crate::time::now_micros;

/// Who a ticket admits: `("staff" | "contact", id)`.
pub type Holder = (String, String);

/// Spends a ticket: records its hash, kept until an hour after the ticket
/// expired. `false` when it was spent before, on this node or any other:
/// the insert collides with the first spend's row, so exactly one of two
/// racing spends wins.
pub fn spend_ticket(
    conn: &mut DbConnection,
    ticket_hash: &str,
    holder: &Holder,
    expires_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = now_micros();
    let insert = || {
        diesel::insert_into(chat_tickets::table)
            .values((
                chat_tickets::ticket_hash.eq(ticket_hash),
                chat_tickets::holder_kind.eq(&holder.0),
                chat_tickets::holder_id.eq(&holder.1),
                chat_tickets::created_at.eq(now),
                chat_tickets::expires_at.eq(expires_at.naive_utc()),
                chat_tickets::used_at.eq(Some(now)),
            ))
            .on_conflict_do_nothing()
    };
    let inserted = on_backend!(conn, |c| insert().execute(c)?);
    Ok(inserted == 1)
}

/// Forgets spent tickets that expired before `before`: an expired ticket
/// is refused by its signature's expiry, so its row has nothing to guard.
pub fn forget_spent_tickets(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(
        diesel::delete(chat_tickets::table.filter(chat_tickets::expires_at.lt(before.naive_utc())))
            .execute(conn)?,
    )
}

/// Moves a reader's marker forward (never back). Returns whether it moved.
pub fn mark_read(
    conn: &mut DbConnection,
    case: CaseId,
    reader: &Holder,
    entry: EntryId,
) -> Result<bool, StoreError> {
    let now = now_micros();
    let key = chat_read_markers::table
        .filter(chat_read_markers::case_id.eq(case.to_string()))
        .filter(chat_read_markers::reader_kind.eq(&reader.0))
        .filter(chat_read_markers::reader_id.eq(&reader.1));
    let moved = diesel::update(
        key.clone()
            .filter(chat_read_markers::entry_id.lt(entry.to_string())),
    )
    .set((
        chat_read_markers::entry_id.eq(entry.to_string()),
        chat_read_markers::updated_at.eq(now),
    ))
    .execute(conn)?;
    if moved > 0 {
        return Ok(true);
    }
    let exists: i64 = key.count().get_result(conn)?;
    if exists > 0 {
        return Ok(false);
    }
    // A savepoint: a lost race must not abort the caller's transaction.
    let inserted = crate::savepoint(conn, |c| {
        diesel::insert_into(chat_read_markers::table)
            .values((
                chat_read_markers::case_id.eq(case.to_string()),
                chat_read_markers::reader_kind.eq(&reader.0),
                chat_read_markers::reader_id.eq(&reader.1),
                chat_read_markers::entry_id.eq(entry.to_string()),
                chat_read_markers::updated_at.eq(now),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(true),
        // Another connection of the same reader inserted first.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Where a reader has read to in a case.
pub fn read_marker(
    conn: &mut DbConnection,
    case: CaseId,
    reader: &Holder,
) -> Result<Option<EntryId>, StoreError> {
    let id: Option<String> = chat_read_markers::table
        .filter(chat_read_markers::case_id.eq(case.to_string()))
        .filter(chat_read_markers::reader_kind.eq(&reader.0))
        .filter(chat_read_markers::reader_id.eq(&reader.1))
        .select(chat_read_markers::entry_id)
        .first(conn)
        .optional()?;
    id.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt("chat_read_markers: entry id".into()))
    })
    .transpose()
}

/// Asks for an offline digest of the case at `due_at`, unless one already
/// waits: answers during one wait join the digest already waiting. A new
/// wait never reaches back before `floor` (the entry before the answer
/// that started it), so a first digest does not repeat a case's history.
pub fn schedule_offline_digest(
    conn: &mut DbConnection,
    case: CaseId,
    due_at: DateTime<Utc>,
    floor: Option<EntryId>,
) -> Result<(), StoreError> {
    let due = due_at.naive_utc();
    let current: Option<(Option<chrono::NaiveDateTime>, Option<String>)> =
        chat_offline_digests::table
            .find(case.to_string())
            .select((
                chat_offline_digests::due_at,
                chat_offline_digests::sent_through,
            ))
            .first(conn)
            .optional()?;
    let floor = floor.map(|f| f.to_string());
    match current {
        Some((Some(_), _)) => Ok(()),
        Some((None, through)) => {
            let through = through.max(floor);
            // Only if still not waiting: another node may have started it.
            diesel::update(
                chat_offline_digests::table
                    .find(case.to_string())
                    .filter(chat_offline_digests::due_at.is_null()),
            )
            .set((
                chat_offline_digests::due_at.eq(Some(due)),
                chat_offline_digests::sent_through.eq(through),
            ))
            .execute(conn)?;
            Ok(())
        }
        None => {
            // A savepoint: a lost race must not abort the caller's transaction.
            let inserted = crate::savepoint(conn, |c| {
                diesel::insert_into(chat_offline_digests::table)
                    .values((
                        chat_offline_digests::case_id.eq(case.to_string()),
                        chat_offline_digests::due_at.eq(Some(due)),
                        chat_offline_digests::sent_through.eq(floor),
                    ))
                    .execute(c)
            });
            match inserted {
                Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Cases whose digest is due at `now`, oldest first.
pub fn due_offline_digests(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<CaseId>, StoreError> {
    chat_offline_digests::table
        .filter(chat_offline_digests::due_at.le(now.naive_utc()))
        .order(chat_offline_digests::due_at.asc())
        .select(chat_offline_digests::case_id)
        .limit(limit)
        .load::<String>(conn)?
        .iter()
        .map(|c| {
            c.parse()
                .map_err(|_| StoreError::Corrupt("chat_offline_digests: case id".into()))
        })
        .collect()
}

/// Takes a due digest for sending in the caller's transaction; `None` when
/// another node took it first. Returns the newest entry already sent.
pub fn claim_offline_digest(
    conn: &mut DbConnection,
    case: CaseId,
    now: DateTime<Utc>,
) -> Result<Option<Option<EntryId>>, StoreError> {
    let claimed = diesel::update(
        chat_offline_digests::table
            .find(case.to_string())
            .filter(chat_offline_digests::due_at.le(now.naive_utc())),
    )
    .set(chat_offline_digests::due_at.eq(None::<chrono::NaiveDateTime>))
    .execute(conn)?;
    if claimed == 0 {
        return Ok(None);
    }
    let through: Option<String> = chat_offline_digests::table
        .find(case.to_string())
        .select(chat_offline_digests::sent_through)
        .first(conn)?;
    Ok(Some(
        through
            .map(|s| {
                s.parse()
                    .map_err(|_| StoreError::Corrupt("chat_offline_digests: entry id".into()))
            })
            .transpose()?,
    ))
}

/// Records the newest entry a digest carried.
pub fn offline_digest_sent(
    conn: &mut DbConnection,
    case: CaseId,
    through: EntryId,
) -> Result<(), StoreError> {
    diesel::update(chat_offline_digests::table.find(case.to_string()))
        .set(chat_offline_digests::sent_through.eq(Some(through.to_string())))
        .execute(conn)?;
    Ok(())
}

/// The furthest any contact of the case has read.
pub fn contacts_read_through(
    conn: &mut DbConnection,
    case: CaseId,
) -> Result<Option<EntryId>, StoreError> {
    let id: Option<String> = chat_read_markers::table
        .filter(chat_read_markers::case_id.eq(case.to_string()))
        .filter(chat_read_markers::reader_kind.eq("contact"))
        .select(diesel::dsl::max(chat_read_markers::entry_id))
        .first(conn)?;
    id.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt("chat_read_markers: entry id".into()))
    })
    .transpose()
}
