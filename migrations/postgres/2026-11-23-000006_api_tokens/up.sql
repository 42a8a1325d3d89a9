-- Tokens for integrations, stored as SHA-256 only; shown once at creation.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    -- Space-separated scopes such as "audit:read directory:read".
    scopes TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked_at TIMESTAMP
);
