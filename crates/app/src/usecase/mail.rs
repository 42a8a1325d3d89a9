//! Email: the one inbound pipeline behind the three doors (LMTP, HTTP,
//! import) and the outbox every outgoing message goes through.
//!
//! Inbound: the raw bytes and their row are committed (small messages'
//! bytes in the database, larger ones spooled and fsynced first) before a
//! door says yes; the message is threaded into a case in the same
//! transaction, or, when threading fails, that transaction rolls back and
//! the row alone commits as `pending` for the worker. A crash at any point
//! and any redelivery leave exactly one thread entry. Outbound: a message
//! is built and queued in the transaction of the change that causes it.

use chrono::{Duration, Utc};
use rapport_audit::Actor;
use rapport_domain::{AccountId, CaseId, Channel, EmailAddress, EntryKind, PersonName, Principal};
use rapport_mail::{InboundMail, Mailbox, Noise, Outgoing};
use rapport_store::DbConnection;
use rapport_store::case::{self as store_case, Author, Case, Entry};
use rapport_store::contact::Contact;
use rapport_store::mail::{self as store_mail, EntryEmail, Inbound, NewInbound, NewOutbound};
use serde_json::json;

use super::UseCaseError;
use super::case::{self, Door, OpenCase};
use super::input::invalid;
use crate::attachment_files::{Receiving, Upload};
use crate::changes::Change;
use crate::config::UnknownSenders;
use crate::mail::transport::Transport;
use crate::mail::{original, spool};
use crate::state::AppState;

/// Whether the cases a message opens may be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledge {
    /// As configured (`mail.acknowledge_new_cases`), and for imports only
    /// mail of the last day.
    AsConfigured,
    /// Never (`rapport mail import --no-ack`).
    Never,
}

/// Checks the size and spools the bytes unless the database keeps them;
/// their SHA-256.
fn checked_and_spooled(state: &AppState, raw: &[u8]) -> Result<String, UseCaseError> {
    let max = state.config.settings.mail.max_message_bytes;
    if raw.len() > max {
        return Err(invalid(
            "message",
            format!(
                "is {} bytes; the limit is {max} (mail.max_message_bytes)",
                raw.len()
            ),
        ));
    }
    if raw.is_empty() {
        return Err(invalid("message", "is empty"));
    }
    let sha = spool::sha256(raw);
    // A row of these bytes has them already, unless an admin redacted them:
    // a redelivery must not bring them back.
    if !original::in_database(raw)
        && store_mail::find_by_sha256(&mut *state.store.conn()?, &sha)?.is_none()
    {
        spool::keep(&state.config.settings.data_dir, &sha, raw)
            .map_err(|e| UseCaseError::file("cannot spool the message", &e))?;
    }
    Ok(sha)
}

/// Receives, then processes at once. A processing failure leaves the
/// message pending for the worker; the door still succeeded.
pub fn ingest(
    state: &AppState,
    door: &str,
    envelope_from: Option<&str>,
    envelope_to: &[String],
    raw: &[u8],
) -> Result<(Inbound, bool), UseCaseError> {
    ingest_with(
        state,
        door,
        envelope_from,
        envelope_to,
        raw,
        Acknowledge::AsConfigured,
    )
}

/// [`ingest`], saying whether new cases may be acknowledged.
///
/// The row and the threading commit together, one commit instead of two.
/// When threading fails, that transaction rolls back and the row alone
/// commits as `pending` for the worker, so the door's yes stands either
/// way.
pub fn ingest_with(
    state: &AppState,
    door: &str,
    envelope_from: Option<&str>,
    envelope_to: &[String],
    raw: &[u8],
    acknowledge: Acknowledge,
) -> Result<(Inbound, bool), UseCaseError> {
    let sha = checked_and_spooled(state, raw)?;
    let parsed = rapport_mail::parse(raw);
    let message_id = parsed.as_ref().ok().and_then(|m| m.message_id.clone());
    let new_row = NewInbound {
        sha256: &sha,
        message_id: message_id.as_deref(),
        acknowledge: acknowledge == Acknowledge::AsConfigured,
        door,
        // `<>` as some doors spell it is the null sender too.
        envelope_from: envelope_from.map(|f| if f.trim() == "<>" { "" } else { f }),
        envelope_to,
        size: i64::try_from(raw.len()).unwrap_or(i64::MAX),
        original: original::in_database(raw).then_some(raw),
    };
    let decision = decide(state, parsed, new_row.envelope_from);
    let uploads = staged(state, &decision)?;
    let mut apply_failed = false;
    let result = super::commit(state, |conn, changes| {
        let (row, new) = store_mail::receive(conn, &new_row)?;
        if row.status != "pending" {
            return Ok((row, new, false));
        }
        // A message already waiting (an earlier delivery of the same bytes)
        // is judged as the worker would: on the envelope it came with.
        let earlier;
        let decision = if new {
            &decision
        } else {
            earlier = decide(
                state,
                rapport_mail::parse(raw),
                row.envelope_from.as_deref(),
            );
            &earlier
        };
        let applied = apply(conn, state, changes, (&row, new), decision, &uploads)
            .inspect_err(|_| apply_failed = true)?;
        Ok((applied.row, new, applied.posted.is_some()))
    });
    match &result {
        Ok((_, _, true)) => state.mail.wake(),
        _ => uploads.iter().for_each(Upload::discard),
    }
    let (row, new, _) = match result {
        Err(e) if apply_failed => {
            tracing::warn!(error = %e, sha256 = %sha, "received mail not processed yet; the worker retries");
            super::commit(state, |conn, _| {
                let (row, new) = store_mail::receive(conn, &new_row)?;
                Ok((row, new, false))
            })?
        }
        other => other?,
    };
    Ok((row, new))
}

/// Processes every pending message (after a crash, or a failure).
pub fn process_pending(state: &AppState) -> Result<usize, UseCaseError> {
    let ids = store_mail::pending_ids(&mut *state.store.conn()?, 100)?;
    let mut done = 0;
    for id in ids {
        match process(state, &id) {
            Ok(_) => done += 1,
            Err(e) => tracing::warn!(error = %e, inbound = %id, "processing received mail failed"),
        }
    }
    Ok(done)
}

