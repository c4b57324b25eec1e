ALTER TABLE users DROP COLUMN email_verified_at;
DROP TABLE email_codes;
DROP TABLE mail_outbox;
