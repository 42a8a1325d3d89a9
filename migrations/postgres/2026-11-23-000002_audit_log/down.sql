DROP TABLE audit_events;
DROP TABLE audit_streams;
DROP FUNCTION audit_events_refuse_change();
DROP FUNCTION audit_events_check_next_seq();
DROP FUNCTION audit_streams_check_head();
DROP FUNCTION audit_events_advance_head();
