//! Accounts: admins create and shape them; their team's agents, admins and
//! auditors read them; a contact reads their own.

use std::sync::Arc;

use rapport_audit::{Actor, ActorKind, StreamName};
use rapport_domain::{
    AccountId, Domain, LifecycleStage, Permission, Principal, StaffId, StaffRole, TeamId,
    authorize, can_read_account,
};
use rapport_store::DbConnection;
use rapport_store::account::{self, Account, AccountFields, AccountFilter};
use rapport_store::staff::Staff;
use rapport_store::team::Team;
use serde_json::{Map, Value, json};

use super::access::{account_access, agent_teams};
use super::input::{field, invalid, optional_text, text};
use super::{UseCaseError, changes, record};
use crate::changes::{Change, changed_fields};
use crate::state::AppState;

/// At most this many email domains per account.
const MAX_DOMAINS: usize = 50;

/// Fields of an account to set; absent ones keep their value (or default
/// on creation).
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub name: Option<String>,
    pub domains: Option<Vec<String>>,
    pub tier: Option<String>,
    pub lifecycle: Option<LifecycleStage>,
    pub team_id: Option<Option<TeamId>>,
    pub owner_id: Option<Option<StaffId>>,
    pub notes: Option<String>,
    pub custom_fields: Option<Map<String, Value>>,
    /// The account's id in the supplier's other systems; `Some(None)` clears it.
    pub external_id: Option<Option<String>>,
    /// Its parent company (the group it belongs to); `Some(None)` detaches it.
    pub parent_id: Option<Option<AccountId>>,
    /// Its dedicated team follows the parent's (true), or is its own.
    pub inherit_team: Option<bool>,
}

/// How deep a group may nest (group, subsidiary, its subsidiary...).
const MAX_GROUP_DEPTH: usize = 5;

/// An account with what its page shows.
#[derive(Debug, Clone)]
pub struct AccountDetail {
    pub account: Account,
    pub team: Option<Team>,
    /// The team's members, in team order, for names and avatars.
    pub team_members: Vec<Staff>,
    pub owner: Option<Staff>,
    pub contact_count: i64,
    /// The first contacts (up to [`DETAIL_CONTACTS`]); staff only, the rest
    /// via the contacts list.
    pub contacts: Vec<rapport_store::contact::Contact>,
}

/// Contacts shown with an account; larger accounts page through the rest.
pub const DETAIL_CONTACTS: i64 = 100;

pub(super) fn admin_actor(who: &Principal) -> Result<Actor, UseCaseError> {
    authorize(who, Permission::ManageAccounts).map_err(|_| UseCaseError::Forbidden)?;
    match who {
        Principal::Staff { id, .. } => Ok(Actor::new(ActorKind::Staff, id)?),
        Principal::Contact { .. } | Principal::ApiToken { .. } => Err(UseCaseError::Forbidden),
    }
}

