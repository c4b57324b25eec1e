//! Integration tests over a real socket, against SQLite and PostgreSQL.

mod helpers;

mod attempts;
mod audit;
mod dependencies;
mod email_change;
mod email_verification;
mod errors;
mod faults;
mod headers;
mod health;
mod keys;
mod login;
mod login_code;
mod logout;
mod me;
mod metrics;
mod mfa;
mod notices;
mod openapi;
mod outbox;
mod passkeys;
mod password;
mod password_reset;
mod profile_pic;
mod refresh;
mod register;
mod sessions;
mod shutdown;
mod startup;
mod storage_s3;
mod throttle;
mod tokens;
mod upload_attacks;
mod uploads;
mod user;
