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

CREATE TRIGGER case_entries_search_insert AFTER INSERT ON case_entries
WHEN NEW.kind <> 'event'
BEGIN
    INSERT INTO search_fts (text, doc_id, case_id, account_id, kind, created_at)
    VALUES (NEW.body, NEW.id, NEW.case_id, NEW.account_id, NEW.kind, NEW.created_at);
END;

CREATE TRIGGER case_entries_search_move AFTER UPDATE OF case_id ON case_entries
BEGIN
    UPDATE search_fts SET case_id = NEW.case_id WHERE doc_id = NEW.id;
END;

CREATE TRIGGER cases_search_insert AFTER INSERT ON cases
BEGIN
    INSERT INTO search_fts (text, doc_id, case_id, account_id, kind, created_at)
    VALUES (NEW.subject, NEW.id, NEW.id, NEW.account_id, 'subject', NEW.created_at);
END;

CREATE TRIGGER cases_search_subject AFTER UPDATE OF subject ON cases
BEGIN
    UPDATE search_fts SET text = NEW.subject WHERE doc_id = NEW.id;
END;
