//! `GET /`: the current user.

use actix_web::{HttpRequest, web};

use super::responses::CurrentUserResponse;
use crate::{
    error::{ApiError, ErrorBody},
    request::AuthUser,
    state::AppState,
};

#[utoipa::path(
    get,
    path = "/",
    tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user the token names", body = CurrentUserResponse),
        (status = 401, description = "Not logged in", body = ErrorBody),
    )
)]
pub async fn current_user(
    req: HttpRequest,
    // The state alone, not `Ctx`: the busiest route needs no client address or request id.
    state: web::Data<AppState>,
    auth: Result<AuthUser, ApiError>,
) -> Result<web::Json<CurrentUserResponse>, ApiError> {
    let AuthUser { user, .. } = auth.map_err(ApiError::into_not_logged_in)?;
    Ok(web::Json(CurrentUserResponse::of(&req, &state, user)))
}
