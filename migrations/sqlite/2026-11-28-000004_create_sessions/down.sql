ALTER TABLE users DROP COLUMN tokens_valid_after;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
