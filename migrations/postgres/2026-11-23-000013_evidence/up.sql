-- Nothing said is overwritten: an edited entry keeps every version, and a
-- redaction leaves a tombstone (who, when, why, the SHA-256 of what went).
ALTER TABLE case_entries ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE case_entries ADD COLUMN edited_at TIMESTAMP;
ALTER TABLE case_entries ADD COLUMN redacted_at TIMESTAMP;
ALTER TABLE attachments ADD COLUMN redacted_at TIMESTAMP;

-- Every version of an edited entry, the current one included.
CREATE TABLE entry_versions (
    entry_id TEXT NOT NULL REFERENCES case_entries (id),
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    written_by_kind TEXT NOT NULL CHECK (written_by_kind IN ('staff', 'contact', 'system')),
    written_by_id TEXT,
    written_at TIMESTAMP NOT NULL,
    redacted_at TIMESTAMP,
    PRIMARY KEY (entry_id, version)
);

CREATE TABLE redactions (
    id TEXT PRIMARY KEY NOT NULL,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('entry', 'attachment')),
    target_id TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    -- JSON array of the SHA-256 of every removed content.
    removed_sha256 TEXT NOT NULL,
    reason TEXT NOT NULL,
    redacted_by TEXT NOT NULL,
    redacted_at TIMESTAMP NOT NULL
);
CREATE INDEX redactions_target ON redactions (target_kind, target_id);

-- An edit or a redaction re-indexes the entry (a redacted body is empty).
CREATE FUNCTION case_entries_search_body() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_documents SET text = NEW.body WHERE doc_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_entries_search_body
AFTER UPDATE OF body ON case_entries
FOR EACH ROW WHEN (OLD.body IS DISTINCT FROM NEW.body)
EXECUTE FUNCTION case_entries_search_body();
