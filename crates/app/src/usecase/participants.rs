//! The people of a case besides its opener: participants (CC) receive the
//! public replies by email and can answer. Staff who work the case add
//! and remove them; a contact who may read a case can follow it (add
//! themself) and stop. Participants are always contacts of the case's
//! account, so a reply never goes to an address the account does not
//! know; an address outside its contacts and domains becomes one of its
//! contacts only when staff confirm it.

use rapport_audit::{Actor, ActorKind};
use rapport_domain::{CaseId, ContactId, EmailAddress, PersonName, Principal, can_work_case};
use rapport_store::DbConnection;
use rapport_store::case as store_case;
use rapport_store::case::Case;
use rapport_store::contact::Contact;
use serde_json::json;

use super::UseCaseError;
use super::case::{Loaded, audit, load, thread_event};
use super::input::{field, invalid};
use crate::changes::Change;
use crate::state::AppState;

/// Whom to add.
#[derive(Debug, Clone)]
pub enum Whom {
    Contact(ContactId),
    /// By address, with a name for a new contact; `confirm_outside` says
    /// staff mean it when the address is outside the account's contacts
    /// and domains.
    Email {
        email: String,
        name: Option<String>,
        confirm_outside: bool,
    },
}

/// The participants of a case, as the caller may see them.
pub fn list(state: &AppState, who: &Principal, case: CaseId) -> Result<Vec<Contact>, UseCaseError> {
    let loaded = load(&mut *state.store.conn()?, state, who, case)?;
    super::evidence::record_auditor_read(state, who, "case_participants", &case.to_string())?;
    let conn = &mut *state.store.conn()?;
    let mut out = Vec::new();
    for id in &loaded.participants {
        if let Some(c) = rapport_store::contact::find(conn, *id)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// A contact principal as the contact's record says now; others as given.
fn as_now(conn: &mut DbConnection, who: &Principal) -> Result<Principal, UseCaseError> {
    match who {
        Principal::Contact { id, .. } => match rapport_store::contact::find(conn, *id)? {
            Some(c) if c.active && c.portal_access => Ok(super::access::contact_principal(&c)),
            _ => Err(UseCaseError::Forbidden),
        },
        other => Ok(*other),
    }
}

fn actor(who: &Principal) -> Result<Actor, UseCaseError> {
    match who {
        Principal::Staff { id, .. } => Ok(Actor::new(ActorKind::Staff, id)?),
        Principal::Contact { id, .. } => Ok(Actor::new(ActorKind::Contact, id)?),
        Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

/// Staff who work the case, or a contact acting on themself.
fn may_change(
    state: &AppState,
    who: &Principal,
    loaded: &Loaded,
    target: ContactId,
) -> Result<(), UseCaseError> {
    let allowed = match who {
        Principal::Contact { id, .. } => *id == target,
        _ => can_work_case(who, &loaded.access(who, state)),
    };
    if allowed {
        Ok(())
    } else {
        Err(UseCaseError::Forbidden)
    }
}

/// The contact `whom` names, creating one for a new address (inside the
/// account's domains, or outside them when confirmed).
fn resolve(
    conn: &mut DbConnection,
    loaded: &Loaded,
    whom: &Whom,
    actor: &Actor,
    committed: &mut Vec<Change>,
) -> Result<Contact, UseCaseError> {
    let account = &loaded.account;
    match whom {
        Whom::Contact(id) => match rapport_store::contact::find(conn, *id)? {
            Some(c) if c.account_id == account.id => Ok(c),
            _ => Err(invalid(
                "contact_id",
                format!("is not a contact of {}", account.name),
            )),
        },
        Whom::Email {
            email,
            name,
            confirm_outside,
        } => {
            let address = field("email", EmailAddress::parse(email))?;
            if let Some(c) = rapport_store::contact::find_by_email_in(conn, &address, account.id)? {
                return Ok(c);
            }
            let inside = account
                .domains
                .iter()
                .any(|d| address.as_str().ends_with(&format!("@{}", d.as_str())));
            if !inside && !confirm_outside {
                // A person of several companies (an outside accountant)
                // becomes a contact of this one too, with its own access.
                let elsewhere =
                    !rapport_store::contact::find_all_by_email(conn, &address)?.is_empty();
                return Err(invalid(
                    "confirm_outside",
                    if elsewhere {
                        format!(
                            "{address} is a contact of another company, not of {}: confirm to make them a contact of {} too, who receives this case's replies",
                            account.name, account.name
                        )
                    } else {
                        format!(
                            "{address} is outside {}'s contacts and domains: confirm to make them a contact of {} who receives this case's replies",
                            account.name, account.name
                        )
                    },
                ));
            }
            let name = match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(n) => field("name", PersonName::parse(n))?,
                None => PersonName::parse(address.as_str().split('@').next().unwrap_or(""))
                    .map_err(|e| invalid("name", e.to_string()))?,
            };
            let created = super::contact::insert_by_address(
                conn,
                account.id,
                name,
                &address,
                actor.clone(),
                "added to a case by staff",
                false,
                committed,
            )?;
            Ok(created)
        }
    }
}

/// Adds a participant; returns the case's participants as now.
pub fn add(
    state: &AppState,
    who: &Principal,
    case: CaseId,
    whom: Whom,
) -> Result<Vec<Contact>, UseCaseError> {
    let actor = actor(who)?;
    super::commit(state, |conn, committed| {
        store_case::lock_for_append(conn, case)?;
        // Following makes reading last: decided by the contact as they are
        // now, not as their session last said.
        let who = &as_now(conn, who)?;
        let loaded = load(conn, state, who, case)?;
        // A contact may only follow the case themself; a new address is
        // for staff to add.
        match &whom {
            Whom::Contact(id) => may_change(state, who, &loaded, *id)?,
            Whom::Email { .. } if !can_work_case(who, &loaded.access(who, state)) => {
                return Err(UseCaseError::Forbidden);
            }
            Whom::Email { .. } => {}
        }
        if loaded.case.merged_into_id.is_some() {
            return Err(invalid("case", "a merged case cannot change"));
        }
        let contact = resolve(conn, &loaded, &whom, &actor, committed)?;
        if !contact.active {
            return Err(invalid(
                "contact_id",
                format!("{} is deactivated", contact.name.as_str()),
            ));
        }
        let already = loaded.case.opened_by_contact_id == Some(contact.id)
            || loaded.participants.contains(&contact.id);
        if !already {
            store_case::add_participant(conn, case, contact.id)?;
            let text = match who {
                Principal::Contact { .. } => {
                    format!("{} follows the case by email.", contact.name.as_str())
                }
                _ => format!(
                    "{} was added to the case and receives its replies by email.",
                    contact.name.as_str()
                ),
            };
            announce(
                conn,
                &loaded.case,
                actor,
                "case.participant_added",
                json!({"contact_id": contact.id.to_string(), "email": contact.emails.first().map(EmailAddress::as_str)}),
                &text,
                committed,
            )?;
        }
        participants_of(conn, case)
    })
}

/// Removes a participant; returns the case's participants as now.
pub fn remove(
    state: &AppState,
    who: &Principal,
    case: CaseId,
    contact: ContactId,
) -> Result<Vec<Contact>, UseCaseError> {
    let actor = actor(who)?;
    super::commit(state, |conn, committed| {
        store_case::lock_for_append(conn, case)?;
        let loaded = load(conn, state, who, case)?;
        may_change(state, who, &loaded, contact)?;
        if !loaded.participants.contains(&contact) {
            return Err(UseCaseError::NotFound("participant"));
        }
        store_case::remove_participant(conn, case, contact)?;
        let name = rapport_store::contact::find(conn, contact)?
            .map(|c| c.name.as_str().to_owned())
            .unwrap_or_default();
        announce(
            conn,
            &loaded.case,
            actor,
            "case.participant_removed",
            json!({"contact_id": contact.to_string()}),
            &format!("{name} no longer receives this case's replies."),
            committed,
        )?;
        participants_of(conn, case)
    })
}

/// Says in the thread and the audit log who joined or left the case.
fn announce(
    conn: &mut DbConnection,
    case: &Case,
    actor: Actor,
    action: &str,
    data: serde_json::Value,
    text: &str,
    committed: &mut Vec<Change>,
) -> Result<(), UseCaseError> {
    let mut c = case.clone();
    let event = thread_event(conn, &mut c, text)?;
    audit(conn, &c, actor, action, data)?;
    store_case::save(conn, &c)?;
    committed.push(Change::EntryAdded(event));
    committed.push(Change::CaseChanged {
        case: c,
        fields: vec!["participants".into()],
    });
    Ok(())
}

fn participants_of(conn: &mut DbConnection, case: CaseId) -> Result<Vec<Contact>, UseCaseError> {
    let mut out = Vec::new();
    for id in store_case::participants(conn, case)? {
        if let Some(c) = rapport_store::contact::find(conn, id)? {
            out.push(c);
        }
    }
    Ok(out)
}
