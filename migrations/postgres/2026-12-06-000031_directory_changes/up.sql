-- Directory changes join the change log (CRM webhooks, the chat's cache of
-- names). Rows are kept: webhooks read them from a persisted cursor.
ALTER TABLE committed_changes DROP CONSTRAINT committed_changes_kind_check;
ALTER TABLE committed_changes ADD CONSTRAINT committed_changes_kind_check
    CHECK (kind IN ('entry_added', 'entry_updated', 'case_opened', 'case_changed', 'satisfaction_received', 'staff_notice', 'account_added', 'account_changed', 'contact_added', 'contact_changed', 'staff_changed'));
