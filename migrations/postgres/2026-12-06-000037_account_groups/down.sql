DROP INDEX accounts_parent;
ALTER TABLE accounts DROP COLUMN team_inherited;
ALTER TABLE accounts DROP COLUMN parent_id;
