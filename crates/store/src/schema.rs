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
        address -> Nullable<Text>,
    }
}

diesel::table! {
    teams (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    team_members (team_id, staff_id) {
        team_id -> Text,
        staff_id -> Text,
        role -> Text,
        added_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        name_key -> Text,
        tier -> Text,
        lifecycle -> Text,
        team_id -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        notes -> Text,
        custom_fields -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        external_id -> Nullable<Text>,
        parent_id -> Nullable<Text>,
        team_inherited -> Bool,
    }
}

diesel::table! {
    account_domains (domain) {
        domain -> Text,
        account_id -> Text,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        name_key -> Text,
        phone -> Nullable<Text>,
        function -> Text,
        title -> Nullable<Text>,
        is_primary -> Bool,
        portal_access -> Bool,
        visibility -> Text,
        preferred_channel -> Text,
        password_hash -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        external_id -> Nullable<Text>,
        case_notices -> Text,
    }
}

diesel::table! {
    contact_emails (email, account_id) {
        email -> Text,
        account_id -> Text,
        contact_id -> Text,
        position -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    teams,
    team_members,
    accounts,
    account_domains,
    contacts,
    contact_emails,
    staff_users,
    cases,
    case_participants,
    case_entries
);

diesel::table! {
    staff_invitations (token_hash) {
        token_hash -> Text,
        staff_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    magic_links (token_hash) {
        token_hash -> Text,
        contact_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        address -> Nullable<Text>,
    }
}

diesel::table! {
    mail_account_choices (token_hash) {
        token_hash -> Text,
        inbound_id -> Text,
        contact_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        chosen -> Bool,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        number -> BigInt,
        account_id -> Text,
        opened_by_contact_id -> Nullable<Text>,
        opened_by_staff_id -> Nullable<Text>,
        subject -> Text,
        team_id -> Nullable<Text>,
        assignee_id -> Nullable<Text>,
        status -> Text,
        priority -> Text,
        category -> Nullable<Text>,
        tags -> Text,
        channel -> Text,
        merged_into_id -> Nullable<Text>,
        follows_case_id -> Nullable<Text>,
        reopen_count -> Integer,
        first_response_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        last_activity_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        routing_note -> Nullable<Text>,
    }
}

diesel::table! {
    case_participants (case_id, contact_id) {
        case_id -> Text,
        contact_id -> Text,
    }
}

diesel::table! {
    case_entries (id) {
        id -> Text,
        case_id -> Text,
        account_id -> Text,
        kind -> Text,
        author_kind -> Text,
        author_id -> Nullable<Text>,
        body -> Text,
        client_message_id -> Nullable<Text>,
        created_at -> Timestamp,
        version -> Integer,
        edited_at -> Nullable<Timestamp>,
        redacted_at -> Nullable<Timestamp>,
        seq -> BigInt,
    }
}

diesel::table! {
    attachments (id) {
        id -> Text,
        entry_id -> Text,
        sha256 -> Text,
        size -> BigInt,
        filename -> Text,
        content_type -> Text,
        created_at -> Timestamp,
        redacted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sla_clocks (case_id, clock) {
        case_id -> Text,
        clock -> Text,
        account_id -> Text,
        target_minutes -> Integer,
        started_at -> Timestamp,
        warn_at -> Timestamp,
        due_at -> Timestamp,
        paused_at -> Nullable<Timestamp>,
        stopped_at -> Nullable<Timestamp>,
        warned_at -> Nullable<Timestamp>,
        breached_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    chat_tickets (ticket_hash) {
        ticket_hash -> Text,
        holder_kind -> Text,
        holder_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    chat_read_markers (case_id, reader_kind, reader_id) {
        case_id -> Text,
        reader_kind -> Text,
        reader_id -> Text,
        entry_id -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    chat_offline_digests (case_id) {
        case_id -> Text,
        due_at -> Nullable<Timestamp>,
        sent_through -> Nullable<Text>,
    }
}

diesel::table! {
    mail_awaited_parents (message_id, case_id) {
        message_id -> Text,
        case_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    inbound_mail (id) {
        id -> Text,
        sha256 -> Text,
        message_id -> Nullable<Text>,
        door -> Text,
        envelope_from -> Nullable<Text>,
        envelope_to -> Text,
        size -> BigInt,
        status -> Text,
        outcome -> Nullable<Text>,
        case_id -> Nullable<Text>,
        entry_id -> Nullable<Text>,
        attempts -> Integer,
        received_at -> Timestamp,
        processed_at -> Nullable<Timestamp>,
        acknowledge -> Bool,
    }
}

diesel::table! {
    mail_originals (sha256) {
        sha256 -> Text,
        raw -> Binary,
    }
}

diesel::table! {
    mail_message_ids (message_id) {
        message_id -> Text,
        case_id -> Text,
        entry_id -> Nullable<Text>,
        direction -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    entry_emails (entry_id) {
        entry_id -> Text,
        inbound_id -> Nullable<Text>,
        message_id -> Text,
        from_address -> Text,
        to_addresses -> Text,
        cc_addresses -> Text,
        subject -> Text,
        html -> Nullable<Text>,
        collapsed -> Bool,
        full_text -> Text,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        case_id -> Nullable<Text>,
        entry_id -> Nullable<Text>,
        message_id -> Text,
        recipients -> Text,
        subject -> Text,
        raw -> Binary,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    entry_versions (entry_id, version) {
        entry_id -> Text,
        version -> Integer,
        body -> Text,
        body_sha256 -> Text,
        written_by_kind -> Text,
        written_by_id -> Nullable<Text>,
        written_at -> Timestamp,
        redacted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    redactions (id) {
        id -> Text,
        target_kind -> Text,
        target_id -> Text,
        case_id -> Text,
        removed_sha256 -> Text,
        reason -> Text,
        redacted_by -> Text,
        redacted_at -> Timestamp,
    }
}

diesel::table! {
    articles (id) {
        id -> Text,
        title -> Text,
        body -> Text,
        category -> Nullable<Text>,
        tags -> Text,
        visibility -> Text,
        status -> Text,
        revision -> Integer,
        created_by -> Text,
        updated_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        published_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    article_audiences (article_id, kind, value) {
        article_id -> Text,
        kind -> Text,
        value -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(articles, article_audiences);

diesel::table! {
    kb_suggestions (id) {
        id -> Text,
        contact_id -> Text,
        account_id -> Text,
        query -> Text,
        article_ids -> Text,
        outcome -> Text,
        helpful_article_id -> Nullable<Text>,
        case_id -> Nullable<Text>,
        created_at -> Timestamp,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    canned_responses (id) {
        id -> Text,
        team_id -> Nullable<Text>,
        title -> Text,
        body -> Text,
        created_by -> Text,
        updated_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        actions -> Text,
    }
}

diesel::table! {
    csat_surveys (id) {
        id -> Text,
        case_id -> Text,
        account_id -> Text,
        team_id -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        requested_at -> Timestamp,
        expires_at -> Timestamp,
        rating -> Nullable<Integer>,
        comment -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        answered_by -> Nullable<Text>,
        answered_via -> Nullable<Text>,
    }
}

diesel::table! {
    appointments (id) {
        id -> Text,
        case_id -> Text,
        account_id -> Text,
        title -> Text,
        note -> Text,
        slots -> Text,
        proposed_by_kind -> Text,
        proposed_by_id -> Text,
        status -> Text,
        starts_at -> Nullable<Timestamp>,
        ends_at -> Nullable<Timestamp>,
        booked_by_kind -> Nullable<Text>,
        booked_by_id -> Nullable<Text>,
        created_at -> Timestamp,
        booked_at -> Nullable<Timestamp>,
        cancelled_at -> Nullable<Timestamp>,
        client_request_id -> Nullable<Text>,
    }
}

diesel::table! {
    case_waits (case_id) {
        case_id -> Text,
        since -> Timestamp,
    }
}

diesel::table! {
    case_responses (id) {
        id -> Text,
        case_id -> Text,
        account_id -> Text,
        team_id -> Nullable<Text>,
        agent_id -> Nullable<Text>,
        kind -> Text,
        waited_seconds -> BigInt,
        responded_at -> Timestamp,
    }
}
diesel::allow_tables_to_appear_in_same_query!(cases, sla_clocks);

diesel::table! {
    committed_changes (id) {
        id -> BigInt,
        origin -> Text,
        kind -> Text,
        case_id -> Nullable<Text>,
        entry_id -> Nullable<Text>,
        data -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    staff_totp (staff_id) {
        staff_id -> Text,
        sealed_secret -> Text,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    staff_recovery_codes (staff_id, code_sha256) {
        staff_id -> Text,
        code_sha256 -> Text,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        url -> Text,
        events -> Text,
        include_notes -> Bool,
        sealed_secret -> Text,
        created_by -> Text,
        created_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_attempt_at -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_response -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_cursor (name) {
        name -> Text,
        through_id -> BigInt,
    }
}

diesel::table! {
    audit_tree_leaves (position) {
        position -> BigInt,
        event_id -> Text,
        leaf_hash -> Text,
    }
}

diesel::table! {
    audit_checkpoints (tree_size) {
        tree_size -> BigInt,
        root_hash -> Text,
        created_at -> Timestamp,
        key_id -> Text,
        signature -> Text,
    }
}

diesel::table! {
    shared_secrets (name) {
        name -> Text,
        fingerprint -> Text,
        created_at -> Timestamp,
    }
}
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_endpoints);

diesel::table! {
    sso_attempts (state) {
        state -> Text,
        audience -> Text,
        account_id -> Nullable<Text>,
        nonce -> Text,
        verifier -> Text,
        return_to -> Text,
        browser_hash -> Text,
        created_at -> Timestamp,
        subject_id -> Nullable<Text>,
        handoff_hash -> Nullable<Text>,
        completed_at -> Nullable<Timestamp>,
        redeemed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    account_identity_providers (account_id) {
        account_id -> Text,
        issuer -> Text,
        client_id -> Text,
        sealed_secret -> Text,
        label -> Text,
        required -> Bool,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_card_sources (id) {
        id -> Text,
        name -> Text,
        url -> Text,
        sealed_secret -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    role_policies (role) {
        role -> Text,
        totp_required -> Bool,
        updated_by -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    case_categories (name) {
        name -> Text,
        functions -> Text,
        skill -> Nullable<Text>,
        updated_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    staff_skills (staff_id, skill) {
        staff_id -> Text,
        skill -> Text,
    }
}

diesel::table! {
    case_notices_pending (id) {
        id -> Text,
        contact_id -> Text,
        case_id -> Text,
        event -> Text,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}
