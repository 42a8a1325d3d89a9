//! Loading what authorization decisions need.

use rapport_domain::{AccountAccess, Principal, StaffRole, TeamId};
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

pub(crate) fn account_access<'a>(
    account: &Account,
    teams: &'a [TeamId],
    agents_see_all: bool,
) -> AccountAccess<'a> {
    AccountAccess {
        account: account.id,
        team: account.team_id,
        agent_teams: teams,
        agents_see_all,
    }
}
