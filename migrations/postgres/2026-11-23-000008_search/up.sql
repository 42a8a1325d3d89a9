-- Full-text index over case subjects and thread entries (tsvector + GIN,
-- the language-neutral 'simple' configuration, as FTS5's unicode61 on
-- SQLite). Kept in step by triggers, so every writer indexes alike.
CREATE TABLE search_documents (
    doc_id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX search_documents_tsv ON search_documents USING GIN (tsv);
CREATE INDEX search_documents_account ON search_documents (account_id, doc_id);

CREATE FUNCTION case_entries_search_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.kind <> 'event' THEN
            INSERT INTO search_documents (doc_id, case_id, account_id, kind, text, created_at)
            VALUES (NEW.id, NEW.case_id, NEW.account_id, NEW.kind, NEW.body, NEW.created_at);
        END IF;
    ELSE
        UPDATE search_documents SET case_id = NEW.case_id WHERE doc_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_entries_search_sync
AFTER INSERT ON case_entries
FOR EACH ROW EXECUTE FUNCTION case_entries_search_sync();

CREATE TRIGGER case_entries_search_move
AFTER UPDATE OF case_id ON case_entries
FOR EACH ROW WHEN (OLD.case_id IS DISTINCT FROM NEW.case_id)
EXECUTE FUNCTION case_entries_search_sync();

CREATE FUNCTION cases_search_sync() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO search_documents (doc_id, case_id, account_id, kind, text, created_at)
        VALUES (NEW.id, NEW.id, NEW.account_id, 'subject', NEW.subject, NEW.created_at);
    ELSE
        UPDATE search_documents SET text = NEW.subject WHERE doc_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER cases_search_sync
AFTER INSERT ON cases
FOR EACH ROW EXECUTE FUNCTION cases_search_sync();

-- Saving a case sets every column; only a real subject change re-indexes.
CREATE TRIGGER cases_search_subject
AFTER UPDATE OF subject ON cases
FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject)
EXECUTE FUNCTION cases_search_sync();
