-- The id a client company or person has in the supplier's other systems
-- (CRM, ERP, billing), for matching; unique where set.
ALTER TABLE accounts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX accounts_external_id ON accounts (external_id);
ALTER TABLE contacts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contacts_external_id ON contacts (external_id);

-- Customer cards: URLs of the supplier's systems that Rapport asks, signed,
-- for what they know of a case's account and contact; shown beside the case.
CREATE TABLE customer_card_sources (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL
);
