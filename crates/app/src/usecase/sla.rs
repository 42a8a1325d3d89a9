//! SLA clocks: first response, next response and resolution, counted in
//! business time from the configured calendar and the account tier's
//! targets. Clocks pause while a case waits for the client; a worker marks
//! warnings and breaches once each, in the thread and in the audit log.

use chrono::{DateTime, Utc};
use rapport_audit::Actor;
use rapport_domain::{AccountId, CaseStatus, Principal};
use rapport_store::DbConnection;
use rapport_store::account::Account;
use rapport_store::case::Case;
use rapport_store::sla::{self, Clock};
use serde_json::json;

use super::UseCaseError;
use super::case::{audit, thread_event};
use crate::changes::Change;
use crate::state::AppState;

pub const FIRST_RESPONSE: &str = "first_response";
pub const NEXT_RESPONSE: &str = "next_response";
pub const RESOLUTION: &str = "resolution";

fn new_clock(
    state: &AppState,
    case: &Case,
    account: &Account,
    kind: &'static str,
    now: DateTime<Utc>,
) -> Clock {
    let settings = &state.config.settings.sla;
    let targets = settings.targets(&account.tier);
    let minutes = match kind {
        FIRST_RESPONSE => targets.first_response_minutes,
        NEXT_RESPONSE => targets.next_response_minutes,
        _ => targets.resolution_minutes,
    };
    let calendar = &state.config.sla_calendar;
    let warn_minutes = i64::from(minutes) * i64::from(settings.warn_at_percent) / 100;
    Clock {
        case_id: case.id,
        clock: kind.to_owned(),
        account_id: account.id,
        target_minutes: i32::try_from(minutes).unwrap_or(i32::MAX),
        started_at: now,
        warn_at: calendar.add_business_minutes(now, warn_minutes),
        due_at: calendar.add_business_minutes(now, i64::from(minutes)),
        paused_at: None,
        stopped_at: None,
        warned_at: None,
        breached_at: None,
    }
}

/// A case was opened: resolution runs; first response runs when a client
/// opened it (a proactive case from staff already is a response).
pub(super) fn on_opened(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    account: &Account,
    by_client: bool,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    if by_client {
        sla::start(conn, &new_clock(state, case, account, FIRST_RESPONSE, now))?;
    }
    sla::start(conn, &new_clock(state, case, account, RESOLUTION, now))?;
    Ok(())
}

fn stop(
    conn: &mut DbConnection,
    case: &Case,
    kinds: &[&str],
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    for mut clock in sla::for_case(conn, case.id)? {
        if clock.is_running() && kinds.contains(&clock.clock.as_str()) {
            clock.stopped_at = Some(now);
            sla::save(conn, &clock)?;
        }
    }
    Ok(())
}

/// Staff answered the client: the response clocks stop.
pub(super) fn on_staff_reply(
    conn: &mut DbConnection,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    stop(conn, case, &[FIRST_RESPONSE, NEXT_RESPONSE], now)
}

/// The client wrote: unless an answer is already awaited, one is now.
pub(super) fn on_client_message(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    let clocks = sla::for_case(conn, case.id)?;
    let awaiting = clocks
        .iter()
        .any(|c| c.is_running() && (c.clock == FIRST_RESPONSE || c.clock == NEXT_RESPONSE));
    if !awaiting {
        let kind = if clocks.iter().any(|c| c.clock == FIRST_RESPONSE)
            || case.first_response_at.is_some()
        {
            NEXT_RESPONSE
        } else {
            FIRST_RESPONSE
        };
        sla::start(conn, &new_clock(state, case, account, kind, now))?;
    }
    Ok(())
}

/// A reopened case must be resolved again, on a fresh clock.
pub(super) fn on_reopened(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    account: &Account,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    sla::start(conn, &new_clock(state, case, account, RESOLUTION, now))?;
    Ok(())
}

/// Status changes pause, resume or stop the clocks.
pub(super) fn on_status(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    from: CaseStatus,
    to: CaseStatus,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    if !to.is_open() {
        return stop(
            conn,
            case,
            &[FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION],
            now,
        );
    }
    let calendar = &state.config.sla_calendar;
    for mut clock in sla::for_case(conn, case.id)? {
        if !clock.is_running() {
            continue;
        }
        if to == CaseStatus::PendingClient && clock.paused_at.is_none() {
            clock.paused_at = Some(now);
            sla::save(conn, &clock)?;
        } else if from == CaseStatus::PendingClient
            && to != CaseStatus::PendingClient
            && let Some(paused) = clock.paused_at.take()
        {
            // The business time spent waiting moves both marks later.
            let waited = calendar.business_minutes_between(paused, now);
            clock.warn_at = calendar.add_business_minutes(clock.warn_at, waited);
            clock.due_at = calendar.add_business_minutes(clock.due_at, waited);
            sla::save(conn, &clock)?;
        }
    }
    Ok(())
}

