-- One satisfaction survey per case, asked when it is first resolved and
-- answered once. The agent and team are those of the resolution, so that
-- results are credited to who did the work.
CREATE TABLE csat_surveys (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL UNIQUE REFERENCES cases (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    team_id TEXT,
    agent_id TEXT,
    requested_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    comment TEXT,
    answered_at TIMESTAMP,
    answered_by TEXT,
    answered_via TEXT CHECK (answered_via IN ('portal', 'chat', 'email'))
);
CREATE INDEX csat_surveys_account ON csat_surveys (account_id, answered_at);
CREATE INDEX csat_surveys_answered ON csat_surveys (answered_at);
