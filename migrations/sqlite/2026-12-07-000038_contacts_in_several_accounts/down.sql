DROP TABLE mail_account_choices;
ALTER TABLE magic_links DROP COLUMN address;
ALTER TABLE refresh_tokens DROP COLUMN address;
-- Only the first account of an address keeps it.
CREATE TABLE contact_emails_unique (
    email TEXT PRIMARY KEY NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    position INTEGER NOT NULL
);
INSERT OR IGNORE INTO contact_emails_unique (email, contact_id, position)
    SELECT email, contact_id, position FROM contact_emails ORDER BY account_id;
DROP TABLE contact_emails;
ALTER TABLE contact_emails_unique RENAME TO contact_emails;
CREATE INDEX contact_emails_contact ON contact_emails (contact_id);
