DROP TABLE refresh_tokens;
DROP TABLE staff_users;
