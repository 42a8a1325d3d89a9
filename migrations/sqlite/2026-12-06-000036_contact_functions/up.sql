-- Contact functions drive visibility, notices and routing.

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
    visibility TEXT NOT NULL CHECK (visibility IN ('own_cases', 'all_account_cases', 'function_cases')),
    preferred_channel TEXT NOT NULL CHECK (preferred_channel IN ('email', 'chat', 'portal', 'phone')),
    -- argon2id PHC string; NULL until the contact chooses a password.
    password_hash TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    external_id TEXT,
    -- How a contact hears of cases opened and resolved in the categories
    -- of their function: each event, a daily digest, or not at all.
    case_notices TEXT NOT NULL DEFAULT 'each' CHECK (case_notices IN ('each', 'digest', 'off'))
);
CREATE INDEX contacts_account ON contacts (account_id);
CREATE UNIQUE INDEX contacts_external_id ON contacts (external_id);
-- Contacts who were there before never asked for such emails: theirs start
-- off; new contacts hear of each case (when they may see it).
INSERT INTO contacts (id, account_id, name, name_key, phone, function, title, is_primary, portal_access, visibility, preferred_channel, password_hash, active, created_at, updated_at, external_id, case_notices)
    SELECT id, account_id, name, name_key, phone, function, title, is_primary, portal_access, visibility, preferred_channel, password_hash, active, created_at, updated_at, external_id, 'off' FROM contacts_copy;
DROP TABLE contacts_copy;

-- What each case category concerns on both sides: the client's contact
-- functions it matters to, and the staff skill that answers it. A
-- configured category without a row concerns nobody and needs no skill.
CREATE TABLE case_categories (
    name TEXT PRIMARY KEY NOT NULL,
    -- JSON array of contact functions, e.g. ["finance"].
    functions TEXT NOT NULL,
    skill TEXT,
    updated_by TEXT REFERENCES staff_users (id),
    updated_at TIMESTAMP NOT NULL
);
INSERT INTO case_categories (name, functions, skill, updated_by, updated_at) VALUES
    ('billing', '["finance"]', 'billing', NULL, CURRENT_TIMESTAMP),
    ('technical', '["technical","operations"]', 'technical', NULL, CURRENT_TIMESTAMP),
    ('orders', '["operations"]', 'orders', NULL, CURRENT_TIMESTAMP),
    ('appointments', '["operations"]', NULL, NULL, CURRENT_TIMESTAMP),
    ('access', '["technical"]', 'technical', NULL, CURRENT_TIMESTAMP),
    ('contract', '["executive","finance"]', 'contract', NULL, CURRENT_TIMESTAMP);

-- What a staff member is good at answering (billing, technical...).
CREATE TABLE staff_skills (
    staff_id TEXT NOT NULL REFERENCES staff_users (id),
    skill TEXT NOT NULL,
    PRIMARY KEY (staff_id, skill)
);
CREATE INDEX staff_skills_skill ON staff_skills (skill);

-- Why a case went to its team and assignee, for the team to read
-- ("Routed to Ana in Key Accounts: billing skill; ...").
ALTER TABLE cases ADD COLUMN routing_note TEXT;

-- Cases opened and resolved, waiting for the daily digest of contacts who
-- chose one; the digest claims them (sent_at) and queues its email in one
-- transaction.
CREATE TABLE case_notices_pending (
    id TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    case_id TEXT NOT NULL REFERENCES cases (id),
    event TEXT NOT NULL CHECK (event IN ('opened', 'resolved')),
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX case_notices_pending_due ON case_notices_pending (sent_at, created_at);

-- Mail telling contacts of cases of their function: a new kind of
-- outgoing mail; the table is rebuilt as in migration 19.
CREATE TABLE outbox_next (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert', 'audit_witness', 'case_notice')),
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
