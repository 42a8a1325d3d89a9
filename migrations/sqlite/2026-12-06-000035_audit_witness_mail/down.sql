DELETE FROM outbox WHERE kind = 'audit_witness';
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