fn resolve(
    conn: &mut DbConnection,
    state: &AppState,
    this: Option<AccountId>,
    input: &AccountInput,
    base: AccountFields,
) -> Result<AccountFields, UseCaseError> {
    let settings = &state.config.settings.accounts;
    let mut fields = base;
    if let Some(parent) = input.parent_id {
        if let Some(p) = parent {
            let found =
                account::find(conn, p)?.ok_or_else(|| invalid("parent_id", "no such account"))?;
            let above = account::ancestors(conn, &found)?;
            if Some(p) == this || this.is_some_and(|me| above.contains(&me)) {
                return Err(invalid(
                    "parent_id",
                    format!(
                        "{} is in this account's own group: a group cannot contain itself",
                        found.name
                    ),
                ));
            }
            let below = match this {
                Some(me) => max_depth_below(conn, me)?,
                None => 0,
            };
            if above.len() + 2 + below > MAX_GROUP_DEPTH {
                return Err(invalid(
                    "parent_id",
                    format!("groups nest at most {MAX_GROUP_DEPTH} levels deep"),
                ));
            }
        }
        fields.parent_id = parent;
        if parent.is_none() {
            fields.team_inherited = false;
        }
    }
    if let Some(inherit) = input.inherit_team {
        if inherit && input.team_id.is_some() {
            return Err(invalid(
                "inherit_team",
                "give either team_id or inherit_team, not both",
            ));
        }
        if inherit && fields.parent_id.is_none() {
            return Err(invalid(
                "inherit_team",
                "needs a parent_id: only a subsidiary inherits its group's team",
            ));
        }
        fields.team_inherited = inherit;
    }
    if let Some(name) = &input.name {
        fields.name = text("name", name, 200)?;
    }
    if let Some(domains) = &input.domains {
        if domains.len() > MAX_DOMAINS {
            return Err(invalid("domains", format!("at most {MAX_DOMAINS} domains")));
        }
        let mut parsed: Vec<Domain> = domains
            .iter()
            .map(|d| field("domains", Domain::parse(d)))
            .collect::<Result<_, _>>()?;
        parsed.sort();
        parsed.dedup();
        fields.domains = parsed;
    }
    if let Some(tier) = &input.tier {
        if !settings.tiers.contains(tier) {
            return Err(invalid(
                "tier",
                format!("must be one of: {}", settings.tiers.join(", ")),
            ));
        }
        fields.tier = tier.clone();
    }
    if let Some(stage) = input.lifecycle {
        fields.lifecycle = stage;
    }
    if let Some(team) = input.team_id {
        if let Some(id) = team
            && rapport_store::team::find(conn, id)?.is_none()
        {
            return Err(invalid("team_id", "no such team"));
        }
        fields.team_id = team;
        // A team chosen for the account is its own.
        fields.team_inherited = false;
    }
    if fields.team_inherited
        && let Some(parent) = fields.parent_id
    {
        fields.team_id = account::find(conn, parent)?.and_then(|p| p.team_id);
    }
    if let Some(owner) = input.owner_id {
        if let Some(id) = owner {
            match rapport_store::staff::find(conn, id)? {
                Some(s) if s.active && s.role != StaffRole::Auditor => {}
                _ => return Err(invalid("owner_id", "must be an active admin or agent")),
            }
        }
        fields.owner_id = owner;
    }
    if let Some(notes) = &input.notes {
        fields.notes = optional_text("notes", Some(notes), 20_000, true)?.unwrap_or_default();
    }
    if let Some(custom) = &input.custom_fields {
        let size = serde_json::to_string(custom)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > settings.custom_fields_max_bytes {
            return Err(invalid(
                "custom_fields",
                format!(
                    "is {size} bytes of JSON; the limit is {}",
                    settings.custom_fields_max_bytes
                ),
            ));
        }
        fields.custom_fields = custom.clone();
    }
    if let Some(external) = &input.external_id {
        fields.external_id = optional_text("external_id", external.as_deref(), 200, false)?;
    }
    Ok(fields)
}

fn snapshot(f: &AccountFields) -> Value {
    json!({
        "name": f.name,
        "domains": f.domains.iter().map(Domain::as_str).collect::<Vec<_>>(),
        "tier": f.tier,
        "lifecycle": f.lifecycle.as_str(),
        "team_id": f.team_id.map(|t| t.to_string()),
        "owner_id": f.owner_id.map(|o| o.to_string()),
        "notes": f.notes,
        "custom_fields": f.custom_fields,
        "external_id": f.external_id,
        "parent_id": f.parent_id.map(|p| p.to_string()),
        "team_inherited": f.team_inherited,
    })
}

/// How many levels of subsidiaries lie below `id`.
fn max_depth_below(conn: &mut DbConnection, id: AccountId) -> Result<usize, UseCaseError> {
    let mut deepest = 0;
    let mut level = vec![id];
    while !level.is_empty() && deepest <= MAX_GROUP_DEPTH {
        let mut next = Vec::new();
        for a in level {
            next.extend(account::children(conn, a)?);
        }
        if next.is_empty() {
            break;
        }
        deepest += 1;
        level = next;
    }
    Ok(deepest)
}

/// Subsidiaries that inherit their team follow `parent`'s, all the way
/// down; each change is audited and committed like any other.
fn pass_team_down(
    conn: &mut DbConnection,
    actor: &Actor,
    parent: &Account,
    committed: &mut Vec<Change>,
) -> Result<(), UseCaseError> {
    for child in account::children(conn, parent.id)? {
        let Some(current) = account::find(conn, child)? else {
            continue;
        };
        if !current.team_inherited || current.team_id == parent.team_id {
            continue;
        }
        let before = fields_of(&current);
        let fields = AccountFields {
            team_id: parent.team_id,
            ..before.clone()
        };
        let updated = account::update(conn, &current, &fields)?;
        if let Some(data) = changes(&snapshot(&before), &snapshot(&fields)) {
            record(
                conn,
                StreamName::account(child),
                actor.clone(),
                "account.updated",
                ("account", Some(&child.to_string())),
                json!({"before": data["before"], "after": data["after"], "via": "team inherited from the parent company"}),
            )?;
            committed.push(Change::AccountChanged {
                account: updated.clone(),
                fields: changed_fields(&data),
            });
        }
        pass_team_down(conn, actor, &updated, committed)?;
    }
    Ok(())
}

