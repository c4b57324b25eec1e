//! `DELETE /api/user`: deletes the account, its picture and its sessions.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{MessageResponse, password::confirm_password};
use crate::{
    audit::{self, Event},
    auth::AuthUser,
    db::{self, users},
    error::{ApiError, ErrorBody},
    startup::AppState,
    throttle::ClientIp,
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
    state: web::Data<AppState>,
    client: ClientIp,
    auth: AuthUser,
    body: web::Json<DeleteUserRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let Some(password) = required(&body.password) else {
        return Err(ApiError::AllFieldsRequired);
    };
    confirm_password(&state, client, &auth, password, Event::AccountDeletion).await?;
    let user_id = auth.user.id;
    let password_hash = auth.user.password_hash;
    let deleted = db::run(&state.pool, move |conn| {
        Ok(users::delete_user(conn, user_id, &password_hash)?)
    })
    .await?;
    // None: the password changed (or the account went) since it was checked.
    let Some(picture) = deleted else {
        return Err(ApiError::WrongPassword);
    };
    if let Some(picture) = picture {
        remove_stored_picture(&state.upload_dir, &picture).await;
    }
    audit::record(
        &state.metrics,
        Event::AccountDeletion,
        "ok",
        Some(user_id),
        client,
    );
    Ok(web::Json(MessageResponse::success("Account deleted")))
}
