-- Whether a new case opened by this message may be acknowledged: false for
-- imports run with --no-ack.
ALTER TABLE inbound_mail ADD COLUMN acknowledge BOOLEAN NOT NULL DEFAULT TRUE;
