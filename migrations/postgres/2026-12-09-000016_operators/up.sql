-- A disabled account: no sign-in, no refresh, every session ended when it was disabled; lifted
-- by `enable`, or by itself at `disabled_until` when that is set. The reason is the operator's
-- note, shown to operators only.
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN disabled_until TIMESTAMP;
ALTER TABLE users ADD COLUMN disabled_reason TEXT;

-- Keys for /api/admin/*: the SHA-256 of the `ask_…` key (shown once), its name and scopes
-- (comma-separated: users:read, users:write, webhooks:write). A revoked key stays listed.
CREATE TABLE admin_keys (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

-- The live refresh tokens (their SHA-256) of sessions a disabling ended, so that a refresh
-- with one answers 403 Account disabled rather than a bare 401; gone when the account is
-- enabled, deleted, or the token would have expired.
CREATE TABLE disabled_refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX disabled_refresh_tokens_user_id_idx ON disabled_refresh_tokens (user_id);
