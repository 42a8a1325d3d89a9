-- Named counters handed out under a row lock (human case numbers).
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('case_number', 1000);

-- A case: one long-running thread of one account.
CREATE TABLE cases (
    id TEXT PRIMARY KEY NOT NULL,
    number BIGINT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    opened_by_contact_id TEXT REFERENCES contacts (id),
    opened_by_staff_id TEXT REFERENCES staff_users (id),
    subject TEXT NOT NULL,
    team_id TEXT REFERENCES teams (id),
    assignee_id TEXT REFERENCES staff_users (id),
    status TEXT NOT NULL CHECK (status IN ('new', 'open', 'pending_client', 'pending_internal', 'resolved', 'closed')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    category TEXT,
    -- JSON array of strings.
    tags TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('chat', 'email', 'portal', 'phone', 'api')),
    merged_into_id TEXT REFERENCES cases (id),
    -- A case opened by a reply to a case closed long ago points to it.
    follows_case_id TEXT REFERENCES cases (id),
    reopen_count INTEGER NOT NULL,
    first_response_at TIMESTAMP,
    resolved_at TIMESTAMP,
    closed_at TIMESTAMP,
    last_activity_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX cases_account ON cases (account_id, id);
CREATE INDEX cases_assignee ON cases (assignee_id, status);
CREATE INDEX cases_team ON cases (team_id, status);

-- Contacts of the account who take part in a case besides its opener.
CREATE TABLE case_participants (
    case_id TEXT NOT NULL REFERENCES cases (id),
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    PRIMARY KEY (case_id, contact_id)
);
CREATE INDEX case_participants_contact ON case_participants (contact_id);

-- The thread: every entry of every channel, in one order (ids are UUIDv7).
CREATE TABLE case_entries (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- The account, kept here so the account timeline reads one index.
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('chat', 'email_in', 'email_out', 'portal', 'note', 'event')),
    author_kind TEXT NOT NULL CHECK (author_kind IN ('staff', 'contact', 'system')),
    author_id TEXT,
    body TEXT NOT NULL,
    -- The client's id for this message: a retried post stores one entry.
    client_message_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX case_entries_case ON case_entries (case_id, id);
CREATE INDEX case_entries_account ON case_entries (account_id, id);
CREATE UNIQUE INDEX case_entries_client_message ON case_entries (author_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
