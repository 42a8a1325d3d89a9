//! Appointments on a case: one side (a contact or the team) proposes time
//! slots, the other books one. Both sides then get an email with an
//! iCalendar invitation; the thread, and so the account timeline, shows
//! each step.

use chrono::{DateTime, Duration, Utc};
use icalendar::{Calendar, Component, EventLike, EventStatus};
use rapport_domain::{AppointmentId, CaseId, Principal, can_reply_case, can_work_case};
use rapport_mail::Mailbox;
use rapport_store::DbConnection;
use rapport_store::appointment::{self, Appointment, Slot};
use rapport_store::case::{Case, Entry};
use serde_json::json;

use super::UseCaseError;
use super::case::{author_of, load, thread_event};
use super::input::{invalid, optional_text, text};
use crate::changes::Change;
use crate::state::AppState;

/// Most slots one proposal offers.
const MAX_SLOTS: usize = 10;
/// Longest meeting.
const MAX_MINUTES: i64 = 8 * 60;

/// A proposal as asked for.
#[derive(Debug, Clone, Default)]
pub struct Proposal {
    pub title: String,
    pub note: Option<String>,
    pub slots: Vec<Slot>,
    /// The proposer's id for this request: a retry returns the first
    /// proposal instead of making another.
    pub client_request_id: Option<String>,
}

/// What a step did, for the live fan-out.
#[derive(Debug, Clone)]
pub struct Step {
    pub appointment: Appointment,
    pub case: Case,
    /// The thread event written; `None` for a retried proposal.
    pub event: Option<Entry>,
}

