//! `POST /api/logout`: revokes the presented token.

use actix_web::web;

use super::MessageResponse;
use crate::{
    auth::AuthUser,
    db::{self, revoked_tokens},
    error::{ApiError, ErrorBody},
    startup::AppState,
};

#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Logged out; the token is refused from now on, on every replica", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    auth: AuthUser,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let jti = auth.claims.jti;
    let expires_at = chrono::DateTime::from_timestamp(auth.claims.exp, 0)
        .ok_or_else(|| ApiError::internal("token exp out of range"))?
        .naive_utc();
    db::run(&state.pool, move |conn| {
        Ok(revoked_tokens::revoke(conn, &jti, expires_at)?)
    })
    .await?;
    Ok(web::Json(MessageResponse::success("Logged out")))
}
