-- The running and finished SLA clocks of each case. Warn and due times
-- are in business time, moved later while the case waits for the client.
CREATE TABLE sla_clocks (
    case_id TEXT NOT NULL REFERENCES cases (id),
    clock TEXT NOT NULL CHECK (clock IN ('first_response', 'next_response', 'resolution')),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    target_minutes INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    warn_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    paused_at TIMESTAMP,
    stopped_at TIMESTAMP,
    warned_at TIMESTAMP,
    breached_at TIMESTAMP,
    PRIMARY KEY (case_id, clock)
);
CREATE INDEX sla_clocks_running ON sla_clocks (stopped_at, paused_at, warn_at);
CREATE INDEX sla_clocks_account ON sla_clocks (account_id);
