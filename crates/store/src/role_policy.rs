//! What admins require of each staff role at sign-in.

use diesel::prelude::*;
use rapport_domain::{StaffId, StaffRole};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::role_policies;
use crate::time::now_micros;

/// The roles admins require a second factor of.
pub fn totp_required_roles(conn: &mut DbConnection) -> Result<Vec<StaffRole>, StoreError> {
    role_policies::table
        .filter(role_policies::totp_required.eq(true))
        .select(role_policies::role)
        .load::<String>(conn)?
        .into_iter()
        .map(|r| Ok(StaffRole::try_from(r)?))
        .collect()
}

/// Requires (or stops requiring) a second factor of `role`.
pub fn set_totp_required(
    conn: &mut DbConnection,
    role: StaffRole,
    required: bool,
    by: StaffId,
) -> Result<(), StoreError> {
    let values = || {
        (
            role_policies::totp_required.eq(required),
            role_policies::updated_by.eq(by.to_string()),
            role_policies::updated_at.eq(now_micros()),
        )
    };
    let updated = diesel::update(role_policies::table.find(role.as_str()))
        .set(values())
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(role_policies::table)
            .values((role_policies::role.eq(role.as_str()), values()))
            .execute(conn)?;
    }
    Ok(())
}
