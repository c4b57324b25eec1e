-- An outside identity linked to an account: (provider, subject) is the identity, never the
-- email, which is kept only as the provider last gave it.
CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE UNIQUE INDEX identities_provider_subject_idx ON identities (provider, subject);
CREATE INDEX identities_user_id_idx ON identities (user_id);

-- A sign-in with a provider between its redirect and its callback: the SHA-256 of its state, its
-- PKCE verifier and nonce, where the website wants the user back, the callback URL the
-- provider was given (the code's exchange names it again), and the user of a link. Spent
-- by the DELETE that reads it, so any replica takes the callback, once.
CREATE TABLE oauth_flows (
    state_hash TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    redirect_to TEXT NOT NULL,
    callback_url TEXT NOT NULL,
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_flows_expires_at_idx ON oauth_flows (expires_at);

-- What a callback hands the website through its redirect's fragment: a one-time code (its
-- SHA-256 here) for POST /api/oauth/exchange, or a link token the account's owner confirms.
CREATE TABLE oauth_grants (
    code_hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    mfa BOOLEAN NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_grants_expires_at_idx ON oauth_grants (expires_at);
CREATE INDEX oauth_grants_user_id_idx ON oauth_grants (user_id);
