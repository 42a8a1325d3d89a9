//! Appointments on a case: proposed time slots, the one booked.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, AppointmentId, CaseId};
use serde::{Deserialize, Serialize};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::appointments;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = appointments)]
#[diesel(treat_none_as_null = true)]
struct Row {
    id: String,
    case_id: String,
    account_id: String,
    title: String,
    note: String,
    slots: String,
    proposed_by_kind: String,
    proposed_by_id: String,
    status: String,
    starts_at: Option<NaiveDateTime>,
    ends_at: Option<NaiveDateTime>,
    booked_by_kind: Option<String>,
    booked_by_id: Option<String>,
    created_at: NaiveDateTime,
    booked_at: Option<NaiveDateTime>,
    cancelled_at: Option<NaiveDateTime>,
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

fn corrupt() -> StoreError {
    StoreError::Corrupt("appointments: row".into())
}

fn from_row(r: Row) -> Result<Appointment, StoreError> {
    let booked = match (r.starts_at, r.ends_at) {
        (Some(s), Some(e)) => Some(Slot {
            start: s.and_utc(),
            end: e.and_utc(),
        }),
        _ => None,
    };
    Ok(Appointment {
        id: r.id.parse().map_err(|_| corrupt())?,
        case_id: r.case_id.parse().map_err(|_| corrupt())?,
        account_id: r.account_id.parse().map_err(|_| corrupt())?,
        title: r.title,
        note: r.note,
        slots: serde_json::from_str(&r.slots).map_err(|_| corrupt())?,
        proposed_by: (r.proposed_by_kind, r.proposed_by_id),
        status: r.status,
        booked,
        booked_by: r.booked_by_kind.zip(r.booked_by_id),
        created_at: r.created_at.and_utc(),
        booked_at: r.booked_at.map(|t| t.and_utc()),
        cancelled_at: r.cancelled_at.map(|t| t.and_utc()),
        client_request_id: r.client_request_id,
    })
}

fn to_row(a: &Appointment) -> Result<Row, StoreError> {
    Ok(Row {
        id: a.id.to_string(),
        case_id: a.case_id.to_string(),
        account_id: a.account_id.to_string(),
        title: a.title.clone(),
        note: a.note.clone(),
        slots: serde_json::to_string(&a.slots).map_err(|_| corrupt())?,
        proposed_by_kind: a.proposed_by.0.clone(),
        proposed_by_id: a.proposed_by.1.clone(),
        status: a.status.clone(),
        starts_at: a.booked.map(|s| s.start.naive_utc()),
        ends_at: a.booked.map(|s| s.end.naive_utc()),
        booked_by_kind: a.booked_by.as_ref().map(|b| b.0.clone()),
        booked_by_id: a.booked_by.as_ref().map(|b| b.1.clone()),
        created_at: a.created_at.naive_utc(),
        booked_at: a.booked_at.map(|t| t.naive_utc()),
        cancelled_at: a.cancelled_at.map(|t| t.naive_utc()),
        client_request_id: a.client_request_id.clone(),
    })
}

pub fn insert(conn: &mut DbConnection, a: &Appointment) -> Result<(), StoreError> {
    diesel::insert_into(appointments::table)
        .values(to_row(a)?)
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
    let row = to_row(a)?;
    let n = diesel::update(
        appointments::table
            .find(&row.id)
            .filter(appointments::status.eq(expected)),
    )
    .set(&row)
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: AppointmentId) -> Result<Option<Appointment>, StoreError> {
    appointments::table
        .find(id.to_string())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

/// The appointment `proposer` created with this request id, if any.
pub fn find_by_request(
    conn: &mut DbConnection,
    proposer: &str,
    request: &str,
) -> Result<Option<Appointment>, StoreError> {
    appointments::table
        .filter(appointments::proposed_by_id.eq(proposer))
        .filter(appointments::client_request_id.eq(request))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(from_row)
        .transpose()
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Appointment>, StoreError> {
    appointments::table
        .filter(appointments::case_id.eq(case.to_string()))
        .order(appointments::created_at)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Booked appointments of an account, soonest first.
pub fn booked_for_account(
    conn: &mut DbConnection,
    account: AccountId,
) -> Result<Vec<Appointment>, StoreError> {
    appointments::table
        .filter(appointments::account_id.eq(account.to_string()))
        .filter(appointments::status.eq("booked"))
        .order(appointments::starts_at)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(from_row)
        .collect()
}
