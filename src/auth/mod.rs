//! Passwords, access and refresh tokens, their keys, and the `AuthUser` extractor that
//! protected handlers take.

pub mod bcrypt_pool;
pub mod extractor;
pub mod keys;
pub mod password;
pub mod refresh_token;
pub mod token;

pub use extractor::AuthUser;
