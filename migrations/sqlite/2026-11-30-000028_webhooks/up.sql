-- More kinds of committed changes (integrations need to know a case was
-- opened, which of its fields changed, a rating). The log only holds
-- recent changes, so it is recreated rather than altered.
DROP TABLE committed_changes;
CREATE TABLE committed_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('entry_added', 'entry_updated', 'case_opened', 'case_changed', 'satisfaction_received', 'staff_notice')),
    case_id TEXT,
    entry_id TEXT,
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX committed_changes_created ON committed_changes (created_at);

-- Where admins want events sent (Standard Webhooks): the signing secret is
-- sealed with a key from the server's secrets and shown once.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    -- JSON array of event types.
    events TEXT NOT NULL,
    include_notes BOOLEAN NOT NULL,
    sealed_secret TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    -- Set when deliveries kept failing; admins enable it again.
    disabled_at TIMESTAMP,
    disabled_reason TEXT
);

-- One message per event and endpoint, kept with its attempts.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_attempt_at TIMESTAMP,
    last_status INTEGER,
    last_response TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

-- How far the change log has been turned into deliveries.
CREATE TABLE webhook_cursor (
    name TEXT PRIMARY KEY NOT NULL,
    through_id BIGINT NOT NULL
);

-- Mail to the administrators (a webhook endpoint disabled after failing):
-- a new kind of outgoing mail; the table is rebuilt as in migration 19.
CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert')),
    case_id TEXT REFERENCES cases (id),
    entry_id TEXT REFERENCES case_entries (id),
    message_id TEXT NOT NULL,
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
INSERT INTO outbox_next SELECT id, kind, case_id, entry_id, message_id, recipients, subject, raw,
    status, attempts, next_attempt_at, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
