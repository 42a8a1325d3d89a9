//! Held mail of a person of several accounts: one single-use link per
//! account they may file it under, stored as SHA-256 only.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::ContactId;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::mail_account_choices;
use crate::time::now_micros;

pub fn insert(
    conn: &mut DbConnection,
    token_hash: &str,
    inbound_id: &str,
    contact: ContactId,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::insert_into(mail_account_choices::table)
        .values((
            mail_account_choices::token_hash.eq(token_hash),
            mail_account_choices::inbound_id.eq(inbound_id),
            mail_account_choices::contact_id.eq(contact.to_string()),
            mail_account_choices::created_at.eq(now_micros()),
            mail_account_choices::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A choice still open: its message and the contact it files it as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub inbound_id: String,
    pub contact_id: ContactId,
}

/// Follows a link: every link of its message is spent at once (the first
/// choice wins, the others are dead) and this one is marked chosen. None
/// when the link is unknown, used, expired or lost the race.
pub fn choose(conn: &mut DbConnection, token_hash: &str) -> Result<Option<Choice>, StoreError> {
    let Some((choice, true)) = find(conn, token_hash)? else {
        return Ok(None);
    };
    let spent = diesel::update(
        mail_account_choices::table
            .filter(mail_account_choices::inbound_id.eq(&choice.inbound_id))
            .filter(mail_account_choices::used_at.is_null()),
    )
    .set(mail_account_choices::used_at.eq(Some(now_micros())))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    diesel::update(mail_account_choices::table.find(token_hash))
        .set(mail_account_choices::chosen.eq(true))
        .execute(conn)?;
    Ok(Some(choice))
}

/// The contact a held message was filed as by its sender's choice.
pub fn chosen_for(
    conn: &mut DbConnection,
    inbound_id: &str,
) -> Result<Option<ContactId>, StoreError> {
    let id: Option<String> = mail_account_choices::table
        .filter(mail_account_choices::inbound_id.eq(inbound_id))
        .filter(mail_account_choices::chosen.eq(true))
        .select(mail_account_choices::contact_id)
        .first(conn)
        .optional()?;
    id.map(|id| {
        id.parse()
            .map_err(|_| StoreError::Corrupt("mail_account_choices: contact id".into()))
    })
    .transpose()
}

/// An admin files a held message as one of its sender's contacts: every
/// link of the message is spent and the choice recorded as theirs.
pub fn choose_for(
    conn: &mut DbConnection,
    inbound_id: &str,
    contact: ContactId,
) -> Result<(), StoreError> {
    let now = now_micros();
    diesel::update(
        mail_account_choices::table
            .filter(mail_account_choices::inbound_id.eq(inbound_id))
            .filter(mail_account_choices::used_at.is_null()),
    )
    .set(mail_account_choices::used_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        mail_account_choices::table.filter(mail_account_choices::inbound_id.eq(inbound_id)),
    )
    .set(mail_account_choices::chosen.eq(false))
    .execute(conn)?;
    diesel::insert_into(mail_account_choices::table)
        .values((
            mail_account_choices::token_hash.eq(format!("staff:{}", uuid::Uuid::now_v7())),
            mail_account_choices::inbound_id.eq(inbound_id),
            mail_account_choices::contact_id.eq(contact.to_string()),
            mail_account_choices::created_at.eq(now),
            mail_account_choices::expires_at.eq(now),
            mail_account_choices::used_at.eq(Some(now)),
            mail_account_choices::chosen.eq(true),
        ))
        .execute(conn)?;
    Ok(())
}

/// A link's choice whether or not it is still open: what it offered, and
/// whether it is open (unused, unexpired).
pub fn find(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<(Choice, bool)>, StoreError> {
    let row: Option<(
        String,
        String,
        Option<chrono::NaiveDateTime>,
        chrono::NaiveDateTime,
    )> = mail_account_choices::table
        .find(token_hash)
        .select((
            mail_account_choices::inbound_id,
            mail_account_choices::contact_id,
            mail_account_choices::used_at,
            mail_account_choices::expires_at,
        ))
        .first(conn)
        .optional()?;
    row.map(|(inbound_id, contact, used, expires)| {
        Ok((
            Choice {
                inbound_id,
                contact_id: contact
                    .parse()
                    .map_err(|_| StoreError::Corrupt("mail_account_choices: contact id".into()))?,
            },
            used.is_none() && expires > now_micros(),
        ))
    })
    .transpose()
}
