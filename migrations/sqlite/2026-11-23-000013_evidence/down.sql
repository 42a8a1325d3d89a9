DROP TRIGGER case_entries_search_body;
DROP TABLE redactions;
DROP TABLE entry_versions;
ALTER TABLE attachments DROP COLUMN redacted_at;
ALTER TABLE case_entries DROP COLUMN redacted_at;
ALTER TABLE case_entries DROP COLUMN edited_at;
ALTER TABLE case_entries DROP COLUMN version;
