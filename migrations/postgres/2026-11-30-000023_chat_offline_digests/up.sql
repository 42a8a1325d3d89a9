-- The email that tells a contact who left the chat what the team answered:
-- one per absence, carrying every answer the contact has not read.
CREATE TABLE chat_offline_digests (
    case_id TEXT PRIMARY KEY REFERENCES cases (id),
    -- When the waiting digest goes out; NULL while none waits.
    due_at TIMESTAMP,
    -- The newest entry an earlier digest carried: never sent twice.
    sent_through TEXT
);
CREATE INDEX chat_offline_digests_due ON chat_offline_digests (due_at);
