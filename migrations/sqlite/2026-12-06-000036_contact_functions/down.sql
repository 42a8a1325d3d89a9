DELETE FROM outbox WHERE kind = 'case_notice';
CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert', 'audit_witness')),
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
DROP TABLE case_notices_pending;
ALTER TABLE cases DROP COLUMN routing_note;
DROP TABLE staff_skills;
DROP TABLE case_categories;
-- SQLite cannot change a CHECK in place: the table is rebuilt. Other
-- tables reference contacts, so their checks wait for the commit, when
-- every contact is back under the same id.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE contacts_copy AS SELECT * FROM contacts;
DROP TABLE contacts;
CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    phone TEXT,
    function TEXT NOT NULL CHECK (function IN ('finance', 'operations', 'technical', 'executive', 'other')),
    title TEXT,
    is_primary BOOLEAN NOT NULL,
    portal_access BOOLEAN NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('own_cases', 'all_account_cases')),
    preferred_channel TEXT NOT NULL CHECK (preferred_channel IN ('email', 'chat', 'portal', 'phone')),
    -- argon2id PHC string; NULL until the contact chooses a password.
    password_hash TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    external_id TEXT
);
CREATE INDEX contacts_account ON contacts (account_id);
CREATE UNIQUE INDEX contacts_external_id ON contacts (external_id);
INSERT INTO contacts (id, account_id, name, name_key, phone, function, title, is_primary, portal_access, visibility, preferred_channel, password_hash, active, created_at, updated_at, external_id)
    SELECT id, account_id, name, name_key, phone, function, title, is_primary, portal_access,
        CASE visibility WHEN 'function_cases' THEN 'own_cases' ELSE visibility END,
        preferred_channel, password_hash, active, created_at, updated_at, external_id
    FROM contacts_copy;
DROP TABLE contacts_copy;
