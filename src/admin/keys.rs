//! Admin keys: made and revoked on the machine (`auth-service admin keys …`) only, so a leaked
//! key cannot make another; shown once as `ask_…`, kept as its SHA-256, each with its scopes.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Actor, Scope};
use crate::{
    audit,
    auth::opaque_token,
    db::admin_keys::{self, AdminKeyRow},
    error::ApiError,
    request::Ctx,
    timestamps::rfc3339,
    validation::valid_name,
};

/// What every admin key starts with, so a leaked one is recognised (secret scanners, logs)
/// and a user's access token is never taken for one.
pub const PREFIX: &str = "ask_";

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminKeyView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<AdminKeyRow> for AdminKeyView {
    fn from(row: AdminKeyRow) -> Self {
        AdminKeyView {
            id: row.id,
            name: row.name,
            scopes: row.scopes.split(',').map(str::to_owned).collect(),
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
        }
    }
}

/// A key just made: the only time `key` is seen.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub view: AdminKeyView,
}

/// The key an `/api/admin/*` call proved: its id and scopes.
#[derive(Debug, Clone)]
pub struct AdminKey {
    pub id: String,
    pub scopes: Vec<Scope>,
}

impl AdminKey {
    /// 403 `Admin key lacks the scope this needs` unless it holds `needed`.
    pub fn require(&self, needed: Scope) -> Result<Actor, ApiError> {
        if needed.granted_by(&self.scopes) {
            Ok(Actor::Key(self.id.clone()))
        } else {
            Err(ApiError::MissingScope)
        }
    }
}

pub async fn create(
    ctx: &Ctx,
    actor: &Actor,
    name: &str,
    scopes: &[Scope],
) -> Result<CreatedKey, ApiError> {
    let name = valid_name(name)
        .map_err(|_| ApiError::InvalidAdminInput("name must be 1 to 100 characters".into()))?;
    if scopes.is_empty() {
        return Err(ApiError::InvalidAdminInput("A key needs at least one scope".into()));
    }
    let (secret, _) = opaque_token::generate().map_err(ApiError::internal)?;
    let key = format!("{PREFIX}{secret}");
    let row = AdminKeyRow {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        key_hash: opaque_token::hash(&key),
        scopes: scopes.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        created_at: chrono::Utc::now().naive_utc(),
        last_used_at: None,
        revoked_at: None,
    };
    let stored = row.clone();
    ctx.db(move |conn| admin_keys::insert(conn, &stored)).await?;
    audit::admin("key.create", &actor.name(), None, ctx.client);
    Ok(CreatedKey { key, view: row.into() })
}

pub async fn list(ctx: &Ctx) -> Result<Vec<AdminKeyView>, ApiError> {
    let rows = ctx.db(admin_keys::all).await?;
    Ok(rows.into_iter().map(AdminKeyView::from).collect())
}

pub async fn revoke(ctx: &Ctx, actor: &Actor, id: &str) -> Result<(), ApiError> {
    let (id, now) = (id.trim().to_owned(), chrono::Utc::now().naive_utc());
    let lookup = id.clone();
    if !ctx.db(move |conn| admin_keys::revoke(conn, &lookup, now)).await? {
        return Err(ApiError::AdminKeyNotFound);
    }
    audit::admin(&format!("key.revoke {id}"), &actor.name(), None, ctx.client);
    Ok(())
}

/// The live key `presented` is, if any.
pub async fn authenticate(ctx: &Ctx, presented: &str) -> Result<Option<AdminKey>, ApiError> {
    if !presented.starts_with(PREFIX) || presented.len() > 100 {
        return Ok(None);
    }
    let (hash, now) = (opaque_token::hash(presented), chrono::Utc::now().naive_utc());
    let row = ctx.db(move |conn| admin_keys::use_key(conn, &hash, now)).await?;
    Ok(row.map(|row| AdminKey {
        id: row.id,
        scopes: row.scopes.split(',').filter_map(|s| Scope::parse(s).ok()).collect(),
    }))
}
