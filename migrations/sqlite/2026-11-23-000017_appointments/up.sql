-- Meetings on a case: one side proposes time slots (JSON array of
-- {"start", "end"}), the other books one.
CREATE TABLE appointments (
    id TEXT PRIMARY KEY NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    title TEXT NOT NULL,
    note TEXT NOT NULL,
    slots TEXT NOT NULL,
    proposed_by_kind TEXT NOT NULL CHECK (proposed_by_kind IN ('staff', 'contact')),
    proposed_by_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('proposed', 'booked', 'cancelled')),
    starts_at TIMESTAMP,
    ends_at TIMESTAMP,
    booked_by_kind TEXT,
    booked_by_id TEXT,
    created_at TIMESTAMP NOT NULL,
    booked_at TIMESTAMP,
    cancelled_at TIMESTAMP,
    -- The proposer's id for this request: a retry proposes nothing new.
    client_request_id TEXT
);
CREATE INDEX appointments_case ON appointments (case_id, created_at);
CREATE INDEX appointments_account ON appointments (account_id, starts_at);
CREATE UNIQUE INDEX appointments_request ON appointments (proposed_by_id, client_request_id);
