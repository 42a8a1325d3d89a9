-- The installation's identity: exactly one row.
CREATE TABLE instance (
    singleton INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    id TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
