//! Accounts (client companies) and their email domains.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{AccountId, Domain, LifecycleStage, StaffId, TeamId};
use serde_json::{Map, Value};

use crate::column::{JsonText, OptText, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{account_domains, accounts};
use crate::time::now_micros;

#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = accounts, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct AccountRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: AccountId,
    name: String,
    name_key: String,
    tier: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    lifecycle: LifecycleStage,
    #[diesel(deserialize_as = OptText<TeamId>, serialize_as = OptText<TeamId>)]
    team_id: Option<TeamId>,
    #[diesel(deserialize_as = OptText<StaffId>, serialize_as = OptText<StaffId>)]
    owner_id: Option<StaffId>,
    notes: String,
    #[diesel(deserialize_as = JsonText<Map<String, Value>>, serialize_as = JsonText<Map<String, Value>>)]
    custom_fields: Map<String, Value>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    updated_at: DateTime<Utc>,
    external_id: Option<String>,
    #[diesel(deserialize_as = OptText<AccountId>, serialize_as = OptText<AccountId>)]
    parent_id: Option<AccountId>,
    team_inherited: bool,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub domains: Vec<Domain>,
    pub tier: String,
    pub lifecycle: LifecycleStage,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<StaffId>,
    pub notes: String,
    pub custom_fields: Map<String, Value>,
    /// The account's id in the supplier's other systems (CRM, ERP).
    pub external_id: Option<String>,
    /// The group it belongs to: its parent company.
    pub parent_id: Option<AccountId>,
    /// Its dedicated team follows the parent's.
    pub team_inherited: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The editable fields of an account, all validated by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountFields {
    pub name: String,
    pub domains: Vec<Domain>,
    pub tier: String,
    pub lifecycle: LifecycleStage,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<StaffId>,
    pub notes: String,
    pub custom_fields: Map<String, Value>,
    pub external_id: Option<String>,
    pub parent_id: Option<AccountId>,
    pub team_inherited: bool,
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("accounts {id}: {what}"))
}

