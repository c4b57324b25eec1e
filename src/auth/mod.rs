//! Passwords, access tokens, and the `AuthUser` extractor that protected handlers take.

pub mod bcrypt_pool;
pub mod extractor;
pub mod password;
pub mod token;

pub use extractor::AuthUser;
