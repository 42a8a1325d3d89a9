-- The support organisation's people.
CREATE TABLE staff_users (
    id TEXT PRIMARY KEY NOT NULL,
    -- Lowercased; unique across the installation.
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    avatar_url TEXT,
    role TEXT NOT NULL CHECK (role IN ('admin', 'agent', 'auditor')),
    active BOOLEAN NOT NULL,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    -- Set for one-time passwords: the first sign-in must choose a new one.
    password_change_required BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Opaque refresh tokens, stored as SHA-256 only. Each use spends the token
-- and issues the next of its family; a spent token used again revokes the
-- whole family (it was stolen or replayed).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('staff', 'contact')),
    subject_id TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject_kind, subject_id);
