//! What a handler receives beside its body: `Ctx` (the state, the client, the request id, and
//! the verbs every handler shares) and `AuthUser` (the user a bearer token names).

pub mod auth_user;
pub mod ctx;

pub use auth_user::AuthUser;
pub use ctx::Ctx;
