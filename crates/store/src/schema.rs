//! Table definitions shared by both backends. Only types that diesel's
//! `MultiConnection` carries appear here: ids and JSON are `Text`, times
//! are UTC `Timestamp`.

diesel::table! {
    /// This installation: one row, created by the first start.
    instance (singleton) {
        singleton -> Integer,
        id -> Text,
        created_at -> Timestamp,
    }
}
