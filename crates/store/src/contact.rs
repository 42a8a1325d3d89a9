//! Contacts: the people of an account. An address is unique within an
//! account; one person may be a contact of several accounts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{
    AccountId, CaseNotices, ContactFunction, ContactId, ContactVisibility, EmailAddress,
    PersonName, PreferredChannel,
};

use crate::account::contains_pattern;
use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{contact_emails, contacts};
use crate::time::now_micros;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct ContactRow {
    #[diesel(deserialize_as = String, serialize_as = String)]
    id: ContactId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    account_id: AccountId,
    #[diesel(embed)]
    fields: EditableColumns,
    password_hash: Option<String>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    created_at: DateTime<Utc>,
}

/// The columns an update rewrites; the password hash has its own writer.
#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
struct EditableColumns {
    #[diesel(deserialize_as = String, serialize_as = String)]
    name: PersonName,
    name_key: String,
    phone: Option<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    function: ContactFunction,
    title: Option<String>,
    is_primary: bool,
    portal_access: bool,
    #[diesel(deserialize_as = String, serialize_as = String)]
    visibility: ContactVisibility,
    #[diesel(deserialize_as = String, serialize_as = String)]
    preferred_channel: PreferredChannel,
    active: bool,
    external_id: Option<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    case_notices: CaseNotices,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    updated_at: DateTime<Utc>,
}

impl EditableColumns {
    fn new(f: &ContactFields) -> EditableColumns {
        EditableColumns {
            name: f.name.clone(),
            name_key: f.name.as_str().to_lowercase(),
            phone: f.phone.clone(),
            function: f.function,
            title: f.title.clone(),
            is_primary: f.is_primary,
            portal_access: f.portal_access,
            visibility: f.visibility,
            preferred_channel: f.preferred_channel,
            active: f.active,
            external_id: f.external_id.clone(),
            case_notices: f.case_notices,
            updated_at: now_micros().and_utc(),
        }
    }
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub account_id: AccountId,
    pub name: PersonName,
    /// The first is the primary address.
    pub emails: Vec<EmailAddress>,
    pub phone: Option<String>,
    pub function: ContactFunction,
    pub title: Option<String>,
    pub is_primary: bool,
    pub portal_access: bool,
    pub visibility: ContactVisibility,
    pub preferred_channel: PreferredChannel,
    pub password_hash: Option<String>,
    pub active: bool,
    /// The person's id in the supplier's other systems (CRM).
    pub external_id: Option<String>,
    /// How they hear of cases opened and resolved for their function.
    pub case_notices: CaseNotices,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The editable fields of a contact, all validated by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactFields {
    pub name: PersonName,
    pub emails: Vec<EmailAddress>,
    pub phone: Option<String>,
    pub function: ContactFunction,
    pub title: Option<String>,
    pub is_primary: bool,
    pub portal_access: bool,
    pub visibility: ContactVisibility,
    pub preferred_channel: PreferredChannel,
    pub active: bool,
    pub external_id: Option<String>,
    pub case_notices: CaseNotices,
}

fn corrupt(id: &str, what: &str) -> StoreError {
    StoreError::Corrupt(format!("contacts {id}: {what}"))
}

fn assemble(row: ContactRow, emails: Vec<String>) -> Result<Contact, StoreError> {
    let f = row.fields;
    Ok(Contact {
        emails: emails
            .into_iter()
            .map(EmailAddress::try_from)
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt(&row.id.to_string(), "email"))?,
        id: row.id,
        account_id: row.account_id,
        name: f.name,
        phone: f.phone,
        function: f.function,
        title: f.title,
        is_primary: f.is_primary,
        portal_access: f.portal_access,
        visibility: f.visibility,
        preferred_channel: f.preferred_channel,
        password_hash: row.password_hash,
        active: f.active,
        external_id: f.external_id,
        case_notices: f.case_notices,
        created_at: row.created_at,
        updated_at: f.updated_at,
    })
}

/// Contacts from their rows, each with its addresses (one query for all).
fn with_emails(conn: &mut DbConnection, rows: Vec<ContactRow>) -> Result<Vec<Contact>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let mut by_contact: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for (contact, email) in load_emails(conn, &ids)? {
        by_contact.entry(contact).or_default().push(email);
    }
    rows.into_iter()
        .map(|row| {
            let emails = by_contact.remove(&row.id.to_string()).unwrap_or_default();
            assemble(row, emails)
        })
        .collect()
}

