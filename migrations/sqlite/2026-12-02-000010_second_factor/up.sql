-- TOTP second factor. The secret is sealed with MFA_ENCRYPTION_KEY (AES-256-GCM, the user's id
-- as associated data), never stored in clear; it is pending until `totp_enabled_at` is set by a
-- confirmed code. `totp_last_step` is the last 30-second step a code was accepted for: a code
-- never works twice.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_enabled_at TIMESTAMP;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- How each session was signed in to (`amr` values, space-separated): a refresh keeps its level.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- Ten per user, each usable once; only a SHA-256 salted with the user's id is stored.
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_hash)
);

-- A login whose password was right, waiting for its second factor: the mfa_token's SHA-256,
-- single use, short-lived, a few wrong codes at most.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    checked_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    tries_left INTEGER NOT NULL
);

CREATE INDEX mfa_challenges_user_id_idx ON mfa_challenges (user_id);
