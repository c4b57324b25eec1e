-- One row per (limit, client, fixed window): `key` names all three, so counting a request is a
-- single atomic upsert that every replica sees.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    hits BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

CREATE INDEX rate_limits_expires_at_idx ON rate_limits (expires_at);