fn load_emails(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(contact_emails::table
        .filter(contact_emails::contact_id.eq_any(ids))
        .order((
            contact_emails::contact_id.asc(),
            contact_emails::position.asc(),
        ))
        .select((contact_emails::contact_id, contact_emails::email))
        .load(conn)?)
}

fn write_emails(
    conn: &mut DbConnection,
    id: &str,
    account: &str,
    emails: &[EmailAddress],
) -> Result<(), StoreError> {
    diesel::delete(contact_emails::table.filter(contact_emails::contact_id.eq(id)))
        .execute(conn)?;
    for (position, email) in emails.iter().enumerate() {
        match diesel::insert_into(contact_emails::table)
            .values((
                contact_emails::email.eq(email.as_str()),
                contact_emails::account_id.eq(account),
                contact_emails::contact_id.eq(id),
                contact_emails::position.eq(i32::try_from(position).unwrap_or(i32::MAX)),
            ))
            .execute(conn)
        {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(StoreError::Conflict(
                    "an email address of this contact already belongs to another contact of this account",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The only unique column of the row itself is the external id.
fn external_id_taken(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
            StoreError::Conflict("another contact already has this external id")
        }
        other => other.into(),
    }
}

/// One primary contact per account: marking one clears the others.
fn clear_other_primaries(
    conn: &mut DbConnection,
    account: &str,
    keep: &str,
) -> Result<(), StoreError> {
    diesel::update(
        contacts::table
            .filter(contacts::account_id.eq(account))
            .filter(contacts::id.ne(keep))
            .filter(contacts::is_primary.eq(true)),
    )
    .set(contacts::is_primary.eq(false))
    .execute(conn)?;
    Ok(())
}

pub fn insert(
    conn: &mut DbConnection,
    account: AccountId,
    fields: &ContactFields,
) -> Result<Contact, StoreError> {
    let id = ContactId::new();
    let (id_text, account_text) = (id.to_string(), account.to_string());
    diesel::insert_into(contacts::table)
        .values(ContactRow {
            id,
            account_id: account,
            fields: EditableColumns::new(fields),
            password_hash: None,
            created_at: now_micros().and_utc(),
        })
        .execute(conn)
        .map_err(external_id_taken)?;
    write_emails(conn, &id_text, &account_text, &fields.emails)?;
    if fields.is_primary {
        clear_other_primaries(conn, &account_text, &id_text)?;
    }
    find(conn, id)?.ok_or(StoreError::NotFound("contact"))
}

pub fn update(
    conn: &mut DbConnection,
    existing: &Contact,
    fields: &ContactFields,
) -> Result<Contact, StoreError> {
    let (id, account) = (existing.id.to_string(), existing.account_id.to_string());
    diesel::update(contacts::table.find(&id))
        .set(EditableColumns::new(fields))
        .execute(conn)
        .map_err(external_id_taken)?;
    if existing.emails != fields.emails {
        write_emails(conn, &id, &account, &fields.emails)?;
    }
    if fields.is_primary && !existing.is_primary {
        clear_other_primaries(conn, &account, &id)?;
    }
    find(conn, existing.id)?.ok_or(StoreError::NotFound("contact"))
}

pub fn set_password_hash(
    conn: &mut DbConnection,
    id: ContactId,
    hash: &str,
) -> Result<(), StoreError> {
    diesel::update(contacts::table.find(id.to_string()))
        .set((
            contacts::password_hash.eq(Some(hash)),
            contacts::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces `old` with `new`, the same password hashed with other
/// parameters, unless the password changed meanwhile; says whether it did.
pub fn rehash_password(
    conn: &mut DbConnection,
    id: ContactId,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        contacts::table
            .find(id.to_string())
            .filter(contacts::password_hash.eq(old)),
    )
    .set(contacts::password_hash.eq(Some(new)))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn find(conn: &mut DbConnection, id: ContactId) -> Result<Option<Contact>, StoreError> {
    let Some(row) = contacts::table
        .find(id.to_string())
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let emails = load_emails(conn, &[row.id.to_string()])?;
    assemble(row, emails.into_iter().map(|(_, e)| e).collect()).map(Some)
}

/// Every contact with this address: one per account the person belongs to.
pub fn find_all_by_email(
    conn: &mut DbConnection,
    email: &EmailAddress,
) -> Result<Vec<Contact>, StoreError> {
    let rows: Vec<ContactRow> = contacts::table
        .filter(
            contacts::id.eq_any(
                contact_emails::table
                    .filter(contact_emails::email.eq(email.as_str()))
                    .select(contact_emails::contact_id),
            ),
        )
        .order(contacts::account_id.asc())
        .select(ContactRow::as_select())
        .load(conn)?;
    with_emails(conn, rows)
}

/// The contact of `account` with this address.
pub fn find_by_email_in(
    conn: &mut DbConnection,
    email: &EmailAddress,
    account: AccountId,
) -> Result<Option<Contact>, StoreError> {
    let id: Option<String> = contact_emails::table
        .find((email.as_str(), account.to_string()))
        .select(contact_emails::contact_id)
        .first(conn)
        .optional()?;
    match id {
        Some(id) => find(conn, ContactId::try_from(id)?),
        None => Ok(None),
    }
}

/// A page of an account's contacts in creation order, optionally searched
/// by name or address.
pub fn list_for_account(
    conn: &mut DbConnection,
    account: AccountId,
    search: Option<&str>,
    after: Option<ContactId>,
    limit: i64,
) -> Result<Vec<Contact>, StoreError> {
    let mut q = contacts::table
        .filter(contacts::account_id.eq(account.to_string()))
        .select(ContactRow::as_select())
        .into_boxed();
    if let Some(search) = search {
        let pattern = contains_pattern(search);
        let by_email = contact_emails::table
            .filter(contact_emails::email.like(pattern.clone()).escape('\\'))
            .select(contact_emails::contact_id);
        q = q.filter(
            contacts::name_key
                .like(pattern)
                .escape('\\')
                .or(contacts::id.eq_any(by_email)),
        );
    }
    if let Some(after) = after {
        q = q.filter(contacts::id.gt(after.to_string()));
    }
    let rows: Vec<ContactRow> = q.order(contacts::id.asc()).limit(limit).load(conn)?;
    with_emails(conn, rows)
}

/// The account's active contacts of these functions who see the cases of
/// their function (or all) and want to hear of them (`case_notices` not
/// `off`): who a case of a category concerning them is told about.
pub fn concerned(
    conn: &mut DbConnection,
    account: AccountId,
    functions: &[ContactFunction],
) -> Result<Vec<Contact>, StoreError> {
    let rows: Vec<ContactRow> = contacts::table
        .filter(contacts::account_id.eq(account.to_string()))
        .filter(contacts::active.eq(true))
        .filter(contacts::function.eq_any(functions.iter().map(|f| f.as_str()).collect::<Vec<_>>()))
        .filter(contacts::visibility.ne(ContactVisibility::OwnCases.as_str()))
        .filter(contacts::case_notices.ne(CaseNotices::Off.as_str()))
        .order(contacts::id.asc())
        .select(ContactRow::as_select())
        .load(conn)?;
    with_emails(conn, rows)
}

/// Contacts across accounts whose name or an address contains `search`:
/// of every account, or of the accounts these teams serve (an agent).
pub fn search(
    conn: &mut DbConnection,
    search: &str,
    served_by: Option<&[rapport_domain::TeamId]>,
    limit: i64,
) -> Result<Vec<Contact>, StoreError> {
    let pattern = contains_pattern(search);
    let by_email = contact_emails::table
        .filter(contact_emails::email.like(pattern.clone()).escape('\\'))
        .select(contact_emails::contact_id);
    let mut q = contacts::table
        .select(ContactRow::as_select())
        .filter(
            contacts::name_key
                .like(pattern)
                .escape('\\')
                .or(contacts::id.eq_any(by_email)),
        )
        .into_boxed();
    if let Some(teams) = served_by {
        let served = crate::schema::accounts::table
            .filter(
                crate::schema::accounts::team_id
                    .eq_any(teams.iter().map(|t| t.to_string()).collect::<Vec<_>>()),
            )
            .select(crate::schema::accounts::id);
        q = q.filter(contacts::account_id.eq_any(served));
    }
    let rows: Vec<ContactRow> = q.order(contacts::name_key.asc()).limit(limit).load(conn)?;
    with_emails(conn, rows)
}

/// How many contacts an account has.
pub fn count_for_account(conn: &mut DbConnection, account: AccountId) -> Result<i64, StoreError> {
    Ok(contacts::table
        .filter(contacts::account_id.eq(account.to_string()))
        .count()
        .get_result(conn)?)
}
