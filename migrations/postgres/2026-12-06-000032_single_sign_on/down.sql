DROP TABLE account_identity_providers;
DROP TABLE sso_attempts;
