//! Staff second factors: the sealed TOTP secret and the recovery codes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::StaffId;

use crate::column::{OptUtcStamp, UtcStamp};
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::{staff_recovery_codes, staff_totp};
use crate::time::now_micros;

/// A staff member's TOTP as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = staff_totp)]
pub struct Totp {
    pub staff_id: String,
    /// The secret, sealed by the caller.
    pub sealed_secret: String,
    /// Unset until a first code proved the app holds the secret.
    #[diesel(deserialize_as = OptUtcStamp)]
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last step a code was accepted for.
    pub last_step: i64,
    #[diesel(deserialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
}

pub fn find(conn: &mut DbConnection, staff: StaffId) -> Result<Option<Totp>, StoreError> {
    Ok(staff_totp::table
        .find(staff.to_string())
        .select(Totp::as_select())
        .first(conn)
        .optional()?)
}

/// Starts (or restarts) enrolment with a new sealed secret, unconfirmed.
pub fn begin(conn: &mut DbConnection, staff: StaffId, sealed: &str) -> Result<(), StoreError> {
    remove(conn, staff)?;
    diesel::insert_into(staff_totp::table)
        .values((
            staff_totp::staff_id.eq(staff.to_string()),
            staff_totp::sealed_secret.eq(sealed),
            staff_totp::last_step.eq(0i64),
            staff_totp::created_at.eq(now_micros()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the secret confirmed, with the step of the code that proved it,
/// and replaces the recovery codes.
pub fn confirm(
    conn: &mut DbConnection,
    staff: StaffId,
    step: i64,
    recovery_sha256: &[String],
) -> Result<(), StoreError> {
    diesel::update(staff_totp::table.find(staff.to_string()))
        .set((
            staff_totp::confirmed_at.eq(Some(now_micros())),
            staff_totp::last_step.eq(step),
        ))
        .execute(conn)?;
    diesel::delete(
        staff_recovery_codes::table.filter(staff_recovery_codes::staff_id.eq(staff.to_string())),
    )
    .execute(conn)?;
    for code in recovery_sha256 {
        diesel::insert_into(staff_recovery_codes::table)
            .values((
                staff_recovery_codes::staff_id.eq(staff.to_string()),
                staff_recovery_codes::code_sha256.eq(code),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records that a code of `step` was used; false when that step (or a
/// later one) was used already, so a code seen twice works once.
pub fn use_step(conn: &mut DbConnection, staff: StaffId, step: i64) -> Result<bool, StoreError> {
    Ok(diesel::update(
        staff_totp::table
            .find(staff.to_string())
            .filter(staff_totp::last_step.lt(step)),
    )
    .set(staff_totp::last_step.eq(step))
    .execute(conn)?
        == 1)
}

/// Spends a recovery code; false when it is unknown or used.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    staff: StaffId,
    code_sha256: &str,
) -> Result<bool, StoreError> {
    Ok(diesel::update(
        staff_recovery_codes::table
            .filter(staff_recovery_codes::staff_id.eq(staff.to_string()))
            .filter(staff_recovery_codes::code_sha256.eq(code_sha256))
            .filter(staff_recovery_codes::used_at.is_null()),
    )
    .set(staff_recovery_codes::used_at.eq(Some(now_micros())))
    .execute(conn)?
        == 1)
}

/// Recovery codes not used yet.
pub fn recovery_codes_left(conn: &mut DbConnection, staff: StaffId) -> Result<i64, StoreError> {
    Ok(staff_recovery_codes::table
        .filter(staff_recovery_codes::staff_id.eq(staff.to_string()))
        .filter(staff_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

/// Removes the second factor and its recovery codes.
pub fn remove(conn: &mut DbConnection, staff: StaffId) -> Result<(), StoreError> {
    diesel::delete(
        staff_recovery_codes::table.filter(staff_recovery_codes::staff_id.eq(staff.to_string())),
    )
    .execute(conn)?;
    diesel::delete(staff_totp::table.find(staff.to_string())).execute(conn)?;
    Ok(())
}
