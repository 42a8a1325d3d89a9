//! Loading what authorization decisions need.

use rapport_domain::{AccountAccess, AccountId, Principal, StaffRole, TeamId};
use rapport_store::account::Account;
use rapport_store::{DbConnection, StoreError};

/// The teams of the principal when it is an agent (whose access depends on
/// them); empty otherwise, saving the query.
pub(crate) fn agent_teams(
    conn: &mut DbConnection,
    principal: &Principal,
) -> Result<Vec<TeamId>, StoreError> {
    match principal {
        Principal::Staff {
            id,
            role: StaffRole::Agent,
        } => rapport_store::team::teams_of(conn, *id),
        _ => Ok(Vec::new()),
    }
}

/// A token without the directory scope learns nothing of accounts and
/// contacts, not even whether an id exists: its scopes, not the id, decide.
pub(crate) fn directory_reader(principal: &Principal) -> Result<(), super::UseCaseError> {
    if matches!(principal, Principal::ApiToken { .. }) {
        rapport_domain::authorize(principal, rapport_domain::Permission::ListAccounts)
            .map_err(|_| super::UseCaseError::Forbidden)?;
    }
    Ok(())
}

/// What deciding access to `account` needs: `teams` are the caller's (an
/// agent's), `groups` the account's parent companies ([`groups_of`]).
pub(crate) fn account_access<'a>(
    account: &Account,
    teams: &'a [TeamId],
    groups: &'a [AccountId],
    agents_see_all: bool,
) -> AccountAccess<'a> {
    AccountAccess {
        account: account.id,
        team: account.team_id,
        agent_teams: teams,
        agents_see_all,
        groups,
    }
}

/// The principal a contact acts as, from their record as it is.
pub(crate) fn contact_principal(c: &rapport_store::contact::Contact) -> Principal {
    Principal::Contact {
        id: c.id,
        account: c.account_id,
        visibility: c.visibility,
        function: c.function,
    }
}

/// The parent companies of `account`, nearest first, when they can
/// matter: for a contact (staff access does not depend on groups). None,
/// without a query, for an account outside any group.
pub(crate) fn contact_groups(
    conn: &mut DbConnection,
    who: &Principal,
    account: &Account,
) -> Result<Vec<AccountId>, StoreError> {
    match who {
        Principal::Contact { .. } => rapport_store::account::ancestors(conn, account),
        _ => Ok(Vec::new()),
    }
}

/// The accounts whose cases a contact may read some of: their own, and
/// when they see more than their own cases, their company's subsidiaries.
pub(crate) fn contact_accounts(
    conn: &mut DbConnection,
    who: &Principal,
) -> Result<Vec<AccountId>, StoreError> {
    match who {
        Principal::Contact {
            account,
            visibility,
            ..
        } => {
            let mut out = vec![*account];
            if *visibility != rapport_domain::ContactVisibility::OwnCases {
                out.extend(rapport_store::account::descendants(conn, *account)?);
            }
            Ok(out)
        }
        _ => Ok(Vec::new()),
    }
}
