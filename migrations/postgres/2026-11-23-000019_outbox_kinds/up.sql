-- New kinds of outgoing mail: outreach, satisfaction requests, appointment
-- invitations.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment'));
