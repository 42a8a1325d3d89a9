-- Inbound mail as received. The raw bytes are spooled (fsynced) under
-- <data_dir>/mail/spool/, named by their SHA-256, before a door says yes;
-- the hash makes a redelivery of the same bytes a no-op.
CREATE TABLE inbound_mail (
    id TEXT PRIMARY KEY NOT NULL,
    sha256 TEXT NOT NULL,
    -- Without angle brackets; NULL when the message has none.
    message_id TEXT,
    door TEXT NOT NULL CHECK (door IN ('lmtp', 'http', 'import')),
    envelope_from TEXT,
    -- JSON array of the envelope recipients.
    envelope_to TEXT NOT NULL,
    size BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'threaded', 'ignored', 'bounce', 'quarantined')),
    -- What processing did or why it stopped, in words.
    outcome TEXT,
    case_id TEXT REFERENCES cases (id),
    entry_id TEXT REFERENCES case_entries (id),
    attempts INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL,
    processed_at TIMESTAMP
);
CREATE UNIQUE INDEX inbound_mail_sha256 ON inbound_mail (sha256);
CREATE INDEX inbound_mail_message_id ON inbound_mail (message_id);
CREATE INDEX inbound_mail_status ON inbound_mail (status, id);

-- The Message-ID of every email into or out of a case: replies thread by
-- In-Reply-To and References.
CREATE TABLE mail_message_ids (
    message_id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    entry_id TEXT REFERENCES case_entries (id),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX mail_message_ids_case ON mail_message_ids (case_id, created_at);

-- What an email thread entry was: addresses, subject, sanitised HTML and
-- the whole text before quoted history was collapsed.
CREATE TABLE entry_emails (
    entry_id TEXT PRIMARY KEY NOT NULL REFERENCES case_entries (id),
    inbound_id TEXT REFERENCES inbound_mail (id),
    message_id TEXT NOT NULL,
    from_address TEXT NOT NULL,
    -- JSON arrays of addresses.
    to_addresses TEXT NOT NULL,
    cc_addresses TEXT NOT NULL,
    subject TEXT NOT NULL,
    html TEXT,
    collapsed BOOLEAN NOT NULL,
    full_text TEXT NOT NULL
);

-- Outgoing mail, written in the transaction of the change that causes it
-- and sent by a worker; several nodes never take the same row.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply')),
    case_id TEXT REFERENCES cases (id),
    entry_id TEXT REFERENCES case_entries (id),
    message_id TEXT NOT NULL,
    -- JSON array of addresses.
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    raw BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
