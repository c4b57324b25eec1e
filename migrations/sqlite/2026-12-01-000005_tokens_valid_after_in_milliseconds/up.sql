-- Logout everywhere and password change record their moment to the millisecond: a login whose
-- password was checked before it, in the same second, must not start a session after it.
ALTER TABLE users ADD COLUMN tokens_valid_after_ms BIGINT;
UPDATE users SET tokens_valid_after_ms = tokens_valid_after * 1000;
ALTER TABLE users DROP COLUMN tokens_valid_after;
