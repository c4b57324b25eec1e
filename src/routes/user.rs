//! `DELETE /api/user`: deletes the account, its picture and its sessions, and tells the user.
//! `PATCH /api/user`: renames it.

use actix_web::{HttpRequest, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{CurrentUserResponse, MessageResponse};
use crate::{
    account::{deletion, password::confirm_password},
    audit::Event,
    db::users,
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx},
    validation::{required, string_or_none, valid_name},
    webhooks::events,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteUserRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub password: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/api/user",
    tag = "user",
    security(("bearer" = [])),
    request_body = DeleteUserRequest,
    responses(
        (status = 200, description = "Account deleted: the user, its picture and its refresh tokens are gone, and its access tokens are refused", body = MessageResponse),
        (status = 400, description = "Missing password or malformed body", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Password is incorrect, or Second factor required (MFA on, an aal1 token)", body = ErrorBody),
        (status = 429, description = "Too many password attempts (the login limits); see Retry-After", body = ErrorBody),
    )
)]
pub async fn delete_user(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<DeleteUserRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    // Required unless the account has no password (`confirm_password`).
    let password = required(&body.password);
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, password, Event::AccountDeletion).await?;
    let user_id = auth.user.id;
    let notice = ctx.mailer().notice(Kind::AccountDeleted, &auth.user, &[]);
    // False: the password changed (or the account went) since it was checked.
    if !deletion::delete(&ctx, &auth.user, notice, "user").await? {
        return Err(ApiError::WrongPassword);
    }
    ctx.audit(Event::AccountDeletion, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Account deleted")))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "Arun C. S.")]
    pub name: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/api/user",
    tag = "user",
    security(("bearer" = [])),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "The user, as GET / shows it, with its new name", body = CurrentUserResponse),
        (status = 400, description = "Missing name, or one the registration refuses", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "User not found (deleted meanwhile)", body = ErrorBody),
    )
)]
pub async fn update_user(
    req: HttpRequest,
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<UpdateUserRequest>,
) -> Result<web::Json<CurrentUserResponse>, ApiError> {
    let name = valid_name(required(&body.name).ok_or(ApiError::AllFieldsRequired)?)?;
    let user_id = auth.user.id;
    let renamed = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let renamed = users::rename(conn, user_id, &name)?;
                if renamed.is_some() {
                    events::user_updated(conn, user_id, ("name", &name))?;
                }
                Ok::<_, diesel::result::Error>(renamed)
            })
        })
        .await?;
    let user = renamed.ok_or(ApiError::UserNotFound)?;
    Ok(web::Json(CurrentUserResponse::of(&req, &ctx, user)))
}
