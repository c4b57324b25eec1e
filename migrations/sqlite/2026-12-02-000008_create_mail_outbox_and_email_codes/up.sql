-- Mail waiting to be delivered, written in the same transaction as the change it tells of, so a
-- message is sent if and only if its change committed. The delivery worker of every replica
-- claims due rows (`locked_until`, a lease) and sends them; a body is emptied once delivered or
-- given up on (it may hold a code).
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    user_id BIGINT,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    sent_at TIMESTAMP,
    failed_at TIMESTAMP,
    last_error TEXT
);

CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at)
    WHERE sent_at IS NULL AND failed_at IS NULL;

-- A code mailed to a user, for one purpose at a time: only its salted SHA-256 is stored, with
-- the wrong tries left and, for an email change, the address it confirms.
CREATE TABLE email_codes (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    new_email TEXT,
    tries_left INTEGER NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, purpose)
);

ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
