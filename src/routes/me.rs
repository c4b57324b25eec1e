//! `GET /`: the current user.

use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db::users::User,
    error::{ApiError, ErrorBody},
    request::AuthUser,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentUserResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    pub user: UserProfile,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserProfile {
    pub name: String,
    pub email: String,
    /// Absolute URL of the profile picture, or null.
    pub profile_pic_url: Option<String>,
    /// Whether a code mailed to the address came back (added after v1).
    pub email_verified: bool,
}

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

impl CurrentUserResponse {
    /// The body of `GET /` (and of a rename) for `user`.
    pub fn of(req: &HttpRequest, state: &AppState, user: User) -> Self {
        let profile_pic_url =
            user.profile_pic.as_deref().map(|name| state.uploads.url_of(req, name));
        CurrentUserResponse {
            status: "success",
            user: UserProfile {
                email_verified: user.email_verified_at.is_some(),
                name: user.name,
                email: user.email,
                profile_pic_url,
            },
        }
    }
}