fn assemble(row: AccountRow, domains: Vec<String>) -> Result<Account, StoreError> {
    Ok(Account {
        domains: domains
            .iter()
            .map(|d| Domain::parse(d).map_err(|_| corrupt(&row.id.to_string(), "domain")))
            .collect::<Result<_, _>>()?,
        id: row.id,
        name: row.name,
        tier: row.tier,
        lifecycle: row.lifecycle,
        team_id: row.team_id,
        owner_id: row.owner_id,
        notes: row.notes,
        custom_fields: row.custom_fields,
        external_id: row.external_id,
        parent_id: row.parent_id,
        team_inherited: row.team_inherited,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The only unique column of the row itself is the external id.
fn external_id_taken(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict("another account already has this external id")
        }
        other => other.into(),
    }
}

fn write_domains(conn: &mut DbConnection, id: &str, domains: &[Domain]) -> Result<(), StoreError> {
    diesel::delete(account_domains::table.filter(account_domains::account_id.eq(id)))
        .execute(conn)?;
    for domain in domains {
        match diesel::insert_into(account_domains::table)
            .values((
                account_domains::domain.eq(domain.as_str()),
                account_domains::account_id.eq(id),
            ))
            .execute(conn)
        {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(StoreError::Conflict(
                    "an email domain of this account already belongs to another account",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn row(id: AccountId, fields: &AccountFields, created_at: DateTime<Utc>) -> AccountRow {
    AccountRow {
        id,
        name: fields.name.clone(),
        name_key: fields.name.to_lowercase(),
        tier: fields.tier.clone(),
        lifecycle: fields.lifecycle,
        team_id: fields.team_id,
        owner_id: fields.owner_id,
        notes: fields.notes.clone(),
        custom_fields: fields.custom_fields.clone(),
        created_at,
        updated_at: now_micros().and_utc(),
        external_id: fields.external_id.clone(),
        parent_id: fields.parent_id,
        team_inherited: fields.team_inherited,
    }
}

/// Creates an account; a domain already used by another account is a `Conflict`.
pub fn insert(conn: &mut DbConnection, fields: &AccountFields) -> Result<Account, StoreError> {
    let id = AccountId::new();
    diesel::insert_into(accounts::table)
        .values(row(id, fields, now_micros().and_utc()))
        .execute(conn)
        .map_err(external_id_taken)?;
    write_domains(conn, &id.to_string(), &fields.domains)?;
    find(conn, id)?.ok_or(StoreError::NotFound("account"))
}

/// Replaces the editable fields.
pub fn update(
    conn: &mut DbConnection,
    existing: &Account,
    fields: &AccountFields,
) -> Result<Account, StoreError> {
    let id = existing.id.to_string();
    diesel::update(accounts::table.find(&id))
        .set(row(existing.id, fields, existing.created_at))
        .execute(conn)
        .map_err(external_id_taken)?;
    if existing.domains != fields.domains {
        write_domains(conn, &id, &fields.domains)?;
    }
    find(conn, existing.id)?.ok_or(StoreError::NotFound("account"))
}

pub fn find(conn: &mut DbConnection, id: AccountId) -> Result<Option<Account>, StoreError> {
    let Some(row) = accounts::table
        .find(id.to_string())
        .select(AccountRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let domains = account_domains::table
        .filter(account_domains::account_id.eq(row.id.to_string()))
        .order(account_domains::domain.asc())
        .select(account_domains::domain)
        .load(conn)?;
    assemble(row, domains).map(Some)
}

/// The accounts whose parent is `id`.
pub fn children(conn: &mut DbConnection, id: AccountId) -> Result<Vec<AccountId>, StoreError> {
    accounts::table
        .filter(accounts::parent_id.eq(id.to_string()))
        .order(accounts::id.asc())
        .select(accounts::id)
        .load::<String>(conn)?
        .into_iter()
        .map(|a| Ok(AccountId::try_from(a)?))
        .collect()
}

/// Every account below `id` in its group (subsidiaries, theirs...),
/// nearest first.
pub fn descendants(conn: &mut DbConnection, id: AccountId) -> Result<Vec<AccountId>, StoreError> {
    let mut out: Vec<AccountId> = Vec::new();
    let mut next = vec![id];
    while let Some(a) = next.pop() {
        for child in children(conn, a)? {
            // A cycle cannot be stored (the use case refuses it); the
            // check keeps a damaged row from looping forever.
            if child != id && !out.contains(&child) {
                out.push(child);
                next.push(child);
            }
        }
    }
    Ok(out)
}

/// The accounts above `account` in its group, its parent first.
pub fn ancestors(conn: &mut DbConnection, account: &Account) -> Result<Vec<AccountId>, StoreError> {
    let mut out = Vec::new();
    let mut parent = account.parent_id;
    while let Some(p) = parent {
        if p == account.id || out.contains(&p) {
            break;
        }
        out.push(p);
        parent = accounts::table
            .find(p.to_string())
            .select(accounts::parent_id)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten()
            .map(AccountId::try_from)
            .transpose()?;
    }
    Ok(out)
}

/// The account with exactly this name.
pub fn find_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Account>, StoreError> {
    let id: Option<String> = accounts::table
        .filter(accounts::name.eq(name))
        .select(accounts::id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => find(conn, AccountId::try_from(id)?),
        None => Ok(None),
    }
}

/// The account that owns `domain`, for placing unknown senders.
pub fn find_by_domain(
    conn: &mut DbConnection,
    domain: &str,
) -> Result<Option<AccountId>, StoreError> {
    account_domains::table
        .find(domain.to_lowercase())
        .select(account_domains::account_id)
        .first::<String>(conn)
        .optional()?
        .map(AccountId::try_from)
        .transpose()
        .map_err(StoreError::from)
}

/// Which accounts a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Part of the name or of a domain, case-insensitive.
    pub search: Option<String>,
    pub tier: Option<String>,
    pub lifecycle: Option<LifecycleStage>,
    pub team_id: Option<TeamId>,
    pub owner_id: Option<StaffId>,
    /// Restrict to accounts served by these teams (an agent's view).
    pub only_teams: Option<Vec<TeamId>>,
    /// The account with this id in the supplier's other systems.
    pub external_id: Option<String>,
    /// The subsidiaries of this account.
    pub parent_id: Option<AccountId>,
}

/// `%text%` for LIKE, with the wildcard characters of `text` escaped.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The names of these accounts, in one query (missing ids are left out).
pub fn names(
    conn: &mut DbConnection,
    ids: &[AccountId],
) -> Result<Vec<(AccountId, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String)> = accounts::table
        .filter(accounts::id.eq_any(ids.iter().map(ToString::to_string)))
        .select((accounts::id, accounts::name))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, name)| Ok((id.parse()?, name)))
        .collect()
}

/// A page of accounts in creation order, after `after`.
pub fn list(
    conn: &mut DbConnection,
    filter: &AccountFilter,
    after: Option<AccountId>,
    limit: i64,
) -> Result<Vec<Account>, StoreError> {
    let mut q = accounts::table.select(AccountRow::as_select()).into_boxed();
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search);
        let by_domain = account_domains::table
            .filter(account_domains::domain.like(pattern.clone()).escape('\\'))
            .select(account_domains::account_id);
        q = q.filter(
            accounts::name_key
                .like(pattern)
                .escape('\\')
                .or(accounts::id.eq_any(by_domain)),
        );
    }
    if let Some(tier) = &filter.tier {
        q = q.filter(accounts::tier.eq(tier.clone()));
    }
    if let Some(stage) = filter.lifecycle {
        q = q.filter(accounts::lifecycle.eq(stage.as_str()));
    }
    if let Some(team) = filter.team_id {
        q = q.filter(accounts::team_id.eq(team.to_string()));
    }
    if let Some(owner) = filter.owner_id {
        q = q.filter(accounts::owner_id.eq(owner.to_string()));
    }
    if let Some(teams) = &filter.only_teams {
        q = q.filter(
            accounts::team_id.eq_any(teams.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
        );
    }
    if let Some(parent) = filter.parent_id {
        q = q.filter(accounts::parent_id.eq(parent.to_string()));
    }
    if let Some(external) = &filter.external_id {
        q = q.filter(accounts::external_id.eq(external.clone()));
    }
    if let Some(after) = after {
        q = q.filter(accounts::id.gt(after.to_string()));
    }
    let rows: Vec<AccountRow> = q.order(accounts::id.asc()).limit(limit).load(conn)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let domains: Vec<(String, String)> = if ids.is_empty() {
        Vec::new()
    } else {
        account_domains::table
            .filter(account_domains::account_id.eq_any(&ids))
            .order(account_domains::domain.asc())
            .select((account_domains::account_id, account_domains::domain))
            .load(conn)?
    };
    let mut by_account: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::with_capacity(rows.len());
    for (account, domain) in domains {
        by_account.entry(account).or_default().push(domain);
    }
    rows.into_iter()
        .map(|row| {
            let mine = by_account.remove(&row.id.to_string()).unwrap_or_default();
            assemble(row, mine)
        })
        .collect()
}
