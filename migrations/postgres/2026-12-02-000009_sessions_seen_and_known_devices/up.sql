-- What a user sees of their sessions (GET /api/sessions), written at login and refresh only,
-- never per request: when it was last used, from which network (the client's /24 or /64, not
-- its address) and with which user agent (at most 256 characters).
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMP;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
UPDATE sessions SET last_used_at = created_at;

-- The devices a user has signed in from lately (a user-agent family and a network, hashed): a
-- login from one not among them sends a "new sign-in" notice. Kept apart from the sessions so
-- that logging out does not make the same laptop new again.
CREATE TABLE known_devices (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device TEXT NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, device)
);
