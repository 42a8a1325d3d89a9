//! Single-use invitations for new staff to choose their first password.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::StaffId;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::staff_invitations;
use crate::time::now_micros;

/// Records a new invitation and retires the staff member's earlier ones,
/// so only the latest link works.
pub fn replace(
    conn: &mut DbConnection,
    token_hash: &str,
    staff: StaffId,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = now_micros();
    diesel::update(
        staff_invitations::table
            .filter(staff_invitations::staff_id.eq(staff.to_string()))
            .filter(staff_invitations::used_at.is_null()),
    )
    .set(staff_invitations::used_at.eq(Some(now)))
    .execute(conn)?;
    diesel::insert_into(staff_invitations::table)
        .values((
            staff_invitations::token_hash.eq(token_hash),
            staff_invitations::staff_id.eq(staff.to_string()),
            staff_invitations::created_at.eq(now),
            staff_invitations::expires_at.eq(expires_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Spends the invitation if it is unused and unexpired, returning whom it
/// invites. The conditional update makes two concurrent uses yield one.
pub fn redeem(conn: &mut DbConnection, token_hash: &str) -> Result<Option<StaffId>, StoreError> {
    let now = now_micros();
    let spent = diesel::update(
        staff_invitations::table
            .find(token_hash)
            .filter(staff_invitations::used_at.is_null())
            .filter(staff_invitations::expires_at.gt(now)),
    )
    .set(staff_invitations::used_at.eq(Some(now)))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    let staff: String = staff_invitations::table
        .find(token_hash)
        .select(staff_invitations::staff_id)
        .first(conn)?;
    staff
        .parse()
        .map(Some)
        .map_err(|_| StoreError::Corrupt("staff_invitations: staff id".into()))
}

/// When the staff member's open invitation expires, if one is open.
pub fn open_until(
    conn: &mut DbConnection,
    staff: StaffId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let found: Option<chrono::NaiveDateTime> = staff_invitations::table
        .filter(staff_invitations::staff_id.eq(staff.to_string()))
        .filter(staff_invitations::used_at.is_null())
        .filter(staff_invitations::expires_at.gt(now_micros()))
        .select(staff_invitations::expires_at)
        .order(staff_invitations::expires_at.desc())
        .first(conn)
        .optional()?;
    Ok(found.map(|t| t.and_utc()))
}
