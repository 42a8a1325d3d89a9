//! Staff users.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use rapport_domain::{EmailAddress, PersonName, StaffId, StaffRole};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::staff_users;
use crate::time::now_micros;

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_users)]
struct StaffRow {
    id: String,
    email: String,
    name: String,
    display_name: String,
    avatar_url: Option<String>,
    role: String,
    active: bool,
    password_hash: String,
    password_change_required: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// A staff member as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: StaffId,
    pub email: EmailAddress,
    pub name: PersonName,
    pub display_name: PersonName,
    pub avatar_url: Option<String>,
    pub role: StaffRole,
    pub active: bool,
    pub password_hash: String,
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
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

impl TryFrom<StaffRow> for Staff {
    type Error = StoreError;

    fn try_from(r: StaffRow) -> Result<Staff, StoreError> {
        let bad = |what: &str| StoreError::Corrupt(format!("staff_users {}: {what}", r.id));
        Ok(Staff {
            id: r.id.parse().map_err(|_| bad("id"))?,
            email: EmailAddress::parse(&r.email).map_err(|_| bad("email"))?,
            name: PersonName::parse(&r.name).map_err(|_| bad("name"))?,
            display_name: PersonName::parse(&r.display_name).map_err(|_| bad("display_name"))?,
            avatar_url: r.avatar_url,
            role: StaffRole::parse(&r.role).ok_or_else(|| bad("role"))?,
            active: r.active,
            password_hash: r.password_hash,
            password_change_required: r.password_change_required,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// Creates a staff member; an email already in use is a `Conflict`.
pub fn insert(conn: &mut DbConnection, new: NewStaff) -> Result<Staff, StoreError> {
    let now = now_micros();
    let row = StaffRow {
        id: StaffId::new().to_string(),
        email: new.email.as_str().to_owned(),
        name: new.name.as_str().to_owned(),
        display_name: new.display_name.as_str().to_owned(),
        avatar_url: None,
        role: new.role.as_str().to_owned(),
        active: true,
        password_hash: new.password_hash,
        password_change_required: new.password_change_required,
        created_at: now,
        updated_at: now,
    };
    match diesel::insert_into(staff_users::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => row.try_into(),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(
            StoreError::Conflict("a staff member with this email already exists"),
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn find(conn: &mut DbConnection, id: StaffId) -> Result<Option<Staff>, StoreError> {
    staff_users::table
        .find(id.to_string())
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?
        .map(Staff::try_from)
        .transpose()
}

pub fn find_by_email(
    conn: &mut DbConnection,
    email: &EmailAddress,
) -> Result<Option<Staff>, StoreError> {
    staff_users::table
        .filter(staff_users::email.eq(email.as_str()))
        .select(StaffRow::as_select())
        .first(conn)
        .optional()?
        .map(Staff::try_from)
        .transpose()
}

/// Replaces the password hash (a new password, or a rehash with current
/// parameters).
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: StaffId,
    hash: &str,
    change_required: bool,
) -> Result<(), StoreError> {
    let updated = diesel::update(staff_users::table.find(id.to_string()))
        .set((
            staff_users::password_hash.eq(hash),
            staff_users::password_change_required.eq(change_required),
            staff_users::updated_at.eq(now_micros()),
        ))
        .execute(conn)?;
    if updated == 0 {
        return Err(StoreError::NotFound("staff member"));
    }
    Ok(())
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
    let mut q = staff_users::table
        .select(StaffRow::as_select())
        .into_boxed();
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
    q.order(staff_users::id.asc())
        .limit(limit)
        .load::<StaffRow>(conn)?
        .into_iter()
        .map(Staff::try_from)
        .collect()
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
