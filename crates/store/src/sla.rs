//! SLA clocks of cases.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rapport_domain::{AccountId, CaseId};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::sla_clocks;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sla_clocks, treat_none_as_null = true)]
struct ClockRow {
    case_id: String,
    clock: String,
    account_id: String,
    target_minutes: i32,
    started_at: NaiveDateTime,
    warn_at: NaiveDateTime,
    due_at: NaiveDateTime,
    paused_at: Option<NaiveDateTime>,
    stopped_at: Option<NaiveDateTime>,
    warned_at: Option<NaiveDateTime>,
    breached_at: Option<NaiveDateTime>,
}

/// One SLA clock of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub case_id: CaseId,
    /// `first_response`, `next_response` or `resolution`.
    pub clock: String,
    pub account_id: AccountId,
    pub target_minutes: i32,
    pub started_at: DateTime<Utc>,
    pub warn_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub paused_at: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub warned_at: Option<DateTime<Utc>>,
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

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

impl TryFrom<ClockRow> for Clock {
    type Error = StoreError;

    fn try_from(r: ClockRow) -> Result<Clock, StoreError> {
        let bad = || StoreError::Corrupt(format!("sla_clocks {} {}", r.case_id, r.clock));
        Ok(Clock {
            case_id: r.case_id.parse().map_err(|_| bad())?,
            account_id: r.account_id.parse().map_err(|_| bad())?,
            clock: r.clock.clone(),
            target_minutes: r.target_minutes,
            started_at: utc(r.started_at),
            warn_at: utc(r.warn_at),
            due_at: utc(r.due_at),
            paused_at: r.paused_at.map(utc),
            stopped_at: r.stopped_at.map(utc),
            warned_at: r.warned_at.map(utc),
            breached_at: r.breached_at.map(utc),
        })
    }
}

fn row(c: &Clock) -> ClockRow {
    ClockRow {
        case_id: c.case_id.to_string(),
        clock: c.clock.clone(),
        account_id: c.account_id.to_string(),
        target_minutes: c.target_minutes,
        started_at: c.started_at.naive_utc(),
        warn_at: c.warn_at.naive_utc(),
        due_at: c.due_at.naive_utc(),
        paused_at: c.paused_at.map(|t| t.naive_utc()),
        stopped_at: c.stopped_at.map(|t| t.naive_utc()),
        warned_at: c.warned_at.map(|t| t.naive_utc()),
        breached_at: c.breached_at.map(|t| t.naive_utc()),
    }
}

/// Starts (or restarts) a clock: a restarted clock replaces the old one.
pub fn start(conn: &mut DbConnection, clock: &Clock) -> Result<(), StoreError> {
    diesel::delete(sla_clocks::table.find((clock.case_id.to_string(), clock.clock.clone())))
        .execute(conn)?;
    diesel::insert_into(sla_clocks::table)
        .values(row(clock))
        .execute(conn)?;
    Ok(())
}

pub fn save(conn: &mut DbConnection, clock: &Clock) -> Result<(), StoreError> {
    diesel::update(sla_clocks::table.find((clock.case_id.to_string(), clock.clock.clone())))
        .set(row(clock))
        .execute(conn)?;
    Ok(())
}

pub fn for_case(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Clock>, StoreError> {
    sla_clocks::table
        .filter(sla_clocks::case_id.eq(case.to_string()))
        .select(ClockRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Clock::try_from)
        .collect()
}

/// The clocks of several cases (a page of a case list).
pub fn for_cases(conn: &mut DbConnection, cases: &[CaseId]) -> Result<Vec<Clock>, StoreError> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    sla_clocks::table
        .filter(
            sla_clocks::case_id.eq_any(cases.iter().map(ToString::to_string).collect::<Vec<_>>()),
        )
        .select(ClockRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Clock::try_from)
        .collect()
}

pub fn for_account(conn: &mut DbConnection, account: AccountId) -> Result<Vec<Clock>, StoreError> {
    sla_clocks::table
        .filter(sla_clocks::account_id.eq(account.to_string()))
        .select(ClockRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Clock::try_from)
        .collect()
}

/// Running, unpaused clocks whose warning or due time has come and that
/// have not been marked for it yet.
pub fn due_for_marking(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Clock>, StoreError> {
    let now = now.naive_utc();
    sla_clocks::table
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
        .select(ClockRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Clock::try_from)
        .collect()
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
