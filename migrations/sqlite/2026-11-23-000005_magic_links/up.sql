-- One-time sign-in links for contacts, stored as SHA-256 only.
CREATE TABLE magic_links (
    token_hash TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX magic_links_contact ON magic_links (contact_id);
