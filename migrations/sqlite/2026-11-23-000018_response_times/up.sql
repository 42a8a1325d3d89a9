-- Since when a case waits for the team: the oldest client message that no
-- staff reply has answered yet.
CREATE TABLE case_waits (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases (id),
    since TIMESTAMP NOT NULL
);

-- Every answer to a waiting client: how long they waited, who answered.
-- Reports read response times from here instead of replaying threads.
CREATE TABLE case_responses (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    team_id TEXT,
    agent_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('first', 'next')),
    waited_seconds BIGINT NOT NULL,
    responded_at TIMESTAMP NOT NULL
);
CREATE INDEX case_responses_at ON case_responses (responded_at);
CREATE INDEX case_responses_case ON case_responses (case_id);
CREATE INDEX case_responses_account ON case_responses (account_id, responded_at);
CREATE INDEX cases_created ON cases (created_at);
