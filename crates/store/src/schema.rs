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

diesel::table! {
    /// Head of each audit stream: the last event's seq, hash and time.
    audit_streams (stream) {
        stream -> Text,
        account_id -> Nullable<Text>,
        head_seq -> BigInt,
        head_hash -> Text,
        head_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The append-only audit log (triggers refuse UPDATE and DELETE).
    audit_events (stream, seq) {
        stream -> Text,
        seq -> BigInt,
        id -> Text,
        at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        subject_kind -> Text,
        subject_id -> Nullable<Text>,
        data -> Text,
        prev -> Text,
        hash -> Text,
    }
}

diesel::joinable!(audit_events -> audit_streams (stream));
diesel::allow_tables_to_appear_in_same_query!(audit_streams, audit_events);

diesel::table! {
    staff_users (id) {
        id -> Text,
        email -> Text,
        name -> Text,
        display_name -> Text,
        avatar_url -> Nullable<Text>,
        role -> Text,
        active -> Bool,
        password_hash -> Text,
        password_change_required -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        subject_kind -> Text,
        subject_id -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        spent_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}
