-- What admins require of each staff role at sign-in, set in the product
-- (the configuration's auth.totp_required_roles applies as well).
CREATE TABLE role_policies (
    role TEXT PRIMARY KEY NOT NULL CHECK (role IN ('admin', 'agent', 'auditor')),
    totp_required BOOLEAN NOT NULL,
    updated_by TEXT NOT NULL REFERENCES staff_users (id),
    updated_at TIMESTAMP NOT NULL
);
