-- Audit checkpoints mailed to witnesses: a new kind of outgoing mail.
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert', 'audit_witness'));
