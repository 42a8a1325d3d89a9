-- Account groups: a subsidiary names its parent company. Its dedicated
-- team may follow the parent's (team_inherited: team_id is kept equal to
-- the parent's, by the use cases that change either).
ALTER TABLE accounts ADD COLUMN parent_id TEXT REFERENCES accounts (id);
ALTER TABLE accounts ADD COLUMN team_inherited BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX accounts_parent ON accounts (parent_id);