/// What processing decided, before it is written.
enum Decision {
    Quarantine(String),
    Ignore(String),
    Bounce(rapport_mail::Bounce),
    Thread {
        mail: Box<InboundMail>,
        noise: Option<Noise>,
    },
}

/// Threads one received message (idempotent: a processed row is returned as it is).
pub fn process(state: &AppState, id: &str) -> Result<Inbound, UseCaseError> {
    // The reading connection goes back to the pool before the write takes one.
    let (row, raw) = {
        let mut conn = state.store.conn()?;
        let row = store_mail::find_inbound(&mut conn, id)?
            .ok_or(UseCaseError::NotFound("inbound message"))?;
        if row.status != "pending" {
            return Ok(row);
        }
        let raw = original_of(&mut conn, state, &row)?;
        (row, raw)
    };
    let decision = decide(
        state,
        rapport_mail::parse(&raw),
        row.envelope_from.as_deref(),
    );
    let uploads = staged(state, &decision)?;
    let result = super::commit(state, |conn, changes| {
        apply(conn, state, changes, (&row, false), &decision, &uploads)
    });
    match &result {
        Ok(Applied {
            posted: Some(_), ..
        }) => state.mail.wake(),
        _ => uploads.iter().for_each(Upload::discard),
    }
    Ok(result?.row)
}

/// What to do with a message, from its bytes alone.
fn decide(
    state: &AppState,
    parsed: Result<InboundMail, rapport_mail::ParseError>,
    envelope_from: Option<&str>,
) -> Decision {
    match parsed {
        Err(e) => Decision::Quarantine(format!("unreadable: {e}")),
        Ok(mail) => {
            let noise = rapport_mail::noise(&mail, &state.mail.domain).or_else(|| {
                (envelope_from.map(str::trim) == Some("")).then_some(Noise::EmptyEnvelopeSender)
            });
            if let Some(b) = mail.bounce.clone() {
                Decision::Bounce(b)
            } else if noise == Some(Noise::OwnMessage) {
                Decision::Ignore(Noise::OwnMessage.describe())
            } else {
                Decision::Thread {
                    mail: Box::new(mail),
                    noise,
                }
            }
        }
    }
}

/// The files a threaded message brings, staged before the transaction.
fn staged(state: &AppState, decision: &Decision) -> Result<Vec<Upload>, UseCaseError> {
    match decision {
        Decision::Thread { mail, .. } => stage_attachments(state, mail),
        _ => Ok(Vec::new()),
    }
}

/// What processing made of a received message.
struct Applied {
    /// The row as it is now.
    row: Inbound,
    /// The case entry, when the message was threaded.
    posted: Option<case::Posted>,
}

impl Applied {
    fn finished(row: Inbound) -> Applied {
        Applied { row, posted: None }
    }
}

/// Puts the message in the quarantine, saying why.
fn quarantined(conn: &mut DbConnection, id: &str, why: &str) -> Result<Applied, UseCaseError> {
    let row = store_mail::finish(conn, id, "quarantined", why, None, None)?;
    Ok(Applied::finished(row))
}

/// Carries out `decision` for the pending row, inside the caller's
/// transaction (`fresh`: the one that inserted the row).
fn apply(
    conn: &mut DbConnection,
    state: &AppState,
    changes: &mut Vec<Change>,
    (row, fresh): (&Inbound, bool),
    decision: &Decision,
    uploads: &[Upload],
) -> Result<Applied, UseCaseError> {
    let id = row.id.as_str();
    // Another node or a concurrent retry may have finished it, unless this
    // transaction has just written the row.
    if !fresh {
        store_mail::lock_inbound(conn, id)?;
        let Some(current) = store_mail::find_inbound(conn, id)? else {
            return Err(UseCaseError::NotFound("inbound message"));
        };
        if current.status != "pending" {
            return Ok(Applied::finished(current));
        }
    }
    let finished = match decision {
        Decision::Quarantine(why) => return quarantined(conn, id, why),
        Decision::Ignore(why) => store_mail::finish(conn, id, "ignored", why, None, None)?,
        Decision::Bounce(b) => {
            let outcome = bounced(conn, b)?;
            store_mail::finish(conn, id, "bounce", &outcome, None, None)?
        }
        Decision::Thread { mail, noise } => {
            if let Some(mid) = &mail.message_id
                && let Some(first) = store_mail::processed_with_message_id(conn, mid, id)?
            {
                store_mail::finish(
                    conn,
                    id,
                    "ignored",
                    &format!("duplicate of {} (same Message-ID)", first.id),
                    first.case_id,
                    first.entry_id,
                )?
            } else {
                let applied = thread(conn, state, changes, id, row, mail, noise.as_ref(), uploads)?;
                if let Some(p) = &applied.posted {
                    announce(changes, p);
                }
                return Ok(applied);
            }
        }
    };
    Ok(Applied::finished(finished))
}

/// The committed changes of an email threaded into a case: its entry, a
/// reopened case's status, and the team's notice of a client's message.
fn announce(changes: &mut Vec<Change>, p: &case::Posted) {
    changes.push(Change::EntryAdded(p.entry.clone()));
    if p.status_changed {
        changes.push(Change::CaseChanged {
            case: p.case.clone(),
            fields: vec!["status".into()],
        });
    }
    if matches!(p.entry.author, Author::Contact(_)) {
        changes.push(Change::StaffNotice(case::client_wrote_notice(p)));
    }
}

/// The subject of a received message, read from its original.
pub(super) fn subject_of(
    conn: &mut DbConnection,
    state: &AppState,
    row: &Inbound,
) -> Option<String> {
    let raw = original::read(conn, &state.config.settings.data_dir, &row.sha256)
        .ok()
        .flatten()?;
    rapport_mail::parse(&raw).ok().map(|m| m.subject)
}

/// The original bytes of a received message; `Redacted` when an admin
/// removed them with its thread entry.
fn original_of(
    conn: &mut DbConnection,
    state: &AppState,
    row: &Inbound,
) -> Result<Vec<u8>, UseCaseError> {
    if let Some(raw) = original::read(conn, &state.config.settings.data_dir, &row.sha256)? {
        return Ok(raw);
    }
    let redacted = match row.entry_id {
        Some(entry) => store_case::find_entry(conn, entry)?.and_then(|e| e.redacted_at),
        None => None,
    };
    Err(match redacted {
        Some(at) => UseCaseError::Redacted(at.date_naive().to_string()),
        None => UseCaseError::Internal(format!(
            "the original of received message {} is missing",
            row.id
        )),
    })
}

