-- Files attached to thread entries. The content lives once per SHA-256
-- under <data_dir>/attachments/; this is its metadata.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY NOT NULL,
    entry_id TEXT NOT NULL REFERENCES case_entries (id),
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    filename TEXT NOT NULL,
    -- Sniffed from the content, never taken from the client.
    content_type TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_entry ON attachments (entry_id);
