//! Customer card sources: the supplier's systems Rapport asks about a
//! case's account and contact.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rapport_domain::StaffId;

use crate::column::UtcStamp;
use crate::connection::DbConnection;
use crate::error::StoreError;
use crate::schema::customer_card_sources;

/// A system that answers with a card.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = customer_card_sources)]
#[diesel(check_for_backend(crate::connection::MultiBackend))]
pub struct CardSource {
    pub id: String,
    /// What the card is titled by when the system does not say ("ERP").
    pub name: String,
    pub url: String,
    /// The signing secret, sealed by the caller.
    pub sealed_secret: String,
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub created_by: StaffId,
    #[diesel(deserialize_as = UtcStamp, serialize_as = UtcStamp)]
    pub created_at: DateTime<Utc>,
}

pub fn insert(conn: &mut DbConnection, source: &CardSource) -> Result<(), StoreError> {
    diesel::insert_into(customer_card_sources::table)
        .values(source.clone())
        .execute(conn)?;
    Ok(())
}

/// Every source, oldest first (the order cards are shown in).
pub fn all(conn: &mut DbConnection) -> Result<Vec<CardSource>, StoreError> {
    Ok(customer_card_sources::table
        .order(customer_card_sources::created_at.asc())
        .select(CardSource::as_select())
        .load(conn)?)
}

/// Removes a source; false when there was none.
pub fn remove(conn: &mut DbConnection, id: &str) -> Result<bool, StoreError> {
    Ok(diesel::delete(customer_card_sources::table.find(id)).execute(conn)? == 1)
}
