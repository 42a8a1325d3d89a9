-- Single sign-on through OpenID Connect. One row per sign-in attempt: the
-- state and nonce sent to the identity provider and the PKCE verifier, and
-- after the provider answered, who signed in and the one-time code the
-- browser redeems for a session (stored hashed).
CREATE TABLE sso_attempts (
    state TEXT PRIMARY KEY NOT NULL,
    -- `staff` (the organisation's provider) or `contact` (an account's).
    audience TEXT NOT NULL CHECK (audience IN ('staff', 'contact')),
    account_id TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    -- The hash of a secret in a cookie of the browser that started the
    -- sign-in: only that browser may finish it and redeem its code.
    browser_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    subject_id TEXT,
    handoff_hash TEXT UNIQUE,
    completed_at TIMESTAMP,
    redeemed_at TIMESTAMP
);
CREATE INDEX sso_attempts_created ON sso_attempts (created_at);

-- A client company's own identity provider: its contacts sign in to the
-- portal with their company account. The client secret is sealed with a
-- key from the server's secrets.
CREATE TABLE account_identity_providers (
    account_id TEXT PRIMARY KEY NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    label TEXT NOT NULL,
    -- Contacts of the account may then sign in only through it.
    required BOOLEAN NOT NULL,
    updated_by TEXT NOT NULL REFERENCES staff_users (id),
    updated_at TIMESTAMP NOT NULL
);