/// A merged case's clocks stop; the survivor's go on.
pub(super) fn on_merged(
    conn: &mut DbConnection,
    case: &Case,
    now: DateTime<Utc>,
) -> Result<(), UseCaseError> {
    stop(
        conn,
        case,
        &[FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION],
        now,
    )
}

fn label(kind: &str) -> &str {
    match kind {
        FIRST_RESPONSE => "first response",
        NEXT_RESPONSE => "next response",
        _ => "resolution",
    }
}

/// Marks every warning and breach that has come by `now`, once each even
/// with several nodes checking. Returns how many marks were made.
pub fn tick(state: &AppState, now: DateTime<Utc>) -> Result<usize, UseCaseError> {
    let mut marks = 0;
    let due = sla::due_for_marking(&mut *state.store.conn()?, now, 500)?;
    for clock in due {
        let (made, noticed) = super::commit(state, |conn, changes| {
            let mut made = 0;
            let mut notices = Vec::new();
            let Some(mut case) = rapport_store::case::find(conn, clock.case_id)? else {
                return Ok((0, false));
            };
            if clock.warned_at.is_none()
                && clock.warn_at <= now
                && clock.due_at > now
                && sla::mark_warned(conn, &clock, now)?
            {
                let text = format!(
                    "SLA warning: {} due at {}",
                    label(&clock.clock),
                    rapport_audit::format_at(&clock.due_at)
                );
                thread_event(conn, &mut case, &text)?;
                notices.push(notice("sla_warning", &case, text, now));
                audit(
                    conn,
                    &case,
                    Actor::system(),
                    "case.sla_warning",
                    json!({"clock": clock.clock, "due_at": rapport_audit::format_at(&clock.due_at)}),
                )?;
                made += 1;
            }
            if clock.breached_at.is_none() && clock.due_at <= now {
                // A breach implies the warning, even if no check ran in between.
                sla::mark_warned(conn, &clock, now)?;
                if sla::mark_breached(conn, &clock, now)? {
                    let text = format!(
                        "SLA breached: {} was due at {}",
                        label(&clock.clock),
                        rapport_audit::format_at(&clock.due_at)
                    );
                    thread_event(conn, &mut case, &text)?;
                    notices.push(notice("sla_breached", &case, text, now));
                    audit(
                        conn,
                        &case,
                        Actor::system(),
                        "case.sla_breached",
                        json!({"clock": clock.clock, "due_at": rapport_audit::format_at(&clock.due_at)}),
                    )?;
                    made += 1;
                }
            }
            for n in &notices {
                super::mail::alert_team(conn, state, &case, &n.text)?;
            }
            let noticed = !notices.is_empty();
            changes.extend(notices.into_iter().map(Change::StaffNotice));
            Ok((made, noticed))
        })?;
        if noticed {
            state.mail.wake();
        }
        marks += made;
    }
    Ok(marks)
}

fn notice(
    kind: &'static str,
    case: &Case,
    text: String,
    at: DateTime<Utc>,
) -> crate::notify::Notification {
    crate::notify::Notification {
        at,
        ..crate::notify::Notification::about(kind, case, text)
    }
}

/// How one kind of clock fared for an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClockStats {
    pub met: u64,
    pub missed: u64,
    pub running: u64,
    pub running_breached: u64,
}

impl ClockStats {
    /// Counts one clock: stopped in time or late; still running, within
    /// its target or already past it (marked breached or not yet).
    pub fn add(
        &mut self,
        stopped_at: Option<DateTime<Utc>>,
        due_at: DateTime<Utc>,
        breached: bool,
        now: DateTime<Utc>,
    ) {
        match stopped_at {
            None if breached || now > due_at => self.running_breached += 1,
            None => self.running += 1,
            Some(stop) if stop <= due_at => self.met += 1,
            Some(_) => self.missed += 1,
        }
    }
}

/// SLA attainment of an account, per clock kind.
#[derive(Debug, Clone)]
pub struct Attainment {
    pub tier: String,
    pub targets: crate::config::SlaTargets,
    pub clocks: Vec<(&'static str, ClockStats)>,
}

/// Staff who may read the account see its attainment; contacts and
/// integrations do not (it is a report on the account's cases).
pub fn attainment(
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<Attainment, UseCaseError> {
    if !matches!(who, Principal::Staff { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    let mut conn = state.store.conn()?;
    let account = super::account::readable(&mut conn, state, who, account)?;
    let clocks = sla::for_account(&mut conn, account.id)?;
    let now = Utc::now();
    let stats = [FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION].map(|kind| {
        let mut s = ClockStats::default();
        for c in clocks.iter().filter(|c| c.clock == kind) {
            s.add(c.stopped_at, c.due_at, c.breached_at.is_some(), now);
        }
        (kind, s)
    });
    Ok(Attainment {
        targets: state.config.settings.sla.targets(&account.tier),
        tier: account.tier,
        clocks: stats.to_vec(),
    })
}
