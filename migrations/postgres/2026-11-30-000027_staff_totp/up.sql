-- A staff member's second factor: a TOTP secret (sealed with a key from
-- the server's secrets, never stored as it is), confirmed once a first
-- code was typed, and the last step used (a code works once).
CREATE TABLE staff_totp (
    staff_id TEXT PRIMARY KEY NOT NULL REFERENCES staff_users (id),
    sealed_secret TEXT NOT NULL,
    confirmed_at TIMESTAMP,
    last_step BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- Single-use recovery codes, by SHA-256.
CREATE TABLE staff_recovery_codes (
    staff_id TEXT NOT NULL REFERENCES staff_users (id),
    code_sha256 TEXT NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (staff_id, code_sha256)
);
