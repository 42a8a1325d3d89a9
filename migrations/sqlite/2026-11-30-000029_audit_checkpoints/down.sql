DROP TABLE audit_checkpoints;
DROP TABLE audit_tree_leaves;