/// Writes attachments to temporary files before the transaction.
fn stage_attachments(state: &AppState, mail: &InboundMail) -> Result<Vec<Upload>, UseCaseError> {
    let io = |e: std::io::Error| UseCaseError::Internal(format!("cannot store an attachment: {e}"));
    let mut out = Vec::new();
    for a in &mail.attachments {
        let mut r = Receiving::start(&state.config.settings.data_dir).map_err(io)?;
        r.write(&a.data).map_err(io)?;
        out.push(r.finish(&a.filename).map_err(io)?);
    }
    // A message longer than the thread holds is shortened there; its whole
    // text, quoted history included, travels with it as a file the team
    // opens in one click.
    let visible = rapport_mail::split_reply(&mail.text).visible;
    if visible.chars().count() > state.config.settings.cases.max_message_chars {
        let mut r = Receiving::start(&state.config.settings.data_dir).map_err(io)?;
        r.write(mail.text.as_bytes()).map_err(io)?;
        out.push(r.finish(WHOLE_EMAIL_FILE).map_err(io)?);
    }
    Ok(out)
}

/// The file holding the whole text of an email shortened in the thread.
const WHOLE_EMAIL_FILE: &str = "whole-email.txt";

/// A delivery failure report: the outgoing message it is about is failed,
/// and the team sees it on the case.
fn bounced(conn: &mut DbConnection, b: &rapport_mail::Bounce) -> Result<String, UseCaseError> {
    let Some(original) = b.original_message_id.as_deref() else {
        return Ok("delivery report without the original Message-ID".into());
    };
    let Some(out) = store_mail::find_outbound_by_message_id(conn, original)? else {
        return Ok(format!(
            "delivery report about {original}, which we did not send"
        ));
    };
    let why = format!(
        "bounced{}{}",
        b.status
            .as_deref()
            .map(|s| format!(" ({s})"))
            .unwrap_or_default(),
        b.diagnostic
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    store_mail::mark_attempt_failed(conn, &out.id, &why, None)?;
    if let Some(case_id) = out.case_id
        && let Some(c) = store_case::find(conn, case_id)?
    {
        let to = b
            .recipient
            .clone()
            .unwrap_or_else(|| out.recipients.join(", "));
        store_case::insert_entry(
            conn,
            &c,
            EntryKind::Note,
            Author::System,
            &format!("Email to {to} could not be delivered: {why}"),
            None,
        )?;
        case::audit(
            conn,
            &c,
            Actor::system(),
            "mail.bounced",
            json!({"outbox_id": out.id, "message_id": original, "recipient": to, "status": b.status, "diagnostic": b.diagnostic}),
        )?;
    }
    Ok(format!("marked {original} failed: {why}"))
}

/// Who a message is from, among the contacts its address belongs to.
enum Sender {
    /// The one contact (`true`: created for this first message).
    Known(Contact, bool),
    /// A person who is a contact of several companies: which one they
    /// write for is decided by the message, or asked.
    Several(Vec<Contact>),
    /// Not taken: why.
    Refused(String),
}

fn sender_contact(
    conn: &mut DbConnection,
    state: &AppState,
    changes: &mut Vec<Change>,
    from: &Mailbox,
) -> Result<Sender, UseCaseError> {
    let Ok(address) = EmailAddress::parse(&from.address) else {
        return Ok(Sender::Refused(format!(
            "sender address `{}` is not valid",
            from.address
        )));
    };
    let all = rapport_store::contact::find_all_by_email(conn, &address)?;
    if !all.is_empty() {
        let mut active: Vec<Contact> = all.into_iter().filter(|c| c.active).collect();
        return Ok(match active.len() {
            0 => Sender::Refused(format!("sender {} is a deactivated contact", from.address)),
            1 => Sender::Known(active.remove(0), false),
            _ => Sender::Several(active),
        });
    }
    let domain = address.as_str().rsplit('@').next().unwrap_or("");
    let account = match rapport_store::account::find_by_domain(conn, domain)? {
        Some(id) => rapport_store::account::find(conn, id)?,
        None => None,
    };
    let account = match (account, state.config.settings.mail.unknown_senders) {
        (Some(a), _) => a,
        (None, UnknownSenders::Quarantine) => {
            return Ok(Sender::Refused(format!(
                "unknown sender {} (mail.unknown_senders = quarantine)",
                from.address
            )));
        }
        (None, UnknownSenders::Prospect) => prospect_account(conn, state, changes)?,
    };
    let name = from
        .name
        .as_deref()
        .and_then(|n| PersonName::parse(n).ok())
        .or_else(|| PersonName::parse(address.as_str().split('@').next().unwrap_or("")).ok())
        .ok_or_else(|| UseCaseError::Internal("no usable sender name".into()))?;
    // Not signed up for the portal: someone at the company has to vouch
    // for a contact who only wrote an email.
    let contact = super::contact::insert_by_address(
        conn,
        account.id,
        name,
        &address,
        Actor::system(),
        "inbound email",
        false,
        changes,
    )?;
    Ok(Sender::Known(contact, true))
}

fn prospect_account(
    conn: &mut DbConnection,
    state: &AppState,
    changes: &mut Vec<Change>,
) -> Result<rapport_store::account::Account, UseCaseError> {
    let name = state
        .config
        .settings
        .mail
        .prospect_account
        .trim()
        .to_owned();
    if let Some(a) = rapport_store::account::find_by_name(conn, &name)? {
        return Ok(a);
    }
    let account = rapport_store::account::insert(
        conn,
        &rapport_store::account::AccountFields {
            name,
            domains: Vec::new(),
            tier: "standard".into(),
            lifecycle: rapport_domain::LifecycleStage::Prospect,
            team_id: None,
            owner_id: None,
            notes:
                "Created for mail from senders no account knows (mail.unknown_senders = prospect)."
                    .into(),
            custom_fields: serde_json::Map::new(),
            external_id: None,
            parent_id: None,
            team_inherited: false,
        },
    )?;
    super::record(
        conn,
        rapport_audit::StreamName::account(account.id),
        Actor::system(),
        "account.created",
        ("account", Some(&account.id.to_string())),
        json!({"name": account.name, "via": "inbound email"}),
    )?;
    changes.push(Change::AccountAdded(account.clone()));
    Ok(account)
}

/// The case a message belongs to, by the threading rules in order, if it
/// belongs to the sender's account. `decided`: the message goes there, so
/// a wait for it as a late parent ends; false only to look.
pub(super) fn find_case(
    conn: &mut DbConnection,
    state: &AppState,
    row: &Inbound,
    mail: &InboundMail,
    accounts: &[AccountId],
    decided: bool,
) -> Result<Option<(Case, &'static str)>, UseCaseError> {
    let mut addresses: Vec<&str> = row.envelope_to.iter().map(String::as_str).collect();
    addresses.extend(mail.recipients().map(|m| m.address.as_str()));
    if let Some(n) = state.mail.tokens.find(&state.mail.address, addresses)
        && let Some(c) = store_case::find_by_number(conn, n)?
        && accounts.contains(&c.account_id)
    {
        return Ok(Some((c, "reply address")));
    }
    let mut ids = mail.in_reply_to.clone();
    ids.extend(mail.references.iter().rev().cloned());
    if let Some(id) = store_mail::case_of_message_ids(conn, &ids)?
        && let Some(c) = store_case::find(conn, id)?
        && accounts.contains(&c.account_id)
    {
        return Ok(Some((c, "In-Reply-To/References")));
    }
    // Outlook may drop both headers but keeps the index our mail started.
    if let Some(conversation) = mail
        .header("thread-index")
        .and_then(rapport_mail::thread_index::conversation)
        && let Some(c) = store_case::find(conn, CaseId::from(conversation))?
        && accounts.contains(&c.account_id)
    {
        return Ok(Some((c, "Thread-Index")));
    }
    // Mail is not delivered in order: a reply to this message came first.
    if let Some(mid) = &mail.message_id {
        for id in store_mail::cases_awaiting(conn, mid)? {
            if let Some(c) = store_case::find(conn, id)?
                && accounts.contains(&c.account_id)
            {
                if decided {
                    store_mail::stop_awaiting(conn, mid, id)?;
                }
                return Ok(Some((c, "a reply to it arrived first")));
            }
        }
    }
    if let Some(n) = rapport_mail::parse_subject_tag(&mail.subject)
        && let Some(c) = store_case::find_by_number(conn, n)?
        && accounts.contains(&c.account_id)
    {
        return Ok(Some((c, "subject tag")));
    }
    Ok(None)
}

#[allow(clippy::too_many_arguments)]
fn thread(
    conn: &mut DbConnection,
    state: &AppState,
    changes: &mut Vec<Change>,
    id: &str,
    row: &Inbound,
    mail: &InboundMail,
    noise: Option<&Noise>,
    uploads: &[Upload],
) -> Result<Applied, UseCaseError> {
    let (contact, first_mail) = match sender_contact(conn, state, changes, &mail.from)? {
        Sender::Known(c, first) => (c, first),
        Sender::Several(members) => {
            match super::mail_accounts::membership_for(conn, state, id, row, mail, &members)? {
                Some(c) => (c, false),
                None => {
                    let why = match noise.filter(|n| n.is_automatic()) {
                        Some(n) => format!("automatic, unthreaded: {}", n.describe()),
                        None => super::mail_accounts::ask_which(conn, state, id, mail, &members)?,
                    };
                    return quarantined(conn, id, &why);
                }
            }
        }
        Sender::Refused(why) => {
            return quarantined(conn, id, &why);
        }
    };
    let who = super::access::contact_principal(&contact);
    let reply = rapport_mail::split_reply(&mail.text);
    // The thread holds a message within the one limit of every door; the
    // whole email stays stored and one click away.
    let limit = state.config.settings.cases.max_message_chars;
    let body = if reply.visible.trim().is_empty() {
        if uploads.is_empty() {
            "(no text)".to_owned()
        } else {
            String::new()
        }
    } else if reply.visible.chars().count() > limit {
        const SHORTENED: &str =
            "\n\n[… shortened here: the whole email is attached as whole-email.txt]";
        let mut kept: String = reply
            .visible
            .chars()
            .take(limit.saturating_sub(SHORTENED.chars().count()))
            .collect();
        kept.push_str(SHORTENED);
        kept
    } else {
        reply.visible.clone()
    };
    // Their own company's cases, and the group's below it when they see
    // more than their own.
    let accounts = super::access::contact_accounts(conn, &who)?;
    let mut found = find_case(conn, state, row, mail, &accounts, true)?;
    // A subsidiary's case threads only when its group's contact may read it
    // by the group's rules: they never become one of its participants.
    if let Some((c, _)) = &found
        && c.account_id != contact.account_id
        && case::load(conn, state, &who, c.id).is_err()
    {
        found = None;
    }
    if let Some((c, "subject tag" | "Thread-Index" | "a reply to it arrived first")) = &found {
        // Case numbers are easy to guess and Outlook keeps the Thread-Index
        // on forwards: these never open a case to a contact who may not
        // read it (a reply address or our Message-ID is proof of having
        // received our mail; a tag or an index is not).
        let involved = c.opened_by_contact_id == Some(contact.id)
            || store_case::participants(conn, c.id)?.contains(&contact.id);
        let sees = match case::contact_scope(conn, state, &who)? {
            None => true,
            Some(scope) => {
                involved
                    || c.category
                        .as_ref()
                        .is_some_and(|k| scope.or_categories.contains(k))
            }
        };
        if !sees {
            found = None;
        }
    }
    let automatic = noise.is_some_and(Noise::is_automatic);
    if found.is_none() && automatic {
        // An automatic message that answers nothing of ours opens no case.
        let why = format!(
            "automatic, unthreaded: {}",
            noise.map(Noise::describe).unwrap_or_default()
        );
        return quarantined(conn, id, &why);
    }
    let (posted, how) = match found {
        Some((c, how)) => {
            // Whoever answers our email of the case takes part in it (of
            // their own company's cases: participants are the account's).
            if c.account_id == contact.account_id
                && c.opened_by_contact_id != Some(contact.id)
                && !store_case::participants(conn, c.id)?.contains(&contact.id)
            {
                store_case::add_participant(conn, c.id, contact.id)?;
            }
            (
                case::post_in(
                    conn,
                    state,
                    &who,
                    c.id,
                    EntryKind::EmailIn,
                    &body,
                    None,
                    uploads,
                    if automatic {
                        Door::AutomaticMail
                    } else {
                        Door::Mail
                    },
                )?,
                how,
            )
        }
        None => {
            let subject: String = if mail.subject.is_empty() {
                "(no subject)".to_owned()
            } else {
                mail.subject.chars().take(200).collect()
            };
            let (c, entry) = case::open_in(
                conn,
                state,
                &who,
                &OpenCase {
                    subject,
                    body: body.clone(),
                    channel: Some(Channel::Email),
                    ..OpenCase::default()
                },
            )?;
            let attachments = case::attach(conn, state, &entry, uploads)?;
            (
                case::Posted {
                    case: c,
                    entry,
                    duplicate: false,
                    attachments,
                    events: Vec::new(),
                    status_changed: false,
                    opened: true,
                },
                "new case",
            )
        }
    };
    // Contacts of the same account in Cc take part too.
    for cc in mail
        .recipients()
        .filter(|m| !rapport_mail::is_our_mailbox(&state.mail.address, &m.address))
    {
        if let Ok(addr) = EmailAddress::parse(&cc.address)
            && let Some(other) =
                rapport_store::contact::find_by_email_in(conn, &addr, posted.case.account_id)?
            && other.id != contact.id
            && posted.case.opened_by_contact_id != Some(other.id)
            && !store_case::participants(conn, posted.case.id)?.contains(&other.id)
        {
            store_case::add_participant(conn, posted.case.id, other.id)?;
        }
    }
    let message_id = mail
        .message_id
        .clone()
        .unwrap_or_else(|| format!("{}@inbound.{}", row.sha256, state.mail.domain));
    let recorded = store_mail::record_message_id(
        conn,
        &message_id,
        posted.case.id,
        Some(posted.entry.id),
        "in",
    )?;
    // Another copy of this email (other bytes, the same Message-ID) was
    // threaded and committed while this one was: the first one stays, and
    // this transaction rolls back, so the row goes to the worker, which
    // finds it a duplicate.
    if !recorded && store_mail::processed_with_message_id(conn, &message_id, id)?.is_some() {
        return Err(UseCaseError::Conflict(
            "another copy of this email was threaded at the same moment",
        ));
    }
    let mut parents = mail.in_reply_to.clone();
    parents.extend(mail.references.iter().rev().take(20).cloned());
    store_mail::await_parents(conn, &parents, posted.case.id)?;
    let addresses =
        |list: &[Mailbox]| -> Vec<String> { list.iter().map(|m| m.address.clone()).collect() };
    store_mail::insert_entry_email(
        conn,
        &EntryEmail {
            entry_id: posted.entry.id,
            inbound_id: Some(id.to_owned()),
            message_id,
            from_address: mail.from.address.clone(),
            to_addresses: addresses(&mail.to),
            cc_addresses: addresses(&mail.cc),
            subject: mail.subject.clone(),
            html: mail.html.clone(),
            collapsed: reply.collapsed,
            full_text: mail.text.clone(),
        },
    )?;
    let new_case = how == "new case";
    let mut outcome = format!("threaded into #{} by {how}", posted.case.number);
    if let Some(n) = noise {
        outcome.push_str(&format!("; not answered: {}", n.describe()));
    } else if new_case && only_prospect_knows(conn, state, &contact)? {
        outcome.push_str("; not acknowledged: the sender is not a contact of a client account");
    } else if new_case && !row.acknowledge {
        outcome.push_str("; not acknowledged: imported with --no-ack");
    } else if new_case
        && row.door == "import"
        && mail.date.is_none_or(|d| d < Utc::now() - Duration::days(1))
    {
        outcome.push_str("; not acknowledged: imported mail older than a day");
    } else if new_case && state.config.settings.mail.acknowledge_new_cases {
        match acknowledge(conn, state, &posted.case, &contact, mail, first_mail)? {
            Some(_) => outcome.push_str("; acknowledged"),
            None => outcome.push_str("; acknowledgment skipped (rate limit)"),
        }
    }
    let row = store_mail::finish(
        conn,
        id,
        "threaded",
        &outcome,
        Some(posted.case.id),
        Some(posted.entry.id),
    )?;
    Ok(Applied {
        row,
        posted: Some(posted),
    })
}

/// No automatic answer to someone only the prospect account knows: a
/// forged sender must not turn us into a source of backscatter.
fn only_prospect_knows(
    conn: &mut DbConnection,
    state: &AppState,
    contact: &Contact,
) -> Result<bool, UseCaseError> {
    let names = rapport_store::account::names(conn, &[contact.account_id])?;
    Ok(names
        .first()
        .is_none_or(|(_, name)| name == state.config.settings.mail.prospect_account.trim()))
}

/// The acknowledgment of a new case: its number and the promised first
/// response, rate-limited per address so two auto-responders never loop,
/// and for addresses never seen before (`first_mail`) per domain, so that
/// mail forged from made-up addresses at a client's domain cannot make us
/// send mail to all of them.
fn acknowledge(
    conn: &mut DbConnection,
    state: &AppState,
    c: &Case,
    contact: &Contact,
    mail: &InboundMail,
    first_mail: bool,
) -> Result<Option<String>, UseCaseError> {
    let to = mail.reply_to.clone().unwrap_or_else(|| mail.from.clone());
    let per_hour = i64::from(state.config.settings.mail.acknowledgments_per_hour);
    let hour_ago = Utc::now() - Duration::hours(1);
    if store_mail::acknowledgments_to_since(conn, &to.address, hour_ago)? >= per_hour {
        return Ok(None);
    }
    let domain = mail.from.address.rsplit('@').next().unwrap_or("");
    if first_mail
        && store_mail::acknowledgments_to_domain_since(conn, domain, hour_ago)? >= per_hour
    {
        return Ok(None);
    }
    let due = rapport_store::sla::for_case(conn, c.id)?
        .into_iter()
        .find(|k| k.clock == "first_response")
        .map(|k| k.due_at);
    let promise = match due {
        Some(d) => format!(
            "You will have our first answer by {} (UTC).",
            d.format("%A %-d %B %Y, %H:%M")
        ),
        None => "We will answer as soon as we can.".to_owned(),
    };
    let first = contact
        .name
        .as_str()
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned();
    let text = format!(
        "Hello {first},\n\nwe received your message and opened case #{number}: {subject}.\n{promise}\n\nReply to this email to add to the case; please keep [#{number}] in the subject.\n\n{desk}\n",
        number = c.number,
        subject = c.subject,
        desk = state.mail.from.name.clone().unwrap_or_default(),
    );
    let id = enqueue(
        conn,
        state,
        &Queued {
            kind: "acknowledgment",
            case: Some(c),
            entry: None,
            to: vec![to],
            subject: format!("{} {}", rapport_mail::subject_tag(c.number), c.subject),
            text,
            automatic: true,
            in_reply_to: mail.message_id.clone(),
            attachments: Vec::new(),
            html: None,
        },
    )?;
    Ok(Some(id))
}

/// A message to queue.
pub(crate) struct Queued<'a> {
    pub kind: &'a str,
    pub case: Option<&'a Case>,
    pub entry: Option<&'a Entry>,
    pub to: Vec<Mailbox>,
    pub subject: String,
    pub text: String,
    pub automatic: bool,
    pub in_reply_to: Option<String>,
    pub attachments: Vec<(String, String, Vec<u8>)>,
    /// The HTML part, when it is more than the text as paragraphs (a reply
    /// staff wrote in Markdown).
    pub html: Option<String>,
}

