-- What each write committed, recorded in the same transaction and
-- numbered as written: the one source every consumer of changes reads
-- after commit (live chat on every node, staff notifications, and
-- integrations to come). Nodes announce only the newest id; the others
-- read what they have not seen.
CREATE TABLE committed_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    -- The server process that committed it (it delivers its own at once).
    origin TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('entry_added', 'entry_updated', 'case_changed', 'staff_notice')),
    case_id TEXT,
    entry_id TEXT,
    -- JSON: what the kind needs beyond the ids (a notification's text).
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX committed_changes_created ON committed_changes (created_at);
