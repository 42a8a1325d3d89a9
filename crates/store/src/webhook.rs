//! Outgoing webhooks: the endpoints admins registered, one delivery per
//! event and endpoint with its attempts, and how far the change log has
//! been turned into deliveries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::column::{JsonText, OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::time::now_micros;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Event types it receives.
    #[diesel(deserialize_as = JsonText<Vec<String>>, serialize_as = JsonText<Vec<String>>)]
    pub events: Vec<String>,
    /// Internal notes are sent as `entry.added` too.
    pub include_notes: bool,
    /// The signing secret, sealed by the caller.
    pub sealed_secret: String,
    pub created_by: String,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    /// The `webhook-id` header: the same on every attempt.
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    /// The JSON body, exactly as signed and sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub next_attempt_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status; none when it could not be reached.
    pub last_status: Option<i32>,
    /// The start of the receiver's answer, or why it could not be reached.
    pub last_response: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub delivered_at: Option<DateTime<Utc>>,
}

pub fn insert_endpoint(conn: &mut DbConnection, e: &Endpoint) -> Result<(), StoreError> {
    diesel::insert_into(webhook_endpoints::table)
        .values(e.clone())
        .execute(conn)?;
    Ok(())
}

pub fn endpoints(conn: &mut DbConnection) -> Result<Vec<Endpoint>, StoreError> {
    Ok(webhook_endpoints::table
        .order(webhook_endpoints::created_at.asc())
        .select(Endpoint::as_select())
        .load(conn)?)
}

pub fn find_endpoint(conn: &mut DbConnection, id: &str) -> Result<Option<Endpoint>, StoreError> {
    Ok(webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// Removes an endpoint with its delivery log.
pub fn delete_endpoint(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    // On PostgreSQL a node queueing a delivery for this endpoint at the same
    // moment would add one between the two deletes (its foreign key check
    // only shares the row): lock the endpoint first, so it waits and then
    // finds the endpoint gone. SQLite writes one transaction at a time.
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE")
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)?;
    }
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)))
        .execute(conn)?;
    Ok(diesel::delete(webhook_endpoints::table.find(id)).execute(conn)? == 1)
}

/// Disables an endpoint (with why), or enables it again (`None`).
pub fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    Ok(diesel::update(webhook_endpoints::table.find(id))
        .set((
            webhook_endpoints::disabled_at.eq(reason.map(|_| now_micros())),
            webhook_endpoints::disabled_reason.eq(reason),
        ))
        .execute(conn)?
        == 1)
}

pub fn insert_delivery(conn: &mut DbConnection, d: &Delivery) -> Result<(), StoreError> {
    diesel::insert_into(webhook_deliveries::table)
        .values(d.clone())
        .execute(conn)?;
    Ok(())
}

/// Pending deliveries due by `now` to enabled endpoints, oldest first (a
/// disabled endpoint's backlog never holds up the others).
pub fn due(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let enabled = webhook_endpoints::table
        .filter(webhook_endpoints::disabled_at.is_null())
        .select(webhook_endpoints::id);
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq_any(enabled))
        .filter(webhook_deliveries::status.eq("pending"))
        .filter(webhook_deliveries::next_attempt_at.le(now.naive_utc()))
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

/// Takes a due delivery for one attempt: its next attempt moves to `until`
/// so no other node sends it meanwhile. False when another took it first.
pub fn claim(
    conn: &mut DbConnection,
    d: &Delivery,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        webhook_deliveries::table
            .find(&d.id)
            .filter(webhook_deliveries::status.eq("pending"))
            .filter(webhook_deliveries::next_attempt_at.eq(d.next_attempt_at.naive_utc())),
    )
    .set(webhook_deliveries::next_attempt_at.eq(until.naive_utc()))
    .execute(conn)?
        == 1)
}

/// What an attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    /// `pending` (retry at `next_attempt_at`), `delivered` or `failed`.
    pub status: &'a str,
    pub at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub http_status: Option<i32>,
    pub response: &'a str,
}

pub fn record_attempt(
    conn: &mut DbConnection,
    id: &str,
    a: &Attempt<'_>,
) -> Result<(), StoreError> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(a.status),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_attempt_at.eq(Some(a.at.naive_utc())),
            webhook_deliveries::next_attempt_at.eq(a.next_attempt_at.naive_utc()),
            webhook_deliveries::last_status.eq(a.http_status),
            webhook_deliveries::last_response.eq(Some(a.response)),
            webhook_deliveries::delivered_at
                .eq((a.status == "delivered").then_some(a.at.naive_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

/// An endpoint's deliveries, newest first.
pub fn deliveries(
    conn: &mut DbConnection,
    endpoint: &str,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint))
        .order((
            webhook_deliveries::created_at.desc(),
            webhook_deliveries::id.desc(),
        ))
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

pub fn find_delivery(conn: &mut DbConnection, id: &str) -> Result<Option<Delivery>, StoreError> {
    Ok(webhook_deliveries::table
        .find(id)
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Sends a delivery again at once (same id, so receivers can tell it is
/// the same event).
pub fn redeliver(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::next_attempt_at.eq(now_micros()),
        ))
        .execute(conn)?
        == 1)
}
