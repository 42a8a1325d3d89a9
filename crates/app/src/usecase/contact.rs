//! Contacts: the account's team and admins manage them; staff who read
//! the account read them; a contact reads their own record.

use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{
    AccountId, CaseNotices, ContactFunction, ContactId, ContactVisibility, EmailAddress,
    PersonName, PreferredChannel, Principal, can_manage_contacts, can_read_contact,
};
use rapport_store::DbConnection;
use rapport_store::contact::{self, Contact, ContactFields};
use serde_json::{Value, json};

use super::access::{account_access, agent_teams};
use super::input::{field, invalid, optional_text, phone};
use super::{UseCaseError, changes, record};
use crate::changes::{Change, changed_fields};
use crate::state::AppState;

const MAX_EMAILS: usize = 10;

/// Fields of a contact to set; absent ones keep their value (or default on
/// creation).
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub name: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phone: Option<Option<String>>,
    pub function: Option<ContactFunction>,
    pub title: Option<Option<String>>,
    pub is_primary: Option<bool>,
    pub portal_access: Option<bool>,
    pub visibility: Option<ContactVisibility>,
    pub preferred_channel: Option<PreferredChannel>,
    pub active: Option<bool>,
    /// The person's id in the supplier's other systems; `Some(None)` clears it.
    pub external_id: Option<Option<String>>,
    /// How they hear of cases opened and resolved for their function.
    pub case_notices: Option<CaseNotices>,
}

