//! Telling a client's people of the cases of their function: when a case
//! opens or is resolved in a category that concerns a contact's function,
//! contacts who see such cases (`function_cases` or `all_account_cases`)
//! and have not opted out hear of it, by an email each or a daily digest.
//! The opener and the participants already receive the case's mail and
//! are not told twice. Each email is queued in the transaction of the
//! event itself, and a digest claims what it carries in the transaction
//! that queues it: nothing is lost or sent twice, whichever node runs.

use chrono::{DateTime, Utc};
use rapport_domain::{CaseNotices, CaseStatus};
use rapport_mail::Mailbox;
use rapport_store::DbConnection;
use rapport_store::account::Account;
use rapport_store::case::{self as store_case, Case};
use rapport_store::contact::Contact;

use super::UseCaseError;
use super::mail::{Queued, enqueue};
use crate::state::AppState;

/// What happened to a case, as a notice tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaseEvent {
    Opened,
    Resolved,
}

impl CaseEvent {
    fn as_str(self) -> &'static str {
        match self {
            CaseEvent::Opened => "opened",
            CaseEvent::Resolved => "resolved",
        }
    }
}

/// The contacts `case` concerns by its category, of its account and of the
/// parent companies above it, who may read it and want to hear of it,
/// except the opener and the participants.
/// `account` is the case's, when the caller holds it already.
fn audience(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    account: Option<&Account>,
) -> Result<Vec<Contact>, UseCaseError> {
    let Some(category) = &case.category else {
        return Ok(Vec::new());
    };
    if !state.config.settings.cases.categories.contains(category) {
        return Ok(Vec::new());
    }
    let Some(mapping) = rapport_store::category::find(conn, category)? else {
        return Ok(Vec::new());
    };
    if mapping.functions.is_empty() {
        return Ok(Vec::new());
    }
    let participants = store_case::participants(conn, case.id)?;
    // The account's people, and those of its parent companies who read
    // down the group.
    let mut accounts = vec![case.account_id];
    let loaded;
    let account = match account {
        Some(a) if a.id == case.account_id => Some(a),
        _ => {
            loaded = rapport_store::account::find(conn, case.account_id)?;
            loaded.as_ref()
        }
    };
    if let Some(account) = account {
        accounts.extend(rapport_store::account::ancestors(conn, account)?);
    }
    let mut out = Vec::new();
    for account in accounts {
        out.extend(
            rapport_store::contact::concerned(conn, account, &mapping.functions)?
                .into_iter()
                .filter(|c| {
                    Some(c.id) != case.opened_by_contact_id
                        && !participants.contains(&c.id)
                        && !c.emails.is_empty()
                }),
        );
    }
    Ok(out)
}

fn mailbox(c: &Contact) -> Option<Mailbox> {
    c.emails.first().map(|a| Mailbox {
        name: Some(c.name.as_str().to_owned()),
        address: a.as_str().to_owned(),
    })
}

/// Who opened the case, in words.
fn opener_name(conn: &mut DbConnection, case: &Case) -> Result<String, UseCaseError> {
    if let Some(id) = case.opened_by_contact_id
        && let Some(c) = rapport_store::contact::find(conn, id)?
    {
        return Ok(c.name.as_str().to_owned());
    }
    if let Some(id) = case.opened_by_staff_id
        && let Some(s) = rapport_store::staff::find(conn, id)?
    {
        return Ok(format!("{} (support)", s.display_name.as_str()));
    }
    Ok("someone".into())
}

fn why_told(case: &Case, contact: &Contact) -> String {
    format!(
        "You receive this because {} cases concern {} at your company. You can choose a daily digest or no such emails in the portal, under \"Email about cases\".",
        case.category.as_deref().unwrap_or("these"),
        contact.function.as_str()
    )
}

/// Queues a notice (automatic: no one is expected to answer it, though a
/// reply to one about a case threads into it).
fn queue(
    conn: &mut DbConnection,
    state: &AppState,
    case: Option<&Case>,
    to: Mailbox,
    subject: String,
    text: String,
) -> Result<(), UseCaseError> {
    enqueue(
        conn,
        state,
        &Queued {
            kind: "case_notice",
            case,
            entry: None,
            to: vec![to],
            subject,
            text,
            automatic: true,
            in_reply_to: None,
            attachments: Vec::new(),
            html: None,
        },
    )?;
    Ok(())
}

/// Tells the audience of `case` that it opened or was resolved, in the
/// caller's transaction: an email each, or kept for the digest.
pub(super) fn inform(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    account: Option<&Account>,
    event: CaseEvent,
) -> Result<usize, UseCaseError> {
    let audience = audience(conn, state, case, account)?;
    tell(conn, state, case, event, &audience)
}

/// A case moved to another category now concerns other functions: those
/// it did not concern before hear of it as of a case opened; the others
/// heard already.
pub(super) fn inform_newly_concerned(
    conn: &mut DbConnection,
    state: &AppState,
    before: &Case,
    after: &Case,
) -> Result<usize, UseCaseError> {
    let told: Vec<_> = audience(conn, state, before, None)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut audience = audience(conn, state, after, None)?;
    audience.retain(|c| !told.contains(&c.id));
    tell(conn, state, after, CaseEvent::Opened, &audience)
}

