-- Teams of agents; an agent can be in several.
CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- Lowercased name: team names are unique regardless of case.
    name_key TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    staff_id TEXT NOT NULL REFERENCES staff_users (id),
    role TEXT NOT NULL CHECK (role IN ('lead', 'member')),
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id, staff_id)
);
CREATE INDEX team_members_staff ON team_members (staff_id);

-- Client companies.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- Lowercased name, for case-insensitive search.
    name_key TEXT NOT NULL,
    tier TEXT NOT NULL,
    lifecycle TEXT NOT NULL CHECK (lifecycle IN ('prospect', 'onboarding', 'customer', 'churned')),
    -- The dedicated team.
    team_id TEXT REFERENCES teams (id),
    owner_id TEXT REFERENCES staff_users (id),
    notes TEXT NOT NULL,
    -- JSON object.
    custom_fields TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX accounts_team ON accounts (team_id);
CREATE INDEX accounts_name ON accounts (name_key);

-- Email domains place unknown senders; a domain belongs to one account.
CREATE TABLE account_domains (
    domain TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id)
);
CREATE INDEX account_domains_account ON account_domains (account_id);

-- People at client companies.
CREATE TABLE contacts (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    phone TEXT,
    function TEXT NOT NULL CHECK (function IN ('finance', 'operations', 'technical', 'executive', 'other')),
    title TEXT,
    is_primary BOOLEAN NOT NULL,
    portal_access BOOLEAN NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('own_cases', 'all_account_cases')),
    preferred_channel TEXT NOT NULL CHECK (preferred_channel IN ('email', 'chat', 'portal', 'phone')),
    -- argon2id PHC string; NULL until the contact chooses a password.
    password_hash TEXT,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX contacts_account ON contacts (account_id);

-- A contact's addresses, lowercased, unique across the installation.
CREATE TABLE contact_emails (
    email TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    position INTEGER NOT NULL
);
CREATE INDEX contact_emails_contact ON contact_emails (contact_id);
