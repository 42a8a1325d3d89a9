-- Full-text index over case subjects and thread entries (FTS5). Kept in
-- step by triggers, so every writer indexes alike.
CREATE VIRTUAL TABLE search_fts USING fts5(
    text,
    doc_id UNINDEXED,
    case_id UNINDEXED,
    account_id UNINDEXED,
    kind UNINDEXED,
    created_at UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- An entry's index row shares its rowid; a case subject's is the negated
-- rowid of the case. Updates then find their row by key, not by scanning.
CREATE TRIGGER case_entries_search_insert AFTER INSERT ON case_entries
WHEN NEW.kind <> 'event'
BEGIN
    INSERT INTO search_fts (rowid, text, doc_id, case_id, account_id, kind, created_at)
    VALUES (NEW.rowid, NEW.body, NEW.id, NEW.case_id, NEW.account_id, NEW.kind, NEW.created_at);
END;

CREATE TRIGGER case_entries_search_move AFTER UPDATE OF case_id ON case_entries
WHEN NEW.case_id <> OLD.case_id
BEGIN
    UPDATE search_fts SET case_id = NEW.case_id WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER cases_search_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO search_fts (rowid, text, doc_id, case_id, account_id, kind, created_at)
    VALUES (-NEW.rowid, NEW.subject, NEW.id, NEW.id, NEW.account_id, 'subject', NEW.created_at);
END;

-- SQLite fires UPDATE OF for every update that sets the column, changed or
-- not: only a real change may touch the index.
CREATE TRIGGER cases_search_subject AFTER UPDATE OF subject ON cases
WHEN NEW.subject <> OLD.subject
BEGIN
    UPDATE search_fts SET text = NEW.subject WHERE rowid = -NEW.rowid;
END;
