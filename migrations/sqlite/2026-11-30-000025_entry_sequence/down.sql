DROP INDEX case_entries_seq;
ALTER TABLE case_entries DROP COLUMN seq;
