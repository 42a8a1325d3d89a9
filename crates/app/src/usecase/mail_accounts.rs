//! Mail from a person who is a contact of several companies. A case
//! belongs to exactly one account, so the message decides which: the
//! company's own address it was written to, our reply it answers, or a
//! case it names that only one of their companies may read. Otherwise it
//! is held, and an automatic reply asks which company it is about, with
//! one link per company; following one files the message there.

use chrono::{Duration, Utc};
use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{AccountId, CaseId};
use rapport_mail::InboundMail;
use rapport_store::DbConnection;
use rapport_store::contact::Contact;
use rapport_store::mail::{self as store_mail, Inbound};
use rapport_store::mail_choice;
use serde_json::json;

use super::UseCaseError;
use crate::auth::token::{new_opaque_token, opaque_token_hash};
use crate::state::AppState;

/// Days a held message waits for its sender's choice.
const CHOICE_DAYS: i64 = 14;

/// An account's own address: mail written to it is about that account.
pub fn account_address(state: &AppState, account: AccountId) -> String {
    state
        .mail
        .tokens
        .account_address(&state.mail.address, &account.as_uuid().simple().to_string())
}

/// The contact among `members` the message is written as, when the
/// message says: the sender's earlier choice, the company's address, or a
/// case it threads into that one of the companies may read (its own
/// company's case first).
pub(super) fn membership_for(
    conn: &mut DbConnection,
    state: &AppState,
    id: &str,
    row: &Inbound,
    mail: &InboundMail,
    members: &[Contact],
) -> Result<Option<Contact>, UseCaseError> {
    if let Some(chosen) = mail_choice::chosen_for(conn, id)? {
        return Ok(members.iter().find(|m| m.id == chosen).cloned());
    }
    let mut readable = Vec::new();
    for m in members {
        let who = super::access::contact_principal(m);
        readable.extend(super::access::contact_accounts(conn, &who)?);
    }
    let threaded = super::mail::find_case(conn, state, row, mail, &readable, false)?;
    // Proof of having our mail (its reply address, its Message-ID) comes
    // first; then the company's own address; then weaker keys.
    let (strong, weak) = match threaded {
        Some((c, "reply address" | "In-Reply-To/References")) => (Some(c), None),
        Some((c, _)) => (None, Some(c)),
        None => (None, None),
    };
    if let Some(c) = strong {
        return reader_of(conn, state, members, &c);
    }
    let mut addresses: Vec<&str> = row.envelope_to.iter().map(String::as_str).collect();
    addresses.extend(mail.recipients().map(|m| m.address.as_str()));
    if let Some(hex) = state
        .mail
        .tokens
        .find_account(&state.mail.address, addresses)
        && let Ok(uuid) = uuid::Uuid::parse_str(&hex)
        && let Some(m) = members
            .iter()
            .find(|m| m.account_id == AccountId::from(uuid))
    {
        return Ok(Some(m.clone()));
    }
    match weak {
        Some(c) => reader_of(conn, state, members, &c),
        None => Ok(None),
    }
}

/// The contact among `members` who may read `case`, its own company's first.
fn reader_of(
    conn: &mut DbConnection,
    state: &AppState,
    members: &[Contact],
    case: &rapport_store::case::Case,
) -> Result<Option<Contact>, UseCaseError> {
    let mut ordered: Vec<&Contact> = members.iter().collect();
    ordered.sort_by_key(|m| m.account_id != case.account_id);
    for m in ordered {
        let who = super::access::contact_principal(m);
        if super::case::load(conn, state, &who, case.id).is_ok() {
            return Ok(Some(m.clone()));
        }
    }
    Ok(None)
}

/// Holds the message and asks its sender which company it is about: one
/// link per company, and each company's own address for next time.
/// Returns what the inbound log says. Rate-limited like acknowledgments,
/// so two auto-responders never loop.
pub(super) fn ask_which(
    conn: &mut DbConnection,
    state: &AppState,
    id: &str,
    mail: &InboundMail,
    members: &[Contact],
) -> Result<String, UseCaseError> {
    let named = super::memberships::by_account_name(conn, members.to_vec())?;
    let names = named
        .iter()
        .map(|(_, n)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let held = format!(
        "held: {} is a contact of {names}; nothing in the message says which",
        mail.from.address
    );
    // To the address that names the contacts, never to a Reply-To: a
    // forged message must not learn whom the person works for.
    let to = mail.from.clone();
    let per_hour = i64::from(state.config.settings.mail.acknowledgments_per_hour);
    if store_mail::acknowledgments_to_since(conn, &to.address, Utc::now() - Duration::hours(1))?
        >= per_hour
    {
        return Ok(format!("{held}; not asked (rate limit)"));
    }
    let expires = Utc::now() + Duration::days(CHOICE_DAYS);
    let mut links = String::new();
    let mut own_addresses = String::new();
    for (m, name) in &named {
        let token = new_opaque_token()
            .map_err(|e| UseCaseError::Internal(format!("no randomness: {e}")))?;
        mail_choice::insert(conn, &opaque_token_hash(&token), id, m.id, expires)?;
        links.push_str(&format!(
            "  {name}:\n  {}/mail/choose?token={token}\n\n",
            state.public_url()
        ));
        own_addresses.push_str(&format!(
            "  {name}: {}\n",
            account_address(state, m.account_id)
        ));
    }
    let first = named
        .first()
        .map(|(m, _)| m.name.as_str().split_whitespace().next().unwrap_or(""))
        .unwrap_or("");
    let subject = if mail.subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        mail.subject.chars().take(200).collect()
    };
    let text = format!(
        "Hello {first},\n\nwe received your message \"{subject}\". You are a contact of several companies with us ({names}), \
         and each case belongs to one of them. Which company is this message about? Follow its link and we file the message there:\n\n\
         {links}The links work for {CHOICE_DAYS} days; the first one followed decides.\n\n\
         Next time, write to the company's own address and your message is filed at once:\n\n{own_addresses}\n{desk}\n",
        desk = state.mail.from.name.clone().unwrap_or_default(),
    );
    super::mail::enqueue(
        conn,
        state,
        &super::mail::Queued {
            kind: "acknowledgment",
            case: None,
            entry: None,
            to: vec![to],
            subject: format!("Which company is this about? {subject}"),
            text,
            automatic: true,
            in_reply_to: mail.message_id.clone(),
            attachments: Vec::new(),
            html: None,
        },
    )?;
    state.mail.wake();
    Ok(format!("{held}; asked which by email"))
}

