//! Appointments on a case: proposed time slots, the one booked.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, AppointmentId, CaseId};
use serde::{Deserialize, Serialize};

use crate::column::{JsonText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::appointments;

/// The booked slot and both people are pairs of columns: the fields
/// [`Appointment`] assembles from the row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = appointments)]
#[diesel(treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct Row {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: AppointmentId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    case_id: CaseId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    account_id: AccountId,
    title: String,
    note: String,
    #[diesel(deserialize_as = JsonText<Vec<Slot>>, serialize_as = JsonText<Vec<Slot>>)]
    slots: Vec<Slot>,
    proposed_by_kind: String,
    proposed_by_id: String,
    status: String,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    starts_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    ends_at: Option<DateTime<Utc>>,
    booked_by_kind: Option<String>,
    booked_by_id: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    booked_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    cancelled_at: Option<DateTime<Utc>>,
    client_request_id: Option<String>,
}

/// One proposed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub id: AppointmentId,
    pub case_id: CaseId,
    pub account_id: AccountId,
    pub title: String,
    pub note: String,
    pub slots: Vec<Slot>,
    /// `staff` or `contact`, and their id.
    pub proposed_by: (String, String),
    /// `proposed`, `booked` or `cancelled`.
    pub status: String,
    pub booked: Option<Slot>,
    pub booked_by: Option<(String, String)>,
    pub created_at: DateTime<Utc>,
    pub booked_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The proposer's id for the request that created it.
    pub client_request_id: Option<String>,
}

fn from_row(r: Row) -> Appointment {
    Appointment {
        booked: r
            .starts_at
            .zip(r.ends_at)
            .map(|(start, end)| Slot { start, end }),
        id: r.id,
        case_id: r.case_id,
        account_id: r.account_id,
        title: r.title,
        note: r.note,
        slots: r.slots,
        proposed_by: (r.proposed_by_kind, r.proposed_by_id),
        status: r.status,
        booked_by: r.booked_by_kind.zip(r.booked_by_id),
        created_at: r.created_at,
        booked_at: r.booked_at,
        cancelled_at: r.cancelled_at,
        client_request_id: r.client_request_id,
    }
}

fn to_row(a: &Appointment) -> Row {
    Row {
        id: a.id,
        case_id: a.case_id,
        account_id: a.account_id,
        title: a.title.clone(),
        note: a.note.clone(),
        slots: a.slots.clone(),
        proposed_by_kind: a.proposed_by.0.clone(),
        proposed_by_id: a.proposed_by.1.clone(),
        status: a.status.clone(),
        starts_at: a.booked.map(|s| s.start),
        ends_at: a.booked.map(|s| s.end),
        booked_by_kind: a.booked_by.as_ref().map(|b| b.0.clone()),
        booked_by_id: a.booked_by.as_ref().map(|b| b.1.clone()),
        created_at: a.created_at,
        booked_at: a.booked_at,
        cancelled_at: a.cancelled_at,
        client_request_id: a.client_request_id.clone(),
    }
}

pub fn insert(conn: &mut DbConnection, a: &Appointment) -> Result<(), StoreError> {
    diesel::insert_into(appointments::table)
        .values(to_row(a))
        .execute(conn)?;
    Ok(())
}

/// Saves a change made to an appointment read while it was `expected`;
/// returns false when someone else changed its status meanwhile.
pub fn save_from(
    conn: &mut DbConnection,
    a: &Appointment,
    expected: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        appointments::table
            .find(a.id.to_string())
            .filter(appointments::status.eq(expected)),
    )
    .set(to_row(a))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: AppointmentId) -> Result<Option<Appointment>, StoreError> {
    Ok(appointments::table
        .find(id.to_string())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row))
}

/// The appointment `proposer` created with this request id, if any.
pub fn find_by_request(
    conn: &mut DbConnection,
    proposer: &str,
    request: &str,
) -> Result<Option<Appointment>, StoreError> {
    Ok(appointments::table
        .filter(appointments::proposed_by_id.eq(proposer))
        .filter(appointments::client_request_id.eq(request))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row))
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Appointment>, StoreError> {
    Ok(appointments::table
        .filter(appointments::case_id.eq(case.to_string()))
        .order(appointments::created_at)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}

/// Booked appointments of an account, soonest first.
pub fn booked_for_account(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Vec<Appointment>, StoreError> {
    Ok(appointments::table
        .filter(appointments::account_id.eq(account.to_string()))
        .filter(appointments::status.eq("booked"))
        .order(appointments::starts_at)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(from_row)
        .collect())
}
