//! Passwords (bcrypt and the policy), access and refresh tokens and their keys, the second
//! factor (TOTP, its sealed secrets, recovery codes), and the `Authorization` header's parser. The extractor protected handlers take is
//! `request::AuthUser`.

pub mod bearer;
pub mod email_code;
pub mod keys;
pub mod opaque_token;
pub mod password;
pub mod password_policy;
pub mod recovery_code;
pub mod secret_box;
pub mod token;
pub mod totp;