/// Builds and queues a message inside the caller's transaction; returns
/// its Message-ID. Mail about a case carries the case's reply address,
/// subject tag and References.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    state: &AppState,
    q: &Queued<'_>,
) -> Result<String, UseCaseError> {
    let message_id = rapport_mail::new_message_id(&state.mail.domain);
    let (reply_to, references) = match q.case {
        Some(c) => (
            Some(
                state
                    .mail
                    .tokens
                    .reply_address(&state.mail.address, c.number),
            ),
            store_mail::message_ids_of_case(conn, c.id, 20)?,
        ),
        None => (None, Vec::new()),
    };
    let in_reply_to = q.in_reply_to.clone().or_else(|| references.last().cloned());
    let raw = rapport_mail::build(&Outgoing {
        from: state.mail.from.clone(),
        reply_to,
        to: q.to.clone(),
        subject: q.subject.clone(),
        text: q.text.clone(),
        html: q
            .html
            .clone()
            .unwrap_or_else(|| rapport_mail::html_from_text(&q.text)),
        message_id: message_id.clone(),
        in_reply_to,
        references,
        thread_index: q
            .case
            .map(|c| rapport_mail::thread_index::start(c.id.as_uuid(), c.created_at)),
        automatic: q.automatic,
        attachments: q.attachments.clone(),
    })
    .map_err(|e| invalid("recipients", e.to_string()))?;
    let recipients: Vec<String> = q.to.iter().map(|m| m.address.clone()).collect();
    store_mail::enqueue(
        conn,
        &NewOutbound {
            kind: q.kind,
            case_id: q.case.map(|c| c.id),
            entry_id: q.entry.map(|e| e.id),
            message_id: &message_id,
            recipients: &recipients,
            subject: &q.subject,
            raw: &raw,
        },
    )?;
    if let Some(c) = q.case {
        store_mail::record_message_id(conn, &message_id, c.id, q.entry.map(|e| e.id), "out")?;
    }
    Ok(message_id)
}

