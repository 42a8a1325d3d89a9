-- One row per audit stream: its chain head, which the next event links to.
CREATE TABLE audit_streams (
    stream TEXT PRIMARY KEY NOT NULL,
    -- The account whose export includes this stream (case streams).
    account_id TEXT,
    head_seq BIGINT NOT NULL CHECK (head_seq >= 0),
    head_hash TEXT NOT NULL,
    head_at TIMESTAMP
) WITHOUT ROWID;
CREATE INDEX audit_streams_account ON audit_streams (account_id) WHERE account_id IS NOT NULL;

-- The audit log itself, clustered by (stream, seq) for exports.
CREATE TABLE audit_events (
    stream TEXT NOT NULL REFERENCES audit_streams (stream),
    seq BIGINT NOT NULL CHECK (seq >= 1),
    id TEXT NOT NULL UNIQUE,
    at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id TEXT,
    data TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE INDEX audit_events_at ON audit_events (at);

-- The database itself keeps the log append-only and gap-free, whatever
-- code or person connects to it.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: an audit event cannot be changed');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: an audit event cannot be deleted');
END;

CREATE TRIGGER audit_events_next_seq_only BEFORE INSERT ON audit_events
WHEN NEW.seq <> (SELECT head_seq FROM audit_streams WHERE stream = NEW.stream) + 1
BEGIN
    SELECT RAISE(ABORT, 'audit_events: seq must follow the stream head without a gap');
END;

-- The head follows every insert, so it can never disagree with the log.
CREATE TRIGGER audit_events_advance_head AFTER INSERT ON audit_events
BEGIN
    UPDATE audit_streams
    SET head_seq = NEW.seq, head_hash = NEW.hash, head_at = NEW.at
    WHERE stream = NEW.stream;
END;

CREATE TRIGGER audit_streams_head_moves_forward BEFORE UPDATE ON audit_streams
WHEN NEW.head_seq <> OLD.head_seq + 1 OR NEW.stream <> OLD.stream
BEGIN
    SELECT RAISE(ABORT, 'audit_streams: a head only moves forward by one event');
END;

CREATE TRIGGER audit_streams_no_delete BEFORE DELETE ON audit_streams
BEGIN
    SELECT RAISE(ABORT, 'audit_streams cannot be deleted');
END;
