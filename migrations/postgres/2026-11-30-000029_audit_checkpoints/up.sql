-- Every audit event, in the order it was taken into the Merkle tree over
-- the whole log (RFC 9162 leaves), and the signed checkpoints of that
-- tree: what lets an auditor prove that a newer export extends an older
-- one.
CREATE TABLE audit_tree_leaves (
    position BIGINT PRIMARY KEY NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    -- Hex SHA-256(0x00 || event hash).
    leaf_hash TEXT NOT NULL
);
CREATE TABLE audit_checkpoints (
    tree_size BIGINT PRIMARY KEY NOT NULL,
    root_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    key_id TEXT NOT NULL,
    -- Ed25519 over the checkpoint's text form, base64.
    signature TEXT NOT NULL
);