/// The contacts an email about the case goes to: its opener and
/// participants who are active and have an address.
pub(crate) fn case_recipients(
    conn: &mut DbConnection,
    c: &Case,
) -> Result<Vec<Mailbox>, UseCaseError> {
    let mut ids: Vec<rapport_domain::ContactId> = c.opened_by_contact_id.into_iter().collect();
    ids.extend(store_case::participants(conn, c.id)?);
    let mut out = Vec::new();
    for id in ids {
        // Only the case's own account's people, whatever the participant
        // list holds: a reply never reaches another company.
        if let Some(contact) = rapport_store::contact::find(conn, id)?
            && contact.active
            && contact.account_id == c.account_id
            && let Some(addr) = contact.emails.first()
        {
            out.push(Mailbox {
                name: Some(contact.name.as_str().to_owned()),
                address: addr.as_str().to_owned(),
            });
        }
    }
    Ok(out)
}

/// An email reply from staff (an `email_out` entry, or a chat answer to
/// contacts who are not connected), queued with the entry.
pub(crate) fn enqueue_reply(
    conn: &mut DbConnection,
    state: &AppState,
    c: &Case,
    entry: &Entry,
    kind: &str,
    author_name: &str,
    attachments: &[rapport_store::attachment::Attachment],
) -> Result<Option<String>, UseCaseError> {
    let to = case_recipients(conn, c)?;
    if to.is_empty() {
        return Ok(None);
    }
    let mut files = Vec::new();
    for a in attachments {
        let path =
            crate::attachment_files::content_path(&state.config.settings.data_dir, &a.sha256);
        let bytes = std::fs::read(&path)
            .map_err(|e| UseCaseError::Internal(format!("attachment unreadable: {e}")))?;
        files.push((a.filename.clone(), a.content_type.clone(), bytes));
    }
    let signature = format!(
        "-- \n{author_name}\n{}",
        state.mail.from.name.clone().unwrap_or_default()
    );
    // What staff write by email is Markdown: the HTML part shows it
    // formatted; the text part keeps it as written, readable as it is.
    let html = matches!(kind, "reply" | "outreach").then(|| {
        rapport_mail::html_document(&format!(
            "{}{}",
            super::knowledge::render(&entry.body),
            rapport_mail::html_paragraphs(&signature)
        ))
    });
    let text = match kind {
        "outreach" => format!(
            "{}\n\n-- \n{author_name}\n{}\n\nAnswer by replying to this email, or in the portal: {}/portal\n",
            entry.body,
            state.mail.from.name.clone().unwrap_or_default(),
            state.public_url()
        ),
        _ => format!(
            "{}\n\n-- \n{author_name}\n{}\n",
            entry.body,
            state.mail.from.name.clone().unwrap_or_default()
        ),
    };
    let id = enqueue(
        conn,
        state,
        &Queued {
            kind,
            case: Some(c),
            entry: Some(entry),
            to,
            subject: format!("{} {}", rapport_mail::subject_tag(c.number), c.subject),
            text,
            automatic: false,
            in_reply_to: None,
            attachments: files,
            html,
        },
    )?;
    Ok(Some(id))
}

