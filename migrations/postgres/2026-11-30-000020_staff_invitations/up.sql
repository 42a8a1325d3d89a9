-- Invitations for new staff: a single-use link to choose a first password,
-- mailed by the admin who adds them. Only the token's hash is kept.
CREATE TABLE staff_invitations (
    token_hash TEXT PRIMARY KEY NOT NULL,
    staff_id TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX staff_invitations_staff ON staff_invitations (staff_id);
