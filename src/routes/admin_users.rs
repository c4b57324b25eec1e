//! `/api/admin/users…`: an operator's view of users and what they do to them, with an admin
//! key (`users:read` to look, `users:write` to change). The same calls as `auth-service admin
//! users …` (`admin::users`).

use actix_web::web;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::responses::MessageResponse;
use crate::{
    admin::{
        Scope,
        keys::AdminKey,
        users::{self, UserDetail, UserPage},
    },
    error::{ApiError, ErrorBody},
    request::Ctx,
};

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// The start of the address or the name (case-insensitive).
    pub q: Option<String>,
    /// 1 to 100; 50.
    pub limit: Option<i64>,
    /// The last page's `next_cursor`.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "admin",
    security(("admin_key" = ["users:read"])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of users by id; next_cursor for the next", body = UserPage),
        (status = 400, description = "A limit out of range, or a bad cursor", body = ErrorBody),
        (status = 401, description = "Unauthorized: no admin key, or an unknown or revoked one (a user's token too)", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 429, description = "Too many admin calls from this address; see Retry-After", body = ErrorBody),
    )
)]
pub async fn admin_list_users(
    ctx: Ctx,
    key: AdminKey,
    query: web::Query<ListQuery>,
) -> Result<web::Json<UserPage>, ApiError> {
    key.require(Scope::UsersRead)?;
    let ListQuery { q, limit, cursor } = query.into_inner();
    users::list(&ctx, q, limit, cursor).await.map(web::Json)
}

#[utoipa::path(
    get,
    path = "/api/admin/users/{id}",
    tag = "admin",
    security(("admin_key" = ["users:read"])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The user, its status, sessions, factors, passkeys and identities", body = UserDetail),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
    )
)]
pub async fn admin_show_user(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
) -> Result<web::Json<UserDetail>, ApiError> {
    key.require(Scope::UsersRead)?;
    users::show(&ctx, user_id(&id)?).await.map(web::Json)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DisableRequest {
    /// The operator's note, shown to operators only (at most 500 characters).
    pub reason: Option<String>,
    /// RFC 3339: when the disabling lifts by itself. None: until enabled.
    #[schema(example = "2027-01-01T00:00:00Z")]
    pub until: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/disable",
    tag = "admin",
    security(("admin_key" = ["users:write"])),
    params(("id" = i64, Path)),
    request_body = DisableRequest,
    responses(
        (status = 200, description = "Disabled: every sign-in and refresh answers 403 Account disabled, every session ended, the user told", body = UserDetail),
        (status = 400, description = "A reason too long, or an until that is not RFC 3339 or not in the future", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
    )
)]
pub async fn admin_disable_user(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
    body: Option<web::Json<DisableRequest>>,
) -> Result<web::Json<UserDetail>, ApiError> {
    let actor = key.require(Scope::UsersWrite)?;
    let DisableRequest { reason, until } = body.map(web::Json::into_inner).unwrap_or_default();
    let until = until.as_deref().map(users::parse_until).transpose()?;
    users::disable(&ctx, &actor, user_id(&id)?, reason, until).await.map(web::Json)
}

/// The changes that take nothing but the user: enable, logout, verify-email, reset-mfa.
macro_rules! user_change {
    ($name:ident, $path:literal, $call:path, $what:literal) => {
        #[utoipa::path(
            post,
            path = $path,
            tag = "admin",
            security(("admin_key" = ["users:write"])),
            params(("id" = i64, Path)),
            responses(
                (status = 200, description = $what, body = UserDetail),
                (status = 401, description = "Unauthorized", body = ErrorBody),
                (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
                (status = 404, description = "User not found", body = ErrorBody),
            )
        )]
        pub async fn $name(
            ctx: Ctx,
            key: AdminKey,
            id: web::Path<String>,
        ) -> Result<web::Json<UserDetail>, ApiError> {
            let actor = key.require(Scope::UsersWrite)?;
            $call(&ctx, &actor, user_id(&id)?).await.map(web::Json)
        }
    };
}

user_change!(
    admin_enable_user,
    "/api/admin/users/{id}/enable",
    users::enable,
    "Enabled (the sessions the disabling ended stay ended); the user told if it was disabled"
);
user_change!(
    admin_logout_user,
    "/api/admin/users/{id}/logout",
    users::logout,
    "Every session ended and every access token issued before refused, on every replica"
);
user_change!(
    admin_verify_user_email,
    "/api/admin/users/{id}/verify-email",
    users::verify_email,
    "The address marked verified on the operator's word (no mail sent)"
);
user_change!(
    admin_reset_user_mfa,
    "/api/admin/users/{id}/reset-mfa",
    users::reset_mfa,
    "The TOTP second factor, its recovery codes and waiting logins removed, the user told; 400 MFA not enabled when off"
);

#[utoipa::path(
    delete,
    path = "/api/admin/users/{id}",
    tag = "admin",
    security(("admin_key" = ["users:write"])),
    params(("id" = i64, Path)),
    responses(
        (status = 200, description = "User deleted, as its own deletion does (sessions, factors, identities, picture), the user told", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
    )
)]
pub async fn admin_delete_user(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let actor = key.require(Scope::UsersWrite)?;
    users::delete(&ctx, &actor, user_id(&id)?).await?;
    Ok(web::Json(MessageResponse::success("User deleted")))
}

/// A path's id; anything else names no user.
fn user_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| ApiError::UserNotFound)
}