fn tell(
    conn: &mut DbConnection,
    state: &AppState,
    case: &Case,
    event: CaseEvent,
    audience: &[Contact],
) -> Result<usize, UseCaseError> {
    if audience.is_empty() {
        return Ok(0);
    }
    let category = case.category.as_deref().unwrap_or_default();
    let line = match event {
        CaseEvent::Opened => format!(
            "{} opened a {category} case: #{} {}",
            opener_name(conn, case)?,
            case.number,
            case.subject
        ),
        CaseEvent::Resolved => {
            format!(
                "The {category} case #{} {} is resolved.",
                case.number, case.subject
            )
        }
    };
    let mut queued = 0;
    for contact in audience {
        match contact.case_notices {
            CaseNotices::Off => {}
            CaseNotices::Digest => {
                rapport_store::case_notice::add(conn, contact.id, case.id, event.as_str())?;
            }
            CaseNotices::Each => {
                let Some(to) = mailbox(contact) else { continue };
                let subject = match event {
                    CaseEvent::Opened => format!(
                        "{} New {category} case: {}",
                        rapport_mail::subject_tag(case.number),
                        case.subject
                    ),
                    CaseEvent::Resolved => format!(
                        "{} Resolved: {}",
                        rapport_mail::subject_tag(case.number),
                        case.subject
                    ),
                };
                let text = format!(
                    "{line}\n\nRead it in the portal: {}/portal\nReplying to this email adds your answer to the case.\n\n{}\n",
                    state.public_url(),
                    why_told(case, contact)
                );
                queue(conn, state, Some(case), to, subject, text)?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

/// Whether a status change resolves the case (from open to resolved or
/// closed).
pub(super) fn resolves(from: CaseStatus, to: CaseStatus) -> bool {
    from.is_open() && !to.is_open()
}

/// Mails every digest due at `now`: each contact whose oldest waiting
/// event is `cases.notice_digest_secs` old gets one email listing all of
/// them. Returns how many emails were queued.
pub fn send_due_digests(state: &AppState, now: DateTime<Utc>) -> Result<usize, UseCaseError> {
    let wait = chrono::Duration::seconds(
        i64::try_from(state.config.settings.cases.notice_digest_secs).unwrap_or(86_400),
    );
    let due = rapport_store::case_notice::due_contacts(&mut *state.store.conn()?, now - wait, 100)?;
    let mut queued = 0;
    for contact_id in due {
        let sent = state.store.write(|conn| -> Result<bool, UseCaseError> {
            let claimed = rapport_store::case_notice::claim(conn, contact_id)?;
            let Some(contact) = rapport_store::contact::find(conn, contact_id)? else {
                return Ok(false);
            };
            // Someone who since opted out, left or lost the right to see
            // these cases gets nothing; what was claimed is dropped.
            if claimed.is_empty()
                || !contact.active
                || contact.case_notices == CaseNotices::Off
                || contact.visibility == rapport_domain::ContactVisibility::OwnCases
            {
                return Ok(false);
            }
            let Some(to) = mailbox(&contact) else {
                return Ok(false);
            };
            let mut lines = Vec::new();
            let (mut opened, mut resolved) = (0, 0);
            // Only what they may read now: their function, visibility or a
            // category may have changed since the event.
            let reader = super::access::contact_principal(&contact);
            for p in &claimed {
                let case = match super::case::load(conn, state, &reader, p.case_id) {
                    Ok(loaded) => loaded.case,
                    Err(UseCaseError::NotFound(_)) => continue,
                    Err(e) => return Err(e),
                };
                let when = p.created_at.format("%d %b %H:%M UTC");
                if p.event == "opened" {
                    opened += 1;
                    lines.push(format!(
                        "- {when}: {} opened #{} {} ({})",
                        opener_name(conn, &case)?,
                        case.number,
                        case.subject,
                        case.category.as_deref().unwrap_or("no category")
                    ));
                } else {
                    resolved += 1;
                    lines.push(format!(
                        "- {when}: #{} {} was resolved",
                        case.number, case.subject
                    ));
                }
            }
            if lines.is_empty() {
                return Ok(false);
            }
            let mut counts = Vec::new();
            if opened > 0 {
                counts.push(format!("{opened} opened"));
            }
            if resolved > 0 {
                counts.push(format!("{resolved} resolved"));
            }
            let text = format!(
                "Cases of your function at your company since the last digest:\n\n{}\n\nRead them in the portal: {}/portal\n\nYou receive this digest because you chose it for cases that concern {}. You can choose an email for each case or no such emails in the portal, under \"Email about cases\".\n",
                lines.join("\n"),
                state.public_url(),
                contact.function.as_str()
            );
            queue(
                conn,
                state,
                None,
                to,
                format!("Your cases digest: {}", counts.join(", ")),
                text,
            )?;
            Ok(true)
        })?;
        if sent {
            queued += 1;
        }
    }
    if queued > 0 {
        state.mail.wake();
        tracing::info!(queued, "case digests mailed to contacts");
    }
    Ok(queued)
}

/// How long what a digest carried is kept (to look into a complaint).
const KEEP_SENT: chrono::Duration = chrono::Duration::days(30);

/// Forgets events digests carried more than 30 days before `now`.
pub fn forget_sent(state: &AppState, now: DateTime<Utc>) -> Result<usize, UseCaseError> {
    Ok(state
        .store
        .write(|conn| rapport_store::case_notice::forget_sent_before(conn, now - KEEP_SENT))?)
}
