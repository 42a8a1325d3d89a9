-- One row per audit stream: its chain head, which the next event links to.
CREATE TABLE audit_streams (
    stream TEXT PRIMARY KEY NOT NULL,
    -- The account whose export includes this stream (case streams).
    account_id TEXT,
    head_seq BIGINT NOT NULL CHECK (head_seq >= 0),
    head_hash TEXT NOT NULL,
    head_at TIMESTAMP
);
CREATE INDEX audit_streams_account ON audit_streams (account_id) WHERE account_id IS NOT NULL;

-- The audit log itself; the primary key orders exports.
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
);
CREATE INDEX audit_events_at ON audit_events (at);

-- The database itself keeps the log append-only and gap-free, whatever
-- code or person connects to it.
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: an audit event cannot be changed or deleted';
END
$$;

CREATE TRIGGER audit_events_no_update_or_delete
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();

CREATE TRIGGER audit_events_no_truncate
BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

CREATE FUNCTION audit_events_check_next_seq() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> (SELECT head_seq FROM audit_streams WHERE stream = NEW.stream) + 1 THEN
        RAISE EXCEPTION 'audit_events: seq must follow the stream head without a gap';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_events_next_seq_only
BEFORE INSERT ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_check_next_seq();

-- The head follows every insert, so it can never disagree with the log.
CREATE FUNCTION audit_events_advance_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_streams
    SET head_seq = NEW.seq, head_hash = NEW.hash, head_at = NEW.at
    WHERE stream = NEW.stream;
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_events_advance_head
AFTER INSERT ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_advance_head();

CREATE FUNCTION audit_streams_check_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit_streams cannot be deleted';
    END IF;
    IF NEW.head_seq <> OLD.head_seq + 1 OR NEW.stream <> OLD.stream THEN
        RAISE EXCEPTION 'audit_streams: a head only moves forward by one event';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_streams_head_moves_forward
BEFORE UPDATE OR DELETE ON audit_streams
FOR EACH ROW EXECUTE FUNCTION audit_streams_check_head();

CREATE TRIGGER audit_streams_no_truncate
BEFORE TRUNCATE ON audit_streams
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
