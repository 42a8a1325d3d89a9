//! The installation's identity: a stable id shared by every server node
//! of one deployment, created once by whichever node starts first.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::instance;
use rapport_domain::InstanceId;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = instance)]
struct InstanceRow {
    singleton: i32,
    id: String,
    created_at: NaiveDateTime,
}

/// The installation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: InstanceId,
    pub created_at: chrono::DateTime<Utc>,
}

impl TryFrom<InstanceRow> for Instance {
    type Error = StoreError;

    fn try_from(row: InstanceRow) -> Result<Self, StoreError> {
        let id = row.id.parse().map_err(|_| {
            StoreError::Database(DieselError::DeserializationError(
                format!("instance.id {:?} is not a UUID", row.id).into(),
            ))
        })?;
        Ok(Instance {
            id,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// Returns the installation, creating it on first call. Safe when several
/// nodes start at once: the loser of the insert race reads the winner's row.
pub fn ensure(conn: &mut DbConnection) -> Result<Instance, StoreError> {
    if let Some(found) = find(conn)? {
        return Ok(found);
    }
    let row = InstanceRow {
        singleton: 1,
        id: InstanceId::new().to_string(),
        // PostgreSQL keeps microseconds; truncate so both backends agree.
        created_at: truncate_to_micros(Utc::now().naive_utc()),
    };
    match diesel::insert_into(instance::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) | Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(other) => return Err(other.into()),
    }
    find(conn)?.ok_or(StoreError::NotFound("instance"))
}

pub fn find(conn: &mut DbConnection) -> Result<Option<Instance>, StoreError> {
    let row = instance::table
        .select(InstanceRow::as_select())
        .first(conn)
        .optional()?;
    row.map(Instance::try_from).transpose()
}

fn truncate_to_micros(t: NaiveDateTime) -> NaiveDateTime {
    use chrono::{SubsecRound, Timelike};
    let micros = t.nanosecond() / 1_000;
    t.trunc_subsecs(0)
        .with_nanosecond(micros * 1_000)
        .unwrap_or(t)
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
