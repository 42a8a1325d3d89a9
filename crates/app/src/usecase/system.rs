//! Installation-wide events, recorded in the `system` audit stream.

use rapport_audit::{Action, Actor, NewEvent, StreamName, Subject};
use rapport_store::{Store, StoreError};
use serde_json::{Map, Value, json};

/// Records that the database schema changed, with the versions applied
/// and the binary that applied them: an auditor sees when the structure
/// holding the data changed.
pub fn record_schema_migrated(store: &Store, applied: &[String]) -> Result<(), StoreError> {
    if applied.is_empty() {
        return Ok(());
    }
    let mut data = Map::new();
    data.insert("versions".into(), json!(applied));
    data.insert(
        "rapport_version".into(),
        Value::String(env!("CARGO_PKG_VERSION").into()),
    );
    let event = NewEvent::new(
        StreamName::system(),
        Actor::system(),
        Action::parse("system.schema_migrated")?,
        Subject::new("database", None)?,
        data,
    )?;
    store.write(|conn| rapport_store::audit::append(conn, event, None).map(|_| ()))
}
