DROP TABLE contact_emails;
DROP TABLE contacts;
DROP TABLE account_domains;
DROP TABLE accounts;
DROP TABLE team_members;
DROP TABLE teams;
