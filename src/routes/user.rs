//! `DELETE /api/user`: deletes the account, its picture and its sessions.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{password::confirm_password, responses::MessageResponse};
use crate::{
    audit::Event,
    db::users,
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    uploads::store::remove_stored_picture,
    validation::{required, string_or_none},
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
        (status = 403, description = "Password is incorrect", body = ErrorBody),
        (status = 429, description = "Too many password attempts (the login limits); see Retry-After", body = ErrorBody),
    )
)]
pub async fn delete_user(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<DeleteUserRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let Some(password) = required(&body.password) else {
        return Err(ApiError::AllFieldsRequired);
    };
    confirm_password(&ctx, &auth, password, Event::AccountDeletion).await?;
    let user_id = auth.user.id;
    let password_hash = auth.user.password_hash;
    let deleted = ctx.db(move |conn| users::delete_user(conn, user_id, &password_hash)).await?;
    // None: the password changed (or the account went) since it was checked.
    let Some(picture) = deleted else {
        return Err(ApiError::WrongPassword);
    };
    if let Some(picture) = picture {
        remove_stored_picture(&ctx.uploads.dir, &picture).await;
    }
    ctx.audit(Event::AccountDeletion, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Account deleted")))
}