fn fields_of(a: &Account) -> AccountFields {
    AccountFields {
        name: a.name.clone(),
        domains: a.domains.clone(),
        tier: a.tier.clone(),
        lifecycle: a.lifecycle,
        team_id: a.team_id,
        owner_id: a.owner_id,
        notes: a.notes.clone(),
        custom_fields: a.custom_fields.clone(),
        external_id: a.external_id.clone(),
        parent_id: a.parent_id,
        team_inherited: a.team_inherited,
    }
}

pub fn create(
    state: &AppState,
    who: &Principal,
    input: AccountInput,
) -> Result<Account, UseCaseError> {
    let actor = admin_actor(who)?;
    super::commit(state, |conn, changes| {
        create_in(conn, state, actor, &input, changes).map(|(created, _)| created)
    })
}

/// Creates an account in the caller's transaction; also returns what it
/// was created with, as the audit event records it.
pub(super) fn create_in(
    conn: &mut DbConnection,
    state: &AppState,
    actor: Actor,
    input: &AccountInput,
    committed: &mut Vec<Change>,
) -> Result<(Account, Value), UseCaseError> {
    let Some(name) = &input.name else {
        return Err(invalid("name", "is required"));
    };
    let base = AccountFields {
        name: text("name", name, 200)?,
        domains: Vec::new(),
        tier: state.config.settings.accounts.default_tier.clone(),
        lifecycle: LifecycleStage::Customer,
        team_id: None,
        owner_id: None,
        notes: String::new(),
        custom_fields: Map::new(),
        external_id: None,
        parent_id: None,
        team_inherited: false,
    };
    let fields = resolve(conn, state, None, input, base)?;
    let created = account::insert(conn, &fields)?;
    let after = snapshot(&fields);
    record(
        conn,
        StreamName::account(created.id),
        actor,
        "account.created",
        ("account", Some(&created.id.to_string())),
        json!({"after": after}),
    )?;
    committed.push(Change::AccountAdded(created.clone()));
    Ok((created, after))
}

pub fn update(
    state: &AppState,
    who: &Principal,
    id: AccountId,
    input: AccountInput,
) -> Result<Account, UseCaseError> {
    let actor = admin_actor(who)?;
    super::commit(state, |conn, changes| {
        update_in(conn, state, actor, id, &input, changes).map(|(updated, _)| updated)
    })
}

/// Changes an account in the caller's transaction; also returns what
/// changed (`{"before", "after"}`), `None` when nothing did.
pub(super) fn update_in(
    conn: &mut DbConnection,
    state: &AppState,
    actor: Actor,
    id: AccountId,
    input: &AccountInput,
    committed: &mut Vec<Change>,
) -> Result<(Account, Option<Value>), UseCaseError> {
    {
        let current = account::find(conn, id)?.ok_or(UseCaseError::NotFound("account"))?;
        let base = fields_of(&current);
        let before = snapshot(&base);
        let fields = resolve(conn, state, Some(id), input, base.clone())?;
        // Nothing to change: the row, and its `updated_at`, stay as they are.
        if fields == base {
            return Ok((current, None));
        }
        let updated = account::update(conn, &current, &fields)?;
        if updated.team_id != current.team_id {
            pass_team_down(conn, &actor, &updated, committed)?;
        }
        let changed = changes(&before, &snapshot(&fields));
        if let Some(data) = &changed {
            record(
                conn,
                StreamName::account(id),
                actor,
                "account.updated",
                ("account", Some(&id.to_string())),
                data.clone(),
            )?;
            committed.push(Change::AccountChanged {
                account: updated.clone(),
                fields: changed_fields(data),
            });
        }
        Ok((updated, changed))
    }
}

