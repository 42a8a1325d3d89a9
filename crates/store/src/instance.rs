//! The installation's identity: a stable id shared by every server node
//! of one deployment, created once by whichever node starts first.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::instance;
use crate::time::now_micros;
use rapport_domain::InstanceId;

/// The installation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = instance)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct Instance {
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: InstanceId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
}

/// Returns the installation, creating it on first call. Safe when several
/// nodes start at once: the loser of the insert race reads the winner's row.
pub fn ensure(conn: &mut DbConnection) -> Result<Instance, StoreError> {
    if let Some(found) = find(conn)? {
        return Ok(found);
    }
    let fresh = Instance {
        id: InstanceId::new(),
        created_at: now_micros().and_utc(),
    };
    match diesel::insert_into(instance::table)
        .values((instance::singleton.eq(1), fresh))
        .execute(conn)
    {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(other) => return Err(other.into()),
    }
    find(conn)?.ok_or(StoreError::NotFound("instance"))
}

pub fn find(conn: &mut DbConnection) -> Result<Option<Instance>, StoreError> {
    Ok(instance::table
        .select(Instance::as_select())
        .first(conn)
        .optional()?)
}

/// The fingerprint of the secrets the nodes share: records `ours` when
/// none is recorded yet and returns the one recorded (equal to `ours`
/// unless another node runs with other secrets).
pub fn shared_secrets_fingerprint(
    conn: &mut DbConnection,
    ours: &str,
) -> Result<String, StoreError> {
    use crate::schema::shared_secrets;
    let found: Option<String> = shared_secrets::table
        .find("nodes")
        .select(shared_secrets::fingerprint)
        .first(conn)
        .optional()?;
    if let Some(f) = found {
        return Ok(f);
    }
    let inserted = crate::savepoint(conn, |c| {
        diesel::insert_into(shared_secrets::table)
            .values((
                shared_secrets::name.eq("nodes"),
                shared_secrets::fingerprint.eq(ours),
                shared_secrets::created_at.eq(crate::now_micros()),
            ))
            .execute(c)
    });
    match inserted {
        Ok(_) => Ok(ours.to_owned()),
        // Another node recorded its own at the same moment: compare with it.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(shared_secrets::table
            .find("nodes")
            .select(shared_secrets::fingerprint)
            .first(conn)?),
        Err(e) => Err(e.into()),
    }
}
