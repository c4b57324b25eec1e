-- The network (an IPv4 address, an IPv6 /64) a login's first step came from: its mfa_token is
-- good only from there, so a stolen or relayed token cannot spread its guesses over addresses.
-- Challenges made before this column read '' and match no network (they live five minutes).
ALTER TABLE mfa_challenges ADD COLUMN network TEXT NOT NULL DEFAULT '';

-- The SHA-256 of the long, unguessable code a mailed link carries beside the six digits one
-- types: wrong typed guesses by a stranger end the six digits, never the owner's link.
ALTER TABLE email_codes ADD COLUMN link_hash TEXT;

-- A reset of an account with MFA waits here for its second factor: the mailed code is spent, the
-- new password's hash is kept, and nothing changes (no password, no session ended) until the
-- factor is proved at POST /api/login/mfa.
ALTER TABLE mfa_challenges ADD COLUMN new_password_hash TEXT;

-- How the login's first step was proved (`sessions.amr`'s names: 'pwd', or 'email' for a code by
-- mail), so the session of its second step says what it was signed in with.
ALTER TABLE mfa_challenges ADD COLUMN first_step TEXT NOT NULL DEFAULT 'pwd';