/// A page of the account list as `render` writes it, from memory when
/// nothing it shows changed since it was rendered (see
/// [`crate::read_cache`]). Agents see their teams' accounts only, unless
/// `accounts.agents_see_all`.
pub fn list_page(
    state: &AppState,
    who: &Principal,
    mut filter: AccountFilter,
    after: Option<AccountId>,
    limit: i64,
    render: impl FnOnce(&[Account]) -> Result<Vec<u8>, UseCaseError>,
) -> Result<Arc<Vec<u8>>, UseCaseError> {
    authorize(who, Permission::ListAccounts).map_err(|_| UseCaseError::Forbidden)?;
    if let Some(agent) = restricted_agent(state, who) {
        let teams = match state.reads.teams.get(&agent) {
            Ok(teams) => teams,
            Err(ticket) => {
                let loaded = rapport_store::team::teams_of(&mut *state.store.conn()?, agent)?;
                state.reads.teams.keep(ticket, agent, loaded)
            }
        };
        filter.only_teams = Some(teams.to_vec());
    }
    let key = page_key(&filter, after, limit);
    let ticket = match state.reads.account_pages.get(&key) {
        Ok(page) => return Ok(page),
        Err(ticket) => ticket,
    };
    let accounts = account::list(&mut *state.store.conn()?, &filter, after, limit)?;
    Ok(state
        .reads
        .account_pages
        .keep(ticket, key, render(&accounts)?))
}

/// The page of [`list_page`] when memory holds it: answered without a
/// database connection. `None` when it has to be read.
pub fn cached_page(
    state: &AppState,
    who: &Principal,
    mut filter: AccountFilter,
    after: Option<AccountId>,
    limit: i64,
) -> Option<Arc<Vec<u8>>> {
    authorize(who, Permission::ListAccounts).ok()?;
    if let Some(agent) = restricted_agent(state, who) {
        filter.only_teams = Some(state.reads.teams.get(&agent).ok()?.to_vec());
    }
    state
        .reads
        .account_pages
        .get(&page_key(&filter, after, limit))
        .ok()
}

/// The agent whose list shows their teams' accounts only.
fn restricted_agent(state: &AppState, who: &Principal) -> Option<StaffId> {
    match who {
        Principal::Staff {
            id,
            role: StaffRole::Agent,
        } if !state.config.settings.accounts.agents_see_all => Some(*id),
        _ => None,
    }
}

/// Pages differ by filter (the teams an agent sees included), cursor and size.
fn page_key(filter: &AccountFilter, after: Option<AccountId>, limit: i64) -> String {
    format!("{filter:?}|{after:?}|{limit}")
}

/// The account if the principal may read it; `NotFound` otherwise, so
/// that ids of other companies' accounts reveal nothing.
pub fn readable(
    conn: &mut DbConnection,
    state: &AppState,
    who: &Principal,
    id: AccountId,
) -> Result<Account, UseCaseError> {
    super::access::directory_reader(who)?;
    let account = account::find(conn, id)?.ok_or(UseCaseError::NotFound("account"))?;
    let teams = agent_teams(conn, who)?;
    let groups = super::access::contact_groups(conn, who, &account)?;
    let access = account_access(
        &account,
        &teams,
        &groups,
        state.config.settings.accounts.agents_see_all,
    );
    if can_read_account(who, &access) {
        Ok(account)
    } else {
        Err(UseCaseError::NotFound("account"))
    }
}

pub fn get(
    state: &AppState,
    who: &Principal,
    id: AccountId,
) -> Result<AccountDetail, UseCaseError> {
    let mut conn = state.store.conn()?;
    let account = readable(&mut conn, state, who, id)?;
    let team = rapport_store::team::find_if_any(&mut conn, account.team_id)?;
    let mut team_members = Vec::new();
    for member in team.iter().flat_map(|t| &t.members) {
        if let Some(s) = rapport_store::staff::find(&mut conn, member.staff_id)?
            && s.active
        {
            team_members.push(s);
        }
    }
    let owner = match account.owner_id {
        Some(o) => rapport_store::staff::find(&mut conn, o)?,
        None => None,
    };
    let contact_count = rapport_store::contact::count_for_account(&mut conn, id)?;
    let contacts = match who {
        Principal::Contact { .. } => Vec::new(),
        _ => rapport_store::contact::list_for_account(&mut conn, id, None, None, DETAIL_CONTACTS)?,
    };
    Ok(AccountDetail {
        contacts,
        account,
        team,
        team_members,
        owner,
        contact_count,
    })
}
