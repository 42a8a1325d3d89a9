//! Staff users.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{EmailAddress, PersonName, StaffId, StaffRole};

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::staff_users;
use crate::time::now_micros;

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = staff_users)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Staff {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: StaffId,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub email: EmailAddress,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub name: PersonName,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub display_name: PersonName,
    pub avatar_url: Option<String>,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub role: StaffRole,
    pub active: bool,
    pub password_hash: String,
    pub password_change_required: bool,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub updated_at: DateTime<Utc>,
}

/// What creating a staff member needs.
#[derive(Debug, Clone)]
pub struct NewStaff {
    pub email: EmailAddress,
    pub name: PersonName,
    pub display_name: PersonName,
    pub role: StaffRole,
    pub password_hash: String,
    pub password_change_required: bool,
}

/// Creates a staff member; an email already in use is a `Conflict`.
pub fn insert(conn: &mut DbConnection, new: NewStaff) -> Result<Staff, StoreError> {
    let now = now_micros().and_utc();
    let row = Staff {
        id: StaffId::new(),
        email: new.email,
        name: new.name,
        display_name: new.display_name,
        avatar_url: None,
        role: new.role,
        active: true,
        password_hash: new.password_hash,
        password_change_required: new.password_change_required,
        created_at: now,
        updated_at: now,
    };
    match diesel::insert_into(staff_users::table)
        .values(row.clone())
        .execute(conn)
    {
        Ok(_) => Ok(row),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(
            StoreError::Conflict("a staff member with this email already exists"),
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn find(conn: &mut DbConnection, id: StaffId) -> Result<Option<Staff>, StoreError> {
    Ok(staff_users::table
        .find(id.to_string())
        .select(Staff::as_select())
        .first(conn)
        .optional()?)
}

/// The staff members with these ids, in one query (missing ids are left out).
pub fn find_many(conn: &mut DbConnection, ids: &[StaffId]) -> Result<Vec<Staff>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(staff_users::table
        .filter(staff_users::id.eq_any(ids.iter().map(ToString::to_string)))
        .select(Staff::as_select())
        .load(conn)?)
}

pub fn find_by_email(
    conn: &mut DbConnection,
    email: &EmailAddress,
) -> Result<Option<Staff>, StoreError> {
    Ok(staff_users::table
        .filter(staff_users::email.eq(email.as_str()))
        .select(Staff::as_select())
        .first(conn)
        .optional()?)
}

/// Sets a password its holder chose: a one-time password is spent, so no
/// change is required any more (a rehash goes through [`rehash_password`]).
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: StaffId,
    hash: &str,
) -> Result<(), StoreError> {
    let updated = diesel::update(staff_users::table.find(id.to_string()))
        .set((
            staff_users::password_hash.eq(hash),
            staff_users::password_change_required.eq(false),
            staff_users::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound("staff member"));
    }
    Ok(())
}

/// Replaces `old` with `new`, the same password hashed with other
/// parameters, unless the password changed meanwhile (a one-time password
/// stays one to change); says whether it did.
pub fn rehash_password(
    conn: &mut DbConnection,
    id: StaffId,
    old: &str,
    new: &str,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        staff_users::table
            .find(id.to_string())
            .filter(staff_users::password_hash.eq(old)),
    )
    .set(staff_users::password_hash.eq(new))
    .execute(conn)?;
    Ok(n == 1)
}

/// How many staff members exist (for first-run guidance).
pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(staff_users::table.count().get_result(conn)?)
}

/// A page of staff in creation order, optionally searched by name or email.
pub fn list(
    conn: &mut DbConnection,
    search: Option<&str>,
    after: Option<StaffId>,
    limit: i64,
) -> Result<Vec<Staff>, StoreError> {
    let mut q = staff_users::table.select(Staff::as_select()).into_boxed();
    if let Some(search) = search {
        let pattern = crate::account::contains_pattern(search);
        q = q.filter(
            staff_users::email
                .like(pattern.clone())
                .escape('\\')
                .or(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("LOWER(name) LIKE ")
                        .bind::<diesel::sql_types::Text, _>(pattern)
                        .sql(" ESCAPE '\\'"),
                ),
        );
    }
    if let Some(after) = after {
        q = q.filter(staff_users::id.gt(after.to_string()));
    }
    Ok(q.order(staff_users::id.asc()).limit(limit).load(conn)?)
}

/// The editable profile of a staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffProfile {
    pub name: PersonName,
    pub display_name: PersonName,
    pub avatar_url: Option<String>,
    pub role: StaffRole,
    pub active: bool,
}

pub fn update_profile(
    conn: &mut DbConnection,
    id: StaffId,
    p: &StaffProfile,
) -> Result<Staff, StoreError> {
    let updated = diesel::update(staff_users::table.find(id.to_string()))
        .set((
            staff_users::name.eq(p.name.as_str()),
            staff_users::display_name.eq(p.display_name.as_str()),
            staff_users::avatar_url.eq(p.avatar_url.as_deref()),
            staff_users::role.eq(p.role.as_str()),
            staff_users::active.eq(p.active),
            staff_users::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound("staff member"));
    }
    find(conn, id)?.ok_or(StoreError::NotFound("staff member"))
}
