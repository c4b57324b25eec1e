-- The random handle a user's passkeys carry as their user.id (WebAuthn's user handle): never the
-- email or the row id, which an authenticator would keep and show. Made at the first passkey.
ALTER TABLE users ADD COLUMN webauthn_handle TEXT;
CREATE UNIQUE INDEX users_webauthn_handle_idx ON users (webauthn_handle);

-- A user's passkeys. `id` is the random name the API gives each; `credential` is
-- webauthn-rs-core's Credential (public key, counter, flags) as JSON, the one copy it verifies
-- against; the flags beside it are what the list shows.
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backed_up BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_user_id_idx ON passkeys (user_id);

-- A WebAuthn ceremony between its options and its answer: in the database, so that it may end on
-- another replica, and spent by the DELETE that reads it. `id_hash` is the SHA-256 of the
-- challenge_id the client holds; `user_id` is the registering user (none for a sign-in).
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_at_idx ON webauthn_ceremonies (expires_at);
CREATE INDEX webauthn_ceremonies_user_id_idx ON webauthn_ceremonies (user_id);

-- A login waiting for its second factor keeps the WebAuthn state of the passkey step it offers.
ALTER TABLE mfa_challenges ADD COLUMN webauthn_state TEXT;
