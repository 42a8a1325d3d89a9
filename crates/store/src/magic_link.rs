//! One-time sign-in links for contacts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::ContactId;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::magic_links;
use crate::time::now_micros;

pub fn insert(
    conn: &mut DbConnection,
    token_hash: &str,
    contact: ContactId,
    address: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(magic_links::table)
        .values((
            magic_links::token_hash.eq(token_hash),
            magic_links::contact_id.eq(contact.to_string()),
            magic_links::address.eq(Some(address)),
            magic_links::created_at.eq(now_micros()),
            magic_links::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Spends the link if it is unused and unexpired, returning its contact
/// and the address it was sent to. The conditional update makes two
/// concurrent redemptions yield one winner.
pub fn redeem(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<(ContactId, Option<String>)>, StoreError> {
    let now = now_micros();
    let spent = diesel::update(
        magic_links::table
            .find(token_hash)
            .filter(magic_links::used_at.is_null())
            .filter(magic_links::expires_at.gt(now)),
    )
    .set(magic_links::used_at.eq(Some(now)))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    let (contact, address): (String, Option<String>) = magic_links::table
        .find(token_hash)
        .select((magic_links::contact_id, magic_links::address))
        .first(conn)?;
    let contact = contact
        .parse()
        .map_err(|_| StoreError::Corrupt("magic_links: contact id".into()))?;
    Ok(Some((contact, address)))
}