fn staff_actor(who: &Principal) -> Result<Actor, UseCaseError> {
    match who {
        Principal::Staff { id, .. } => Ok(Actor::new(ActorKind::Staff, id)?),
        Principal::Contact { .. } | Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

fn resolve(input: &ContactInput, mut f: ContactFields) -> Result<ContactFields, UseCaseError> {
    if let Some(name) = &input.name {
        f.name = field("name", PersonName::parse(name))?;
    }
    if let Some(emails) = &input.emails {
        if emails.is_empty() || emails.len() > MAX_EMAILS {
            return Err(invalid(
                "emails",
                format!("must hold 1 to {MAX_EMAILS} addresses"),
            ));
        }
        let mut parsed: Vec<EmailAddress> = Vec::new();
        for e in emails {
            let address = field("emails", EmailAddress::parse(e))?;
            if !parsed.contains(&address) {
                parsed.push(address);
            }
        }
        f.emails = parsed;
    }
    if let Some(p) = &input.phone {
        f.phone = phone(p.as_deref())?;
    }
    if let Some(function) = input.function {
        f.function = function;
    }
    if let Some(title) = &input.title {
        f.title = optional_text("title", title.as_deref(), 100, false)?;
    }
    if let Some(v) = input.is_primary {
        f.is_primary = v;
    }
    if let Some(v) = input.portal_access {
        f.portal_access = v;
    }
    if let Some(v) = input.visibility {
        f.visibility = v;
    }
    if let Some(v) = input.preferred_channel {
        f.preferred_channel = v;
    }
    if let Some(v) = input.active {
        f.active = v;
    }
    if let Some(external) = &input.external_id {
        f.external_id = optional_text("external_id", external.as_deref(), 200, false)?;
    }
    if let Some(v) = input.case_notices {
        f.case_notices = v;
    }
    Ok(f)
}

fn snapshot(f: &ContactFields) -> Value {
    json!({
        "name": f.name.as_str(),
        "emails": f.emails.iter().map(EmailAddress::as_str).collect::<Vec<_>>(),
        "phone": f.phone,
        "function": f.function.as_str(),
        "title": f.title,
        "is_primary": f.is_primary,
        "portal_access": f.portal_access,
        "visibility": f.visibility.as_str(),
        "preferred_channel": f.preferred_channel.as_str(),
        "active": f.active,
        "external_id": f.external_id,
        "case_notices": f.case_notices.as_str(),
    })
}

fn fields_of(c: &Contact) -> ContactFields {
    ContactFields {
        name: c.name.clone(),
        emails: c.emails.clone(),
        phone: c.phone.clone(),
        function: c.function,
        title: c.title.clone(),
        is_primary: c.is_primary,
        portal_access: c.portal_access,
        visibility: c.visibility,
        preferred_channel: c.preferred_channel,
        active: c.active,
        external_id: c.external_id.clone(),
        case_notices: c.case_notices,
    }
}

/// Checks that `who` may manage the contacts of `account` (404 when they
/// may not even read it).
fn managed_account(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    account: AccountId,
) -> Result<(), UseCaseError> {
    let acc = super::account::readable(conn, state, who, account)?;
    let teams = agent_teams(conn, who)?;
    if can_manage_contacts(
        who,
        &account_access(
            &acc,
            &teams,
            &[],
            state.config.settings.accounts.agents_see_all,
        ),
    ) {
        Ok(())
    } else {
        Err(UseCaseError::Forbidden)
    }
}

pub fn create(
    state: &AppState,
    who: &Principal,
    account: AccountId,
    input: ContactInput,
) -> Result<Contact, UseCaseError> {
    super::commit(state, |conn, changes| {
        create_in(conn, state, who, account, &input, changes).map(|(created, _)| created)
    })
}

/// Creates a contact in the caller's transaction; also returns what it was
/// created with, as the audit event records it.
pub(super) fn create_in(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    account: AccountId,
    input: &ContactInput,
    committed: &mut Vec<Change>,
) -> Result<(Contact, Value), UseCaseError> {
    let Some(name) = &input.name else {
        return Err(invalid("name", "is required"));
    };
    if input.emails.as_ref().is_none_or(Vec::is_empty) {
        return Err(invalid("emails", "at least one address is required"));
    }
    let base = ContactFields {
        name: field("name", PersonName::parse(name))?,
        emails: Vec::new(),
        phone: None,
        function: ContactFunction::Other,
        title: None,
        is_primary: false,
        portal_access: true,
        visibility: ContactVisibility::OwnCases,
        preferred_channel: PreferredChannel::Email,
        active: true,
        external_id: None,
        case_notices: CaseNotices::Each,
    };
    let fields = resolve(input, base)?;
    managed_account(conn, state, who, account)?;
    let actor = staff_actor(who)?;
    let created = contact::insert(conn, account, &fields)?;
    let after = snapshot(&fields);
    record(
        conn,
        StreamName::account(account),
        actor,
        "contact.created",
        ("contact", Some(&created.id.to_string())),
        json!({"after": after}),
    )?;
    committed.push(Change::ContactAdded(created.clone()));
    Ok((created, after))
}

pub fn update(
    state: &AppState,
    who: &Principal,
    id: ContactId,
    input: ContactInput,
) -> Result<Contact, UseCaseError> {
    super::commit(state, |conn, changes| {
        update_in(conn, state, who, id, &input, changes).map(|(updated, _)| updated)
    })
}

/// Changes a contact in the caller's transaction; also returns what
/// changed (`{"before", "after"}`), `None` when nothing did.
pub(super) fn update_in(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: ContactId,
    input: &ContactInput,
    committed: &mut Vec<Change>,
) -> Result<(Contact, Option<Value>), UseCaseError> {
    {
        let current = readable(conn, state, who, id)?;
        managed_account(conn, state, who, current.account_id)?;
        let actor = staff_actor(who)?;
        let before = fields_of(&current);
        let fields = resolve(input, before.clone())?;
        let updated = contact::update(conn, &current, &fields)?;
        // Less to see or no way in: the person signs in again, with what
        // they may now do (an access token lives at most minutes).
        if !updated.active
            || !updated.portal_access
            || updated.visibility != current.visibility
            || updated.function != current.function
        {
            rapport_store::session::revoke_subject(
                conn,
                rapport_store::session::SubjectKind::Contact,
                &id.to_string(),
            )?;
        }
        let changed = record_update(conn, actor, &before, &updated, committed)?;
        Ok((updated, changed))
    }
}

/// A contact known only by an address (someone who wrote in, or whom staff
/// copied on a case): no portal until someone opens it to them, their own
/// cases only. Records the creation as done by `actor` through `via`, and
/// commits it as a change (webhooks, other nodes).
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_by_address(
    conn: &mut DbConnection,
    account: AccountId,
    name: PersonName,
    address: &EmailAddress,
    actor: Actor,
    via: &str,
    verified: bool,
    committed: &mut Vec<Change>,
) -> Result<Contact, UseCaseError> {
    let created = contact::insert(
        conn,
        account,
        &ContactFields {
            name,
            emails: vec![address.clone()],
            phone: None,
            function: ContactFunction::Other,
            title: None,
            is_primary: false,
            portal_access: false,
            visibility: ContactVisibility::OwnCases,
            preferred_channel: PreferredChannel::Email,
            active: true,
            external_id: None,
            case_notices: CaseNotices::Each,
        },
    )?;
    record(
        conn,
        StreamName::account(account),
        actor,
        "contact.created",
        ("contact", Some(&created.id.to_string())),
        json!({"email": address.as_str(), "via": via, "verified": verified}),
    )?;
    committed.push(Change::ContactAdded(created.clone()));
    Ok(created)
}

/// Records what changed of a contact, if anything, and commits it as a change.
fn record_update(
    conn: &mut DbConnection,
    actor: Actor,
    before: &ContactFields,
    updated: &Contact,
    committed: &mut Vec<Change>,
) -> Result<Option<Value>, UseCaseError> {
    let changed = changes(&snapshot(before), &snapshot(&fields_of(updated)));
    if let Some(data) = &changed {
        record(
            conn,
            StreamName::account(updated.account_id),
            actor,
            "contact.updated",
            ("contact", Some(&updated.id.to_string())),
            data.clone(),
        )?;
        committed.push(Change::ContactChanged {
            contact: updated.clone(),
            fields: changed_fields(data),
        });
    }
    Ok(changed)
}

/// A contact chooses how they hear of cases opened and resolved in the
/// categories of their function.
pub fn set_own_case_notices(
    state: &AppState,
    who: &Principal,
    choice: CaseNotices,
) -> Result<Contact, UseCaseError> {
    let Principal::Contact { id, .. } = who else {
        return Err(UseCaseError::Forbidden);
    };
    super::commit(state, |conn, committed| {
        let current = contact::find(conn, *id)?.ok_or(UseCaseError::NotFound("contact"))?;
        let before = fields_of(&current);
        let fields = ContactFields {
            case_notices: choice,
            ..before.clone()
        };
        let updated = contact::update(conn, &current, &fields)?;
        record_update(
            conn,
            Actor::new(ActorKind::Contact, id)?,
            &before,
            &updated,
            committed,
        )?;
        Ok(updated)
    })
}

/// The contact if `who` may read it; `NotFound` otherwise.
fn readable(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: ContactId,
) -> Result<Contact, UseCaseError> {
    super::access::directory_reader(who)?;
    let found = contact::find(conn, id)?.ok_or(UseCaseError::NotFound("contact"))?;
    let account = rapport_store::account::find(conn, found.account_id)?
        .ok_or(UseCaseError::NotFound("contact"))?;
    let teams = agent_teams(conn, who)?;
    // A contact reads only their own record: groups do not matter.
    let access = account_access(
        &account,
        &teams,
        &[],
        state.config.settings.accounts.agents_see_all,
    );
    if can_read_contact(who, &access, id) {
        Ok(found)
    } else {
        Err(UseCaseError::NotFound("contact"))
    }
}

pub fn get(state: &AppState, who: &Principal, id: ContactId) -> Result<Contact, UseCaseError> {
    readable(&mut *state.store.conn()?, state, who, id)
}

/// The contacts of an account, for staff who may read it.
/// Contacts of every account the caller may read whose name or address
/// contains `search` (staff and directory tokens).
pub fn search(
    state: &AppState,
    who: &Principal,
    search: &str,
    limit: i64,
) -> Result<Vec<Contact>, UseCaseError> {
    rapport_domain::authorize(who, rapport_domain::Permission::ListAccounts)
        .map_err(|_| UseCaseError::Forbidden)?;
    let search = search.trim();
    if search.chars().count() < 2 || search.chars().count() > 100 {
        return Err(invalid("q", "must be 2 to 100 characters"));
    }
    let mut conn = state.store.conn()?;
    let served = match who {
        Principal::Staff {
            role: rapport_domain::StaffRole::Agent,
            ..
        } if !state.config.settings.accounts.agents_see_all => Some(agent_teams(&mut conn, who)?),
        _ => None,
    };
    Ok(contact::search(
        &mut conn,
        &search.to_lowercase(),
        served.as_deref(),
        limit,
    )?)
}

pub fn list(
    state: &AppState,
    who: &Principal,
    account: AccountId,
    search: Option<&str>,
    after: Option<ContactId>,
    limit: i64,
) -> Result<Vec<Contact>, UseCaseError> {
    let mut conn = state.store.conn()?;
    super::account::readable(&mut conn, state, who, account)?;
    if matches!(who, Principal::Contact { .. }) {
        return Err(UseCaseError::Forbidden);
    }
    Ok(contact::list_for_account(
        &mut conn, account, search, after, limit,
    )?)
}
