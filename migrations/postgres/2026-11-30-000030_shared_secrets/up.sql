-- A fingerprint of the secrets every node must share (the token signing
-- secret and the audit key): a node started with other secrets refuses to
-- run instead of signing tokens and exports the others reject.
CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
