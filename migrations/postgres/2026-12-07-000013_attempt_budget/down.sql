ALTER TABLE mfa_challenges DROP COLUMN first_step;
ALTER TABLE mfa_challenges DROP COLUMN new_password_hash;
ALTER TABLE email_codes DROP COLUMN link_hash;
ALTER TABLE mfa_challenges DROP COLUMN network;
