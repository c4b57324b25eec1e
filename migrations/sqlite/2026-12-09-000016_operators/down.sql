DROP TABLE disabled_refresh_tokens;
DROP TABLE admin_keys;
ALTER TABLE users DROP COLUMN disabled_reason;
ALTER TABLE users DROP COLUMN disabled_until;
ALTER TABLE users DROP COLUMN disabled_at;
