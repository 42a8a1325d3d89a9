-- One-time tickets that open a chat websocket (30 s, single use), stored
-- as SHA-256 only, so long-lived tokens never appear in URLs.
CREATE TABLE chat_tickets (
    ticket_hash TEXT PRIMARY KEY NOT NULL,
    -- 'staff' or 'contact'.
    holder_kind TEXT NOT NULL CHECK (holder_kind IN ('staff', 'contact')),
    holder_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX chat_tickets_expiry ON chat_tickets (expires_at);

-- How far each reader has read each case's thread.
CREATE TABLE chat_read_markers (
    case_id TEXT NOT NULL REFERENCES cases (id),
    reader_kind TEXT NOT NULL CHECK (reader_kind IN ('staff', 'contact')),
    reader_id TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (case_id, reader_kind, reader_id)
);
