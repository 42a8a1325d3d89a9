//! Cases opened and resolved that wait for a contact's daily digest.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{CaseId, ContactId};

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::case_notices_pending;
use crate::time::now_micros;

/// One case event waiting for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = case_notices_pending)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Pending {
    #[diesel(deserialize_as = String)]
    pub case_id: CaseId,
    /// `opened` or `resolved`.
    pub event: String,
    #[diesel(deserialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
}

/// Keeps `event` of `case` for `contact`'s next digest.
pub fn add(
    conn: &mut DbConnection,
    contact: ContactId,
    case: CaseId,
    event: &str,
) -> Result<(), StoreError> {
    diesel::insert_into(case_notices_pending::table)
        .values((
            case_notices_pending::id.eq(uuid::Uuid::now_v7().to_string()),
            case_notices_pending::contact_id.eq(contact.to_string()),
            case_notices_pending::case_id.eq(case.to_string()),
            case_notices_pending::event.eq(event),
            case_notices_pending::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Contacts whose oldest waiting event is from `before` or earlier.
pub fn due_contacts(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<ContactId>, StoreError> {
    case_notices_pending::table
        .filter(case_notices_pending::sent_at.is_null())
        .filter(case_notices_pending::created_at.le(before.naive_utc()))
        .select(case_notices_pending::contact_id)
        .distinct()
        .limit(limit)
        .load::<String>(conn)?
        .into_iter()
        .map(|c| {
            c.parse()
                .map_err(|_| StoreError::Corrupt(format!("case_notices_pending contact_id {c:?}")))
        })
        .collect()
}

/// Claims every event waiting for `contact`, oldest first: marked sent in
/// the caller's transaction, so two nodes never send the same digest.
pub fn claim(conn: &mut DbConnection, contact: ContactId) -> Result<Vec<Pending>, StoreError> {
    let now = now_micros();
    diesel::update(
        case_notices_pending::table
            .filter(case_notices_pending::contact_id.eq(contact.to_string()))
            .filter(case_notices_pending::sent_at.is_null()),
    )
    .set(case_notices_pending::sent_at.eq(Some(now)))
    .execute(conn)?;
    Ok(case_notices_pending::table
        .filter(case_notices_pending::contact_id.eq(contact.to_string()))
        .filter(case_notices_pending::sent_at.eq(Some(now)))
        .order(case_notices_pending::id.asc())
        .select(Pending::as_select())
        .load(conn)?)
}

/// Forgets events digests carried before `before`; returns how many.
pub fn forget_sent_before(
    conn: &mut DbConnection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        case_notices_pending::table
            .filter(case_notices_pending::sent_at.is_not_null())
            .filter(case_notices_pending::sent_at.lt(before.naive_utc())),
    )
    .execute(conn)?)
}
