//! What a handler receives beside its body: `Ctx` (the state, the client, the request id, and
//! the verbs every handler shares), `AuthUser` (the user a bearer token names), `Device`
//! (where a login or refresh comes from). `/api/admin/*`'s key is `admin::keys::AdminKey`.

pub mod auth_user;
pub mod ctx;
pub mod device;

pub use auth_user::AuthUser;
pub use ctx::Ctx;
pub use device::Device;