/// The chat answers a contact missed while away, in one email: each with
/// its author, in the order written. Queued in the caller's transaction.
pub(crate) fn enqueue_chat_digest(
    conn: &mut DbConnection,
    state: &AppState,
    c: &Case,
    answers: &[(String, Entry)],
) -> Result<Option<String>, UseCaseError> {
    let Some((_, last)) = answers.last() else {
        return Ok(None);
    };
    let to = case_recipients(conn, c)?;
    if to.is_empty() {
        return Ok(None);
    }
    let mut authors: Vec<&str> = Vec::new();
    for (name, _) in answers {
        if !authors.contains(&name.as_str()) {
            authors.push(name);
        }
    }
    let mut text = format!(
        "{} replied in your chat while you were away:\n",
        authors.join(", ")
    );
    for (name, e) in answers {
        text.push_str(&format!(
            "\n{name}, {}:\n{}\n",
            e.created_at.format("%-d %b %Y %H:%M UTC"),
            e.body
        ));
    }
    text.push_str(&format!(
        "\nAnswer by replying to this email, or in the portal: {}/portal\n",
        state.public_url()
    ));
    let id = enqueue(
        conn,
        state,
        &Queued {
            kind: "chat_reply",
            case: Some(c),
            entry: Some(last),
            to,
            subject: format!("{} {}", rapport_mail::subject_tag(c.number), c.subject),
            text,
            automatic: false,
            in_reply_to: None,
            attachments: Vec::new(),
            html: None,
        },
    )?;
    Ok(Some(id))
}

