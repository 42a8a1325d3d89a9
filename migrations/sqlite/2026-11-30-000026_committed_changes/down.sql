DROP TABLE committed_changes;
