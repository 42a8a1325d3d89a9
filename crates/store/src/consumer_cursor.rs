//! How far each consumer that reads the committed-changes log at its own
//! pace (webhooks, the chat's offline email) has read it, so a restart
//! goes on where it stopped and the log keeps what one has not read yet.

use diesel::prelude::*;

use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::webhook_cursor as cursors;

/// The last change id `consumer` handled; `start` the first time it asks.
pub fn cursor(conn: &mut DbConnection, consumer: &str, start: i64) -> Result<i64, StoreError> {
    if let Some(id) = cursor_if_any(conn, consumer)? {
        return Ok(id);
    }
    diesel::insert_into(cursors::table)
        .values((cursors::name.eq(consumer), cursors::through_id.eq(start)))
        .execute(conn)?;
    Ok(start)
}

/// The last change id `consumer` handled, if it ever ran.
pub fn cursor_if_any(conn: &mut DbConnection, consumer: &str) -> Result<Option<i64>, StoreError> {
    Ok(cursors::table
        .find(consumer)
        .select(cursors::through_id)
        .first(conn)
        .optional()?)
}

/// Moves `consumer`'s cursor forward (never back).
pub fn advance(conn: &mut DbConnection, consumer: &str, through: i64) -> Result<(), StoreError> {
    diesel::update(
        cursors::table
            .find(consumer)
            .filter(cursors::through_id.lt(through)),
    )
    .set(cursors::through_id.eq(through))
    .execute(conn)?;
    Ok(())
}

/// The least read of all consumers: the log keeps everything after it.
pub fn slowest(conn: &mut DbConnection) -> Result<Option<i64>, StoreError> {
    Ok(cursors::table
        .select(diesel::dsl::min(cursors::through_id))
        .first(conn)?)
}
