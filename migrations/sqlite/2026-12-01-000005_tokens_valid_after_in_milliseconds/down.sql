ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT;
UPDATE users SET tokens_valid_after = tokens_valid_after_ms / 1000;
ALTER TABLE users DROP COLUMN tokens_valid_after_ms;
