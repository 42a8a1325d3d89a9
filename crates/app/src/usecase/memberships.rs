//! One person, several accounts: an outside accountant or a group's shared
//! services is a contact of each company they work for, with a function
//! and visibility per account. The rows are linked by a shared address;
//! access is always evaluated for the one membership a session acts as.

use rapport_domain::{AccountId, EmailAddress, Principal};
use rapport_store::DbConnection;
use rapport_store::contact::{self, Contact};

use super::UseCaseError;
use crate::state::AppState;

/// A company the signed-in person may act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub account_id: AccountId,
    pub account_name: String,
    pub contact_id: rapport_domain::ContactId,
    /// The membership the session acts as now.
    pub current: bool,
}

/// Contacts in order of their account's name: the order a person sees
/// their companies in, and the first is where a sign-in starts when they
/// did not say.
pub(super) fn by_account_name(
    conn: &mut DbConnection,
    contacts: Vec<Contact>,
) -> Result<Vec<(Contact, String)>, UseCaseError> {
    let ids: Vec<AccountId> = contacts.iter().map(|c| c.account_id).collect();
    let names = rapport_store::account::names(conn, &ids)?;
    let mut named: Vec<(Contact, String)> = contacts
        .into_iter()
        .map(|c| {
            let name = names
                .iter()
                .find(|(id, _)| *id == c.account_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            (c, name)
        })
        .collect();
    named.sort_by(|(a, an), (b, bn)| {
        an.to_lowercase()
            .cmp(&bn.to_lowercase())
            .then(a.account_id.cmp(&b.account_id))
    });
    Ok(named)
}

/// Every contact with this address, `preferred`'s account first, then by
/// account name.
pub(super) fn of_address(
    conn: &mut DbConnection,
    address: &EmailAddress,
    preferred: Option<AccountId>,
) -> Result<Vec<Contact>, UseCaseError> {
    let all = contact::find_all_by_email(conn, address)?;
    let mut found: Vec<Contact> = by_account_name(conn, all)?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    if let Some(p) = preferred
        && let Some(i) = found.iter().position(|c| c.account_id == p)
    {
        let first = found.remove(i);
        found.insert(0, first);
    }
    Ok(found)
}

/// The contact of `account` with this address, if they may sign in there.
pub(super) fn contact_in(
    conn: &mut DbConnection,
    address: &EmailAddress,
    account: AccountId,
) -> Result<Option<Contact>, UseCaseError> {
    Ok(contact::find_by_email_in(conn, address, account)?.filter(|c| c.active && c.portal_access))
}

/// The companies a signed-in contact may act for: those whose contact has
/// the address the sign-in was proven with (only their own without one).
/// Empty for anyone else.
pub fn list(
    state: &AppState,
    who: &Principal,
    address: Option<&str>,
) -> Result<Vec<Membership>, UseCaseError> {
    let Principal::Contact { id, .. } = who else {
        return Ok(Vec::new());
    };
    let mut conn = state.store.conn()?;
    let Some(me) = contact::find(&mut conn, *id)? else {
        return Ok(Vec::new());
    };
    let mut all = match address.map(EmailAddress::parse) {
        Some(Ok(address)) if me.emails.contains(&address) => {
            contact::find_all_by_email(&mut conn, &address)?
        }
        _ => Vec::new(),
    };
    all.retain(|c| c.id != me.id && c.active && c.portal_access);
    all.push(me);
    Ok(by_account_name(&mut conn, all)?
        .into_iter()
        .map(|(c, account_name)| Membership {
            account_id: c.account_id,
            account_name,
            contact_id: c.id,
            current: c.id == *id,
        })
        .collect())
}
