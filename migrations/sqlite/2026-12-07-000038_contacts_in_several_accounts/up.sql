-- One person may be a contact of several accounts (an outside accountant,
-- a group's shared services): an address is unique per account, not
-- across the installation. A contact never changes account, so the
-- account is kept beside each address to enforce that.
CREATE TABLE contact_emails_by_account (
    email TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (email, account_id)
);
INSERT INTO contact_emails_by_account (email, account_id, contact_id, position)
    SELECT e.email, c.account_id, e.contact_id, e.position
    FROM contact_emails e JOIN contacts c ON c.id = e.contact_id;
DROP TABLE contact_emails;
ALTER TABLE contact_emails_by_account RENAME TO contact_emails;
CREATE INDEX contact_emails_contact ON contact_emails (contact_id);

-- The address a sign-in was proven with (the link went to it, the code or
-- password was typed with it): a person acts for the companies whose
-- contact has that address, and for no other.
ALTER TABLE refresh_tokens ADD COLUMN address TEXT;
ALTER TABLE magic_links ADD COLUMN address TEXT;

-- Mail from a person of several accounts that nothing threads: held until
-- they choose, by a link in our automatic reply, which company it is for.
-- One row per membership offered; the token is stored as SHA-256 only.
CREATE TABLE mail_account_choices (
    token_hash TEXT PRIMARY KEY NOT NULL,
    inbound_id TEXT NOT NULL REFERENCES inbound_mail (id),
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    -- The one link followed; the message is then filed as its contact.
    chosen BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX mail_account_choices_inbound ON mail_account_choices (inbound_id);