/// Mails every active administrator (an endpoint disabled, say), queued
/// in the caller's transaction.
pub(crate) fn alert_admins(
    conn: &mut DbConnection,
    state: &AppState,
    subject: &str,
    text: &str,
) -> Result<(), UseCaseError> {
    let to: Vec<Mailbox> = rapport_store::staff::list(conn, None, None, 1_000)?
        .into_iter()
        .filter(|s| s.active && s.role == rapport_domain::StaffRole::Admin)
        .map(|s| Mailbox {
            name: Some(s.display_name.as_str().to_owned()),
            address: s.email.as_str().to_owned(),
        })
        .collect();
    send_notice(conn, state, "admin_alert", to, subject, text)
}

/// An automatic message of the installation (no case), queued in the
/// caller's transaction; nothing when there is nobody to send it to.
fn send_notice(
    conn: &mut DbConnection,
    state: &AppState,
    kind: &'static str,
    to: Vec<Mailbox>,
    subject: &str,
    text: &str,
) -> Result<(), UseCaseError> {
    if to.is_empty() {
        return Ok(());
    }
    enqueue(
        conn,
        state,
        &Queued {
            kind,
            case: None,
            entry: None,
            to,
            subject: subject.to_owned(),
            text: text.to_owned(),
            automatic: true,
            in_reply_to: None,
            attachments: Vec::new(),
            html: None,
        },
    )?;
    state.mail.wake();
    Ok(())
}

/// Mails a new audit checkpoint to the configured witnesses, queued in the
/// checkpoint's transaction: its JSON line is what a witness file holds.
pub(crate) fn mail_checkpoint_witnesses(
    conn: &mut DbConnection,
    state: &AppState,
    tree_size: i64,
    line: &str,
) -> Result<(), UseCaseError> {
    let to: Vec<Mailbox> = state
        .config
        .settings
        .audit
        .witness_emails
        .iter()
        .map(|a| Mailbox {
            name: None,
            address: a.clone(),
        })
        .collect();
    let desk = &state.config.settings.instance.name;
    send_notice(
        conn,
        state,
        "audit_witness",
        to,
        &format!("{desk}: audit checkpoint of {tree_size} events"),
        &format!(
            "{desk} signed a checkpoint of its audit log: its first {tree_size} events have the Merkle root below.\n\n\
             Keep this line: appended to a file, it lets you check later that nobody rewrote that history,\n\
             with `rapport audit verify --witness FILE` on the server.\n\n{line}\n"
        ),
    )
}

/// An SLA warning or breach by email to the case's team (staff who are
/// active), queued with the mark.
pub(crate) fn alert_team(
    conn: &mut DbConnection,
    state: &AppState,
    c: &Case,
    text: &str,
) -> Result<(), UseCaseError> {
    let Some(team) = rapport_store::team::find_if_any(conn, c.team_id)? else {
        return Ok(());
    };
    let mut to = Vec::new();
    for m in &team.members {
        if let Some(s) = rapport_store::staff::find(conn, m.staff_id)?
            && s.active
        {
            to.push(Mailbox {
                name: Some(s.display_name.as_str().to_owned()),
                address: s.email.as_str().to_owned(),
            });
        }
    }
    if to.is_empty() {
        return Ok(());
    }
    let link = format!("{}/cases/{}", state.public_url(), c.id);
    enqueue(
        conn,
        state,
        &Queued {
            kind: "sla_alert",
            case: None,
            entry: None,
            to,
            subject: format!(
                "{} {}: {}",
                rapport_mail::subject_tag(c.number),
                text,
                c.subject
            ),
            text: format!(
                "{text}

Case #{}: {}
{link}
",
                c.number, c.subject
            ),
            automatic: true,
            in_reply_to: None,
            attachments: Vec::new(),
            html: None,
        },
    )?;
    Ok(())
}

/// A contact's sign-in link, queued in the caller's transaction. The
/// message's content is dropped from the outbox once sent.
pub(crate) fn enqueue_magic_link(
    conn: &mut DbConnection,
    state: &AppState,
    to: Mailbox,
    subject: &str,
    text: &str,
) -> Result<(), UseCaseError> {
    enqueue(
        conn,
        state,
        &Queued {
            kind: "magic_link",
            case: None,
            entry: None,
            to: vec![to],
            subject: subject.to_owned(),
            text: text.to_owned(),
            automatic: true,
            in_reply_to: None,
            attachments: Vec::new(),
            html: None,
        },
    )?;
    Ok(())
}

/// Sends what is due; several nodes never take the same message.
/// How long a reply's missing parent is waited for. Mail delayed in
/// transit arrives within days; a parent that shows up months later is
/// old history, not a message to join to the reply's case.
pub const AWAITED_PARENT_DAYS: i64 = 30;

