-- The original bytes of a received message small enough to travel with
-- its row. They commit in the transaction that records the message, so
-- the database's one flush makes them durable before a door says yes (a
-- spool file costs a file and a directory flush of its own). Larger
-- messages stay in <data_dir>/mail/spool/.
CREATE TABLE mail_originals (
    sha256 TEXT PRIMARY KEY NOT NULL REFERENCES inbound_mail (sha256),
    raw BLOB NOT NULL
);