/// What a choice link offers, shown before it is followed; or, once one of
/// its message's links was, where the message went.
#[derive(Debug, Clone)]
pub struct Offer {
    pub account_name: String,
    pub subject: String,
    pub received_at: chrono::DateTime<Utc>,
    /// Filed already (by this link or another): the case and its company.
    pub filed: Option<(i64, String)>,
}

/// What following a link did.
#[derive(Debug, Clone)]
pub struct Filed {
    pub account_name: String,
    pub case_id: Option<CaseId>,
    pub case_number: Option<i64>,
    /// What became of the message, in words.
    pub outcome: String,
}

fn choice_account(
    conn: &mut DbConnection,
    contact: rapport_domain::ContactId,
) -> Result<(Contact, String), UseCaseError> {
    let c = rapport_store::contact::find(conn, contact)?.ok_or(UseCaseError::InvalidMailChoice)?;
    let name = rapport_store::account::find(conn, c.account_id)?
        .map(|a| a.name)
        .ok_or(UseCaseError::InvalidMailChoice)?;
    Ok((c, name))
}

/// The company a link files its message under, without following it (a
/// mail scanner that opens links must not decide for the person). A link
/// of a message filed already says where it went, so that opening the
/// email again explains itself.
pub fn offer(state: &AppState, token: &str) -> Result<Offer, UseCaseError> {
    let mut conn = state.store.conn()?;
    let hash = opaque_token_hash(token);
    let (choice, open) =
        mail_choice::find(&mut conn, &hash)?.ok_or(UseCaseError::InvalidMailChoice)?;
    let (_, account_name) = choice_account(&mut conn, choice.contact_id)?;
    let row = store_mail::find_inbound(&mut conn, &choice.inbound_id)?
        .ok_or(UseCaseError::InvalidMailChoice)?;
    let filed = match row.case_id {
        Some(id) if !open => {
            let case =
                rapport_store::case::find(&mut conn, id)?.ok_or(UseCaseError::InvalidMailChoice)?;
            let company = rapport_store::account::find(&mut conn, case.account_id)?
                .map(|a| a.name)
                .unwrap_or_default();
            Some((case.number, company))
        }
        _ => None,
    };
    if !(open && row.status == "quarantined") && filed.is_none() {
        return Err(UseCaseError::InvalidMailChoice);
    }
    let subject = super::mail::subject_of(&mut conn, state, &row).unwrap_or_default();
    Ok(Offer {
        account_name,
        subject,
        received_at: row.received_at,
        filed,
    })
}

/// Follows a link: the message is filed under its company, as that
/// company's contact, exactly as if it had said so itself. Every other
/// link of the message stops working.
pub fn choose(state: &AppState, token: &str) -> Result<Filed, UseCaseError> {
    let hash = opaque_token_hash(token);
    let (inbound_id, account_name) = state.store.write(|conn| {
        let choice = mail_choice::choose(conn, &hash)?.ok_or(UseCaseError::InvalidMailChoice)?;
        let (contact, account_name) = choice_account(conn, choice.contact_id)?;
        // A message an admin already processed again is not filed twice.
        if !store_mail::requeue(
            conn,
            &choice.inbound_id,
            &format!("filed under {account_name} by the sender's choice"),
        )? {
            return Err(UseCaseError::InvalidMailChoice);
        }
        super::record(
            conn,
            StreamName::account(contact.account_id),
            Actor::new(ActorKind::Contact, contact.id)?,
            "mail.account_chosen",
            ("inbound_mail", Some(&choice.inbound_id)),
            json!({"account_name": account_name}),
        )?;
        Ok::<_, UseCaseError>((choice.inbound_id, account_name))
    })?;
    let row = super::mail::process(state, &inbound_id)?;
    let case_number = match row.case_id {
        Some(id) => rapport_store::case::find(&mut *state.store.conn()?, id)?.map(|c| c.number),
        None => None,
    };
    Ok(Filed {
        account_name,
        case_id: row.case_id,
        case_number,
        outcome: row.outcome.unwrap_or_default(),
    })
}