/// Forgets the Message-IDs waited for longer than [`AWAITED_PARENT_DAYS`];
/// returns how many.
pub fn forget_stale_awaited_parents(
    state: &AppState,
    now: chrono::DateTime<Utc>,
) -> Result<usize, UseCaseError> {
    state.store.write(|conn| {
        Ok(store_mail::forget_awaited_parents_before(
            conn,
            now - Duration::days(AWAITED_PARENT_DAYS),
        )?)
    })
}

pub fn send_due(state: &AppState, transport: &Transport) -> Result<usize, UseCaseError> {
    let lease = Duration::seconds(
        i64::try_from(state.config.settings.mail.smtp_timeout_secs).unwrap_or(30) * 4,
    );
    let batch = state
        .store
        .write(|conn| Ok::<_, UseCaseError>(store_mail::claim_due(conn, 50, lease)?))?;
    let mut sent = 0;
    for m in batch {
        match transport.send(&state.mail.address, &m.recipients, &m.raw) {
            Ok(()) => {
                state.store.write(|conn| {
                    store_mail::mark_sent(conn, &m.id)?;
                    // A sign-in link is a secret: no copy stays once it left.
                    if m.kind == "magic_link" {
                        store_mail::forget_content(conn, &m.id)?;
                    }
                    Ok::<_, UseCaseError>(())
                })?;
                sent += 1;
            }
            Err(why) => failed_attempt(state, &m, &why)?,
        }
    }
    Ok(sent)
}

/// Schedules a retry with exponential backoff, or gives up and tells the team.
fn failed_attempt(
    state: &AppState,
    m: &store_mail::Outbound,
    why: &str,
) -> Result<(), UseCaseError> {
    let settings = &state.config.settings.mail;
    let attempt = u32::try_from(m.attempts).unwrap_or(0) + 1;
    let retry_at = (attempt < settings.max_attempts).then(|| {
        let wait = settings
            .retry_base_secs
            .saturating_mul(1u64 << (attempt - 1).min(20))
            .min(6 * 3600);
        Utc::now() + Duration::seconds(i64::try_from(wait).unwrap_or(6 * 3600))
    });
    tracing::warn!(outbox = %m.id, attempt, error = why, gave_up = retry_at.is_none(), "sending mail failed");
    state.store.write(|conn| {
        store_mail::mark_attempt_failed(conn, &m.id, why, retry_at)?;
        if retry_at.is_none()
            && let Some(case_id) = m.case_id
            && let Some(c) = store_case::find(conn, case_id)?
        {
            store_case::insert_entry(conn, &c, EntryKind::Note, Author::System, &format!("Email to {} could not be sent after {attempt} attempts: {why}", m.recipients.join(", ")), None)?;
            case::audit(conn, &c, Actor::system(), "mail.failed", json!({"outbox_id": m.id, "message_id": m.message_id, "attempts": attempt, "error": why}))?;
        }
        Ok::<_, UseCaseError>(())
    })
}

/// Admins: received mail by status (the quarantine is `quarantined`).
pub fn list_inbound(
    state: &AppState,
    who: &Principal,
    status: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Inbound>, UseCaseError> {
    require_admin(who)?;
    Ok(store_mail::list_inbound(
        &mut *state.store.conn()?,
        status,
        after,
        limit,
    )?)
}

/// Admins: the original bytes of a received message.
pub fn inbound_raw(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> Result<(Inbound, Vec<u8>), UseCaseError> {
    require_admin(who)?;
    let mut conn = state.store.conn()?;
    let row = store_mail::find_inbound(&mut conn, id)?
        .ok_or(UseCaseError::NotFound("inbound message"))?;
    let raw = original_of(&mut conn, state, &row)?;
    Ok((row, raw))
}

/// Admins: processes a quarantined message again (after fixing what held
/// it: a missing account domain, a contact to create).
/// Processes a quarantined message again. `as_contact`: a message held
/// because its sender is a contact of several companies is filed as this
/// one of their contacts (the sender's choice is then not waited for).
pub fn retry(
    state: &AppState,
    who: &Principal,
    id: &str,
    as_contact: Option<rapport_domain::ContactId>,
) -> Result<Inbound, UseCaseError> {
    require_admin(who)?;
    let (admin, _) = match who {
        Principal::Staff { id, role } => (*id, *role),
        _ => return Err(UseCaseError::Forbidden),
    };
    let requeued = state.store.write(|conn| {
        if store_mail::find_inbound(conn, id)?.is_none() {
            return Err(UseCaseError::NotFound("inbound message"));
        }
        if let Some(contact) = as_contact {
            if rapport_store::contact::find(conn, contact)?.is_none() {
                return Err(UseCaseError::NotFound("contact"));
            }
            rapport_store::mail_choice::choose_for(conn, id, contact)?;
        }
        let ok = store_mail::requeue(conn, id, "retry requested")?;
        if ok {
            super::record(
                conn,
                super::staff::stream(admin),
                Actor::new(rapport_audit::ActorKind::Staff, admin)?,
                "mail.retried",
                ("inbound_mail", Some(id)),
                json!({"as_contact": as_contact.map(|c| c.to_string())}),
            )?;
        }
        Ok::<_, UseCaseError>(ok)
    })?;
    if !requeued {
        return Err(UseCaseError::Conflict(
            "only quarantined messages can be retried",
        ));
    }
    process(state, id)
}

fn require_admin(who: &Principal) -> Result<(), UseCaseError> {
    match who {
        Principal::Staff {
            role: rapport_domain::StaffRole::Admin,
            ..
        } => Ok(()),
        _ => Err(UseCaseError::Forbidden),
    }
}

/// The outbox of a case for staff who may read it, or all of it for admins.
pub fn outbox(
    state: &AppState,
    who: &Principal,
    c: Option<CaseId>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<store_mail::Outbound>, UseCaseError> {
    match (who, c) {
        (_, Some(id)) => {
            case::get(state, who, id)?;
            if !matches!(who, Principal::Staff { .. }) {
                return Err(UseCaseError::Forbidden);
            }
        }
        (p, None) => require_admin(p)?,
    }
    Ok(store_mail::list_outbound(
        &mut *state.store.conn()?,
        c,
        status,
        limit,
    )?)
}