fn side(who: &Principal) -> Result<(&'static str, String), UseCaseError> {
    match who {
        Principal::Staff { id, .. } => Ok(("staff", id.to_string())),
        Principal::Contact { id, .. } => Ok(("contact", id.to_string())),
        Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

/// The case, if `who` may take part in scheduling on it: staff who work
/// it, contacts who may write to it.
fn case_for(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: CaseId,
) -> Result<Case, UseCaseError> {
    let loaded = load(conn, state, who, id)?;
    let access = loaded.access(who, state);
    let allowed = match who {
        Principal::Staff { .. } => can_work_case(who, &access),
        _ => can_reply_case(who, &access),
    };
    if !allowed {
        return Err(UseCaseError::Forbidden);
    }
    if loaded.case.merged_into_id.is_some() {
        return Err(invalid(
            "case",
            "this case was merged; schedule on the case it went into",
        ));
    }
    Ok(loaded.case)
}

/// `Tue 2 Dec 2026, 10:00–10:30 UTC`.
fn describe(s: &Slot) -> String {
    format!(
        "{}–{} UTC",
        s.start.format("%a %-d %b %Y, %H:%M"),
        s.end.format("%H:%M")
    )
}

fn check_slots(slots: &[Slot], now: DateTime<Utc>) -> Result<Vec<Slot>, UseCaseError> {
    if slots.is_empty() || slots.len() > MAX_SLOTS {
        return Err(invalid(
            "slots",
            format!("offer 1 to {MAX_SLOTS} time slots"),
        ));
    }
    let mut out: Vec<Slot> = Vec::new();
    for s in slots {
        let minutes = (s.end - s.start).num_minutes();
        if !(5..=MAX_MINUTES).contains(&minutes) {
            return Err(invalid(
                "slots",
                format!(
                    "each slot ends 5 minutes to {} hours after it starts",
                    MAX_MINUTES / 60
                ),
            ));
        }
        if s.start < now {
            return Err(invalid("slots", "slots must be in the future"));
        }
        if s.start > now + Duration::days(366) {
            return Err(invalid("slots", "slots must be within a year"));
        }
        if out.contains(s) {
            return Err(invalid("slots", "the same slot is offered twice"));
        }
        out.push(*s);
    }
    out.sort_by_key(|s| s.start);
    Ok(out)
}

pub fn propose(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    p: &Proposal,
) -> Result<Step, UseCaseError> {
    let (_, actor) = author_of(who)?;
    let (kind, proposer) = side(who)?;
    let title = text("title", &p.title, 120)?;
    let note = optional_text("note", p.note.as_deref(), 2_000, true)?.unwrap_or_default();
    let slots = check_slots(&p.slots, Utc::now())?;
    let request =
        super::case::check_client_id("client_request_id", p.client_request_id.as_deref())?;
    in_step(state, who, case_id, |conn, case| {
        if let Some(r) = &request
            && let Some(first) = appointment::find_by_request(conn, &proposer, r)?
        {
            if first.case_id != case_id {
                return Err(invalid(
                    "client_request_id",
                    "was used for a proposal on another case",
                ));
            }
            return Ok((first, None));
        }
        let a = Appointment {
            id: AppointmentId::new(),
            case_id,
            account_id: case.account_id,
            title: title.clone(),
            note: note.clone(),
            slots: slots.clone(),
            proposed_by: (kind.to_owned(), proposer.clone()),
            status: "proposed".into(),
            booked: None,
            booked_by: None,
            created_at: Utc::now(),
            booked_at: None,
            cancelled_at: None,
            client_request_id: request.clone(),
        };
        appointment::insert(conn, &a)?;
        let name = person_name(conn, who)?;
        let listed: Vec<String> = slots.iter().map(describe).collect();
        let event = record_step(
            conn,
            case,
            actor,
            format!(
                "{name} proposed times for \"{title}\": {}. {} picks one.",
                listed.join("; "),
                if kind == "staff" {
                    "The client"
                } else {
                    "The team"
                }
            ),
            "appointment.proposed",
            json!({"appointment_id": a.id.to_string(), "title": title, "note": note, "slots": slots}),
        )?;
        if kind == "staff" {
            let to = super::mail::case_recipients(conn, case)?;
            if !to.is_empty() {
                let text = format!(
                    "{name} would like to meet about your case: \"{title}\".\n\n{}Pick the time that suits you in the portal:\n{}/portal\n\nProposed times:\n{}\n",
                    if note.is_empty() {
                        String::new()
                    } else {
                        format!("{note}\n\n")
                    },
                    state.public_url(),
                    listed
                        .iter()
                        .map(|l| format!("  - {l}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                super::mail::enqueue(
                    conn,
                    state,
                    &super::mail::Queued {
                        kind: "appointment",
                        case: Some(case),
                        entry: None,
                        to,
                        subject: format!(
                            "{} Pick a time: {title}",
                            rapport_mail::subject_tag(case.number)
                        ),
                        text,
                        automatic: false,
                        in_reply_to: None,
                        attachments: Vec::new(),
                        html: None,
                    },
                )?;
            }
        }
        Ok((a, Some(event)))
    })
}

/// Runs one scheduling step on the locked case in one transaction, then
/// fans its thread event out. `f` returns the appointment and the event it
/// wrote (`None` when it changed nothing).
fn in_step(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    f: impl FnOnce(&mut DbConnection, &mut Case) -> Result<(Appointment, Option<Entry>), UseCaseError>,
) -> Result<Step, UseCaseError> {
    super::commit(state, |conn, changes| {
        rapport_store::case::lock_for_append(conn, case_id)?;
        let mut case = case_for(conn, state, who, case_id)?;
        let (appointment, event) = f(conn, &mut case)?;
        if let Some(event) = &event {
            changes.push(Change::EntryAdded(event.clone()));
            changes.push(Change::CaseChanged {
                case: case.clone(),
                fields: vec!["appointment".into()],
            });
        }
        Ok(Step {
            appointment,
            case,
            event,
        })
    })
}

/// Writes a step to the thread (so the account timeline shows it) and to
/// the case's audit stream.
fn record_step(
    conn: &mut DbConnection,
    case: &mut Case,
    actor: rapport_audit::Actor,
    text: String,
    action: &str,
    data: serde_json::Value,
) -> Result<Entry, UseCaseError> {
    let event = thread_event(conn, case, &text)?;
    rapport_store::case::save(conn, case)?;
    super::case::audit(conn, case, actor, action, data)?;
    Ok(event)
}

/// The appointment `id` of the case, or `NotFound`.
fn on_case(
    conn: &mut DbConnection,
    case_id: CaseId,
    id: AppointmentId,
) -> Result<Appointment, UseCaseError> {
    appointment::find(conn, id)?
        .filter(|a| a.case_id == case_id)
        .ok_or(UseCaseError::NotFound("appointment"))
}

fn person_name(conn: &mut DbConnection, who: &Principal) -> Result<String, UseCaseError> {
    Ok(match who {
        Principal::Staff { id, .. } => rapport_store::staff::find(conn, *id)?
            .map(|s| s.display_name.as_str().to_owned())
            .unwrap_or_else(|| "The team".into()),
        Principal::Contact { id, .. } => rapport_store::contact::find(conn, *id)?
            .map(|c| c.name.as_str().to_owned())
            .unwrap_or_else(|| "The client".into()),
        Principal::ApiToken { .. } => String::new(),
    })
}

/// The staff who take part: the proposer or booker on staff's side and
/// the case's assignee, active, with their addresses.
fn staff_attendees(
    conn: &mut DbConnection,
    case: &Case,
    a: &Appointment,
) -> Result<Vec<Mailbox>, UseCaseError> {
    let mut ids = Vec::new();
    for (kind, id) in [Some(&a.proposed_by), a.booked_by.as_ref()]
        .into_iter()
        .flatten()
    {
        if kind == "staff"
            && let Ok(id) = id.parse()
        {
            ids.push(id);
        }
    }
    ids.extend(case.assignee_id);
    ids.dedup();
    let mut out: Vec<Mailbox> = Vec::new();
    for id in ids {
        if let Some(s) = rapport_store::staff::find(conn, id)?
            && s.active
            && !out.iter().any(|m| m.address == s.email.as_str())
        {
            out.push(Mailbox {
                name: Some(s.display_name.as_str().to_owned()),
                address: s.email.as_str().to_owned(),
            });
        }
    }
    Ok(out)
}

/// The iCalendar invitation (or cancellation) for a booked appointment.
pub fn ics(
    state: &AppState,
    case: &Case,
    a: &Appointment,
    attendees: &[Mailbox],
    cancelled: bool,
) -> String {
    let Some(slot) = a.booked else {
        return String::new();
    };
    let mut event = icalendar::Event::with_uid(&format!("{}@{}", a.id, state.mail.domain));
    event
        .summary(&format!("{} [#{}]", a.title, case.number))
        .description(&format!(
            "{}{}Case #{}: {}\n{}/portal",
            a.note,
            if a.note.is_empty() { "" } else { "\n\n" },
            case.number,
            case.subject,
            state.public_url()
        ))
        .starts(slot.start)
        .ends(slot.end)
        .timestamp(Utc::now())
        .status(if cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        })
        .add_property("SEQUENCE", if cancelled { "1" } else { "0" })
        .add_property("ORGANIZER", format!("mailto:{}", state.mail.address));
    for m in attendees {
        event.add_multi_property("ATTENDEE", &format!("mailto:{}", m.address));
    }
    let mut cal = Calendar::empty();
    cal.append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//Rapport//Support appointments//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", if cancelled { "CANCEL" } else { "REQUEST" }));
    cal.push(event.done());
    cal.done().to_string()
}

/// Emails both sides the invitation or cancellation.
fn send_invitations(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    a: &Appointment,
    cancelled: bool,
) -> Result<(), UseCaseError> {
    let contacts = super::mail::case_recipients(conn, case)?;
    let staff = staff_attendees(conn, case, a)?;
    let everyone: Vec<Mailbox> = contacts.iter().chain(staff.iter()).cloned().collect();
    let calendar = ics(state, case, a, &everyone, cancelled);
    let when = a.booked.as_ref().map(describe).unwrap_or_default();
    let (subject, text) = if cancelled {
        (
            format!(
                "{} Cancelled: {} ({when})",
                rapport_mail::subject_tag(case.number),
                a.title
            ),
            format!(
                "The meeting \"{}\" on {when} is cancelled. The attached file removes it from your calendar.\n",
                a.title
            ),
        )
    } else {
        (
            format!(
                "{} Booked: {} ({when})",
                rapport_mail::subject_tag(case.number),
                a.title
            ),
            format!(
                "The meeting \"{}\" is booked for {when}.\n\nOpen the attached invitation to add it to your calendar.\n",
                a.title
            ),
        )
    };
    let method = if cancelled { "CANCEL" } else { "REQUEST" };
    for to in [contacts, staff] {
        if to.is_empty() {
            continue;
        }
        super::mail::enqueue(
            conn,
            state,
            &super::mail::Queued {
                kind: "appointment",
                case: Some(case),
                entry: None,
                to,
                subject: subject.clone(),
                text: text.clone(),
                automatic: false,
                in_reply_to: None,
                attachments: vec![(
                    "invite.ics".into(),
                    format!("text/calendar; charset=utf-8; method={method}"),
                    calendar.clone().into_bytes(),
                )],
                html: None,
            },
        )?;
    }
    Ok(())
}

/// Books one of the proposed slots: only the other side may.
pub fn book(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    id: AppointmentId,
    slot: usize,
) -> Result<Step, UseCaseError> {
    let (_, actor) = author_of(who)?;
    let (kind, booker) = side(who)?;
    in_step(state, who, case_id, |conn, case| {
        let mut a = on_case(conn, case_id, id)?;
        if a.status != "proposed" {
            return Err(UseCaseError::Conflict(
                "this appointment is no longer open for booking",
            ));
        }
        if a.proposed_by.0 == kind {
            return Err(UseCaseError::Validation {
                field: "slot",
                message: if kind == "staff" {
                    "the client picks from the team's proposal".into()
                } else {
                    "the team picks from the client's proposal".into()
                },
            });
        }
        let chosen = *a
            .slots
            .get(slot)
            .ok_or_else(|| invalid("slot", format!("must be 0 to {}", a.slots.len() - 1)))?;
        if chosen.start < Utc::now() {
            return Err(invalid("slot", "this time has passed; ask for new times"));
        }
        a.status = "booked".into();
        a.booked = Some(chosen);
        a.booked_by = Some((kind.to_owned(), booker.clone()));
        a.booked_at = Some(Utc::now());
        if !appointment::save_from(conn, &a, "proposed")? {
            return Err(UseCaseError::Conflict(
                "this appointment is no longer open for booking",
            ));
        }
        let name = person_name(conn, who)?;
        let event = record_step(
            conn,
            case,
            actor,
            format!("{name} booked \"{}\" for {}.", a.title, describe(&chosen)),
            "appointment.booked",
            json!({"appointment_id": a.id.to_string(), "start": chosen.start, "end": chosen.end}),
        )?;
        send_invitations(conn, state, case, &a, false)?;
        Ok((a, Some(event)))
    })
}

/// Cancels a proposal or a booking (either side); a booking's attendees
/// get a cancellation for their calendars.
pub fn cancel(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    id: AppointmentId,
) -> Result<Step, UseCaseError> {
    let (_, actor) = author_of(who)?;
    in_step(state, who, case_id, |conn, case| {
        let mut a = on_case(conn, case_id, id)?;
        let before = a.status.clone();
        if before == "cancelled" {
            return Err(UseCaseError::Conflict(
                "this appointment is already cancelled",
            ));
        }
        a.status = "cancelled".into();
        a.cancelled_at = Some(Utc::now());
        if !appointment::save_from(conn, &a, &before)? {
            return Err(UseCaseError::Conflict(
                "this appointment changed meanwhile; reload it",
            ));
        }
        let name = person_name(conn, who)?;
        let event = record_step(
            conn,
            case,
            actor,
            format!("{name} cancelled \"{}\".", a.title),
            "appointment.cancelled",
            json!({"appointment_id": a.id.to_string(), "was": before}),
        )?;
        if before == "booked" {
            send_invitations(conn, state, case, &a, true)?;
        }
        Ok((a, Some(event)))
    })
}

/// A case's appointments, oldest first (whoever may read the case).
pub fn list(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
) -> Result<Vec<Appointment>, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    load(conn, state, who, case_id)?;
    Ok(appointment::for_case(conn, case_id)?)
}

/// An account's booked appointments, soonest first, limited to the cases
/// the caller may read.
pub fn for_account(
    state: &AppState,
    who: &Principal,
    account: rapport_domain::AccountId,
) -> Result<Vec<Appointment>, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    super::case::conversations_reader(who)?;
    super::account::readable(conn, state, who, account)?;
    let only = super::case::readable_cases(conn, state, who, account)?;
    Ok(appointment::booked_for_account(conn, account)?
        .into_iter()
        .filter(|a| only.as_ref().is_none_or(|cases| cases.contains(&a.case_id)))
        .collect())
}

/// A booked appointment's invitation, for whoever may read the case.
pub fn calendar_file(
    state: &AppState,
    who: &Principal,
    case_id: CaseId,
    id: AppointmentId,
) -> Result<String, UseCaseError> {
    let conn = &mut *state.store.conn()?;
    let case = load(conn, state, who, case_id)?.case;
    let a = on_case(conn, case_id, id)?;
    if a.status != "booked" {
        return Err(UseCaseError::Conflict(
            "only a booked appointment has a calendar entry",
        ));
    }
    let contacts = super::mail::case_recipients(conn, &case)?;
    let staff = staff_attendees(conn, &case, &a)?;
    let everyone: Vec<Mailbox> = contacts.into_iter().chain(staff).collect();
    Ok(ics(state, &case, &a, &everyone, false))
}
