-- Each entry's place in its case's thread, gap-free from 1 and in commit
-- order: a chat connection delivers a case's entries strictly in this
-- order, so a client that resumes from the last entry it saw misses none.
ALTER TABLE case_entries ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE case_entries SET seq = numbered.seq
FROM (
    SELECT id, ROW_NUMBER() OVER (PARTITION BY case_id ORDER BY id) AS seq
    FROM case_entries
) AS numbered
WHERE case_entries.id = numbered.id;
CREATE UNIQUE INDEX case_entries_seq ON case_entries (case_id, seq);
ALTER TABLE case_entries ALTER COLUMN seq DROP DEFAULT;
