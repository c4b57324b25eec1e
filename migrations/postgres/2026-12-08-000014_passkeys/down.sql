ALTER TABLE mfa_challenges DROP COLUMN webauthn_state;
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
DROP INDEX users_webauthn_handle_idx;
ALTER TABLE users DROP COLUMN webauthn_handle;
