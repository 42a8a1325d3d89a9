-- Answers agents insert in the composer: for everyone (no team) or for
-- one team's agents. Placeholders such as {{contact.name}} are filled in
-- when inserted.
CREATE TABLE canned_responses (
    id TEXT PRIMARY KEY NOT NULL,
    team_id TEXT REFERENCES teams (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff_users (id),
    updated_by TEXT NOT NULL REFERENCES staff_users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX canned_responses_team ON canned_responses (team_id);
