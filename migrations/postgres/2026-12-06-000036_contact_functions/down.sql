DELETE FROM outbox WHERE kind = 'case_notice';
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('reply', 'acknowledgment', 'magic_link', 'sla_alert', 'chat_reply', 'outreach', 'satisfaction', 'appointment', 'admin_alert', 'audit_witness'));
DROP TABLE case_notices_pending;
ALTER TABLE cases DROP COLUMN routing_note;
DROP TABLE staff_skills;
DROP TABLE case_categories;
ALTER TABLE contacts DROP COLUMN case_notices;
UPDATE contacts SET visibility = 'own_cases' WHERE visibility = 'function_cases';
ALTER TABLE contacts DROP CONSTRAINT contacts_visibility_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_visibility_check
    CHECK (visibility IN ('own_cases', 'all_account_cases'));
