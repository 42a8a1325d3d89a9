DELETE FROM committed_changes
    WHERE kind IN ('account_added', 'account_changed', 'contact_added', 'contact_changed', 'staff_changed');
CREATE TABLE committed_changes_old (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('entry_added', 'entry_updated', 'case_opened', 'case_changed', 'satisfaction_received', 'staff_notice')),
    case_id TEXT,
    entry_id TEXT,
    data TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO committed_changes_old (id, origin, kind, case_id, entry_id, data, created_at)
    SELECT id, origin, kind, case_id, entry_id, data, created_at FROM committed_changes;
-- The ids go on from where they were (consumers remember ids; an empty
-- log would otherwise start again at 1).
DELETE FROM sqlite_sequence WHERE name = 'committed_changes_old';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'committed_changes_old', seq FROM sqlite_sequence WHERE name = 'committed_changes';
DROP TABLE committed_changes;
ALTER TABLE committed_changes_old RENAME TO committed_changes;
CREATE INDEX committed_changes_created ON committed_changes (created_at);
