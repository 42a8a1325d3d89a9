-- Contact functions drive visibility, notices and routing.

-- A contact may see every case of their account in a category that
-- concerns their function.
ALTER TABLE contacts DROP CONSTRAINT contacts_visibility_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_visibility_check
    CHECK (visibility IN ('own_cases', 'all_account_cases', 'function_cases'));
-- How a contact hears of cases opened and resolved in the categories of
-- their function: each event, a daily digest, or not at all.
ALTER TABLE contacts ADD COLUMN case_notices TEXT NOT NULL DEFAULT 'each'
    CHECK (case_notices IN ('each', 'digest', 'off'));
-- Contacts who were there before never asked for such emails: theirs start
-- off; new contacts hear of each case (when they may see it).
UPDATE contacts SET case_notices = 'off';

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

-- Mail telling contacts of cases of their function: a new kind of outgoing mail.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert', 'audit_witness', 'case_notice'));
