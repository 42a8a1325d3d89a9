//! SLA clocks of cases.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, CaseId};

use crate::cached::{Bind, Fixed};
use crate::column::{OptUtcStamp, UtcStamp};
use crate::connection::{DbConnection, on_backend};
use crate::error::StoreError;
use crate::schema::sla_clocks;

/// One SLA clock of one case.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = sla_clocks, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Clock {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub case_id: CaseId,
    /// `first_response`, `next_response` or `resolution`.
    pub clock: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub account_id: AccountId,
    pub target_minutes: i32,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub started_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub warn_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub due_at: DateTime<Utc>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub paused_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub stopped_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub warned_at: Option<DateTime<Utc>>,
    #[diesel(deserialize_as = OptUtcStamp, serialize_as = OptUtcStamp)]
    pub breached_at: Option<DateTime<Utc>>,
}

impl Clock {
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none()
    }

    /// Stopped in time.
    pub fn met(&self) -> bool {
        self.stopped_at.is_some_and(|s| s <= self.due_at)
    }
}

/// Starts (or restarts) a clock: a restarted clock replaces the old one,
/// in one statement.
pub fn start(conn: &mut DbConnection, clock: &Clock) -> Result<(), StoreError> {
    let (case_id, account_id) = (clock.case_id.to_string(), clock.account_id.to_string());
    let stamp = |t: &Option<DateTime<Utc>>| Bind::OptStamp(t.map(|t| t.naive_utc()));
    let binds = [
        Bind::Text(&case_id),
        Bind::Text(&clock.clock),
        Bind::Text(&account_id),
        Bind::Int(clock.target_minutes),
        Bind::Stamp(clock.started_at.naive_utc()),
        Bind::Stamp(clock.warn_at.naive_utc()),
        Bind::Stamp(clock.due_at.naive_utc()),
        stamp(&clock.paused_at),
        stamp(&clock.stopped_at),
        stamp(&clock.warned_at),
        stamp(&clock.breached_at),
    ];
    let upsert = Fixed::new(
        "INSERT INTO sla_clocks (case_id, clock, account_id, target_minutes, started_at, \
         warn_at, due_at, paused_at, stopped_at, warned_at, breached_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (case_id, clock) DO UPDATE SET \
         account_id = excluded.account_id, target_minutes = excluded.target_minutes, \
         started_at = excluded.started_at, warn_at = excluded.warn_at, due_at = excluded.due_at, \
         paused_at = excluded.paused_at, stopped_at = excluded.stopped_at, \
         warned_at = excluded.warned_at, breached_at = excluded.breached_at",
        &binds,
    );
    on_backend!(conn, |c| upsert.execute(c)?);
    Ok(())
}

pub fn save(conn: &mut DbConnection, clock: &Clock) -> Result<(), StoreError> {
    diesel::update(sla_clocks::table.find((clock.case_id.to_string(), clock.clock.clone())))
        .set(clock.clone())
        .execute(conn)?;
    Ok(())
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Clock>, StoreError> {
    Ok(sla_clocks::table
        .filter(sla_clocks::case_id.eq(case.to_string()))
        .select(Clock::as_select())
        .load(conn)?)
}

/// The clocks of several cases (a page of a case list).
pub fn for_cases(conn: &mut DbConnection, cases: &[CaseId]) -> Result<Vec<Clock>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sla_clocks::table
        .filter(
            sla_clocks::case_id.eq_any(cases.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .select(Clock::as_select())
        .load(conn)?)
}

pub fn for_account(conn: &mut DbConnection, account: AccountId) -> Result<Vec<Clock>, StoreError> {
    Ok(sla_clocks::table
        .filter(sla_clocks::account_id.eq(account.to_string()))
        .select(Clock::as_select())
        .load(conn)?)
}

/// Running, unpaused clocks whose warning or due time has come and that
/// have not been marked for it yet.
pub fn due_for_marking(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Clock>, StoreError> {
    let now = now.naive_utc();
    Ok(sla_clocks::table
        .filter(sla_clocks::stopped_at.is_null())
        .filter(sla_clocks::paused_at.is_null())
        .filter(
            sla_clocks::warned_at
                .is_null()
                .and(sla_clocks::warn_at.le(now))
                .or(sla_clocks::breached_at
                    .is_null()
                    .and(sla_clocks::due_at.le(now))),
        )
        .order(sla_clocks::due_at.asc())
        .limit(limit)
        .select(Clock::as_select())
        .load(conn)?)
}

/// Marks a warning once: false when another node already did.
pub fn mark_warned(
    conn: &mut DbConnection,
    c: &Clock,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        sla_clocks::table
            .find((c.case_id.to_string(), c.clock.clone()))
            .filter(sla_clocks::warned_at.is_null()),
    )
    .set(sla_clocks::warned_at.eq(Some(at.naive_utc())))
    .execute(conn)?
        == 1)
}

/// Marks a breach once: false when another node already did.
pub fn mark_breached(
    conn: &mut DbConnection,
    c: &Clock,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        sla_clocks::table
            .find((c.case_id.to_string(), c.clock.clone()))
            .filter(sla_clocks::breached_at.is_null()),
    )
    .set(sla_clocks::breached_at.eq(Some(at.naive_utc())))
    .execute(conn)?
        == 1)
}
