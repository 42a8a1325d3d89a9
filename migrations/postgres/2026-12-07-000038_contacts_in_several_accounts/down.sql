DROP TABLE mail_account_choices;
ALTER TABLE magic_links DROP COLUMN address;
ALTER TABLE refresh_tokens DROP COLUMN address;
-- Only the first account of an address keeps it.
DELETE FROM contact_emails a USING contact_emails b
    WHERE a.email = b.email AND a.account_id > b.account_id;
ALTER TABLE contact_emails DROP CONSTRAINT contact_emails_pkey;
ALTER TABLE contact_emails DROP COLUMN account_id;
ALTER TABLE contact_emails ADD PRIMARY KEY (email);
