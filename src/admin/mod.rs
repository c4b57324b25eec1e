//! What operators do, without SQL: find users, disable, enable, log out, verify, reset the
//! second factor of and delete them (`users`), and the keys `/api/admin/*` is called with
//! (`keys`). One code path: the HTTP endpoints (`routes/admin_users.rs`, with a key) and the
//! CLI (`auth-service admin …`, `cli`) both call these, each naming who acts.

mod key_check;
pub mod keys;
pub mod users;
pub mod webhooks;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Who acts, as the audit log names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An admin key, by its id.
    Key(String),
    /// `auth-service admin …` on the machine.
    Cli,
}

impl Actor {
    pub fn name(&self) -> String {
        match self {
            Actor::Key(id) => format!("key:{id}"),
            Actor::Cli => "cli".to_owned(),
        }
    }
}

/// What an admin key may do. `users:write` includes `users:read`: a key that may disable a
/// user may see whom it disables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::UsersRead, Scope::UsersWrite, Scope::WebhooksWrite];

    pub fn name(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::WebhooksWrite => "webhooks:write",
        }
    }

    pub fn parse(text: &str) -> Result<Scope, ApiError> {
        Scope::ALL.into_iter().find(|scope| scope.name() == text.trim()).ok_or_else(|| {
            let known: Vec<_> = Scope::ALL.iter().map(|s| s.name()).collect();
            ApiError::InvalidAdminInput(format!(
                "Unknown scope {:?} (known: {})",
                text.trim(),
                known.join(", ")
            ))
        })
    }

    /// A comma-separated list, as the CLI takes it and the table keeps it.
    pub fn parse_list(text: &str) -> Result<Vec<Scope>, ApiError> {
        let mut scopes = Vec::new();
        for part in text.split(',').filter(|part| !part.trim().is_empty()) {
            let scope = Scope::parse(part)?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(ApiError::InvalidAdminInput("A key needs at least one scope".into()));
        }
        Ok(scopes)
    }

    /// Whether a key holding `granted` may do what needs `self`.
    pub fn granted_by(self, granted: &[Scope]) -> bool {
        granted.contains(&self)
            || (self == Scope::UsersRead && granted.contains(&Scope::UsersWrite))
    }
}
