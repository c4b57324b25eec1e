-- A session is one login and every refresh token descended from it (a refresh family). Access
-- tokens name theirs in the `sid` claim: deleting the row ends the session, its access tokens
-- and its refresh tokens at once, on every replica.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    -- The expiry of its newest refresh token: past it nothing can use the session any more.
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Only the SHA-256 of a refresh token is stored; a spent one is kept until it expires so that
-- its reuse is recognised (and ends the session).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL,
    spent_at TIMESTAMP
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

-- Logout everywhere: access tokens issued before this second (unix time) are refused.
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT;
