//! `PUT /api/password`: changes the password, ends every other session, and returns new tokens
//! for this one.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::login::{LoginResponse, new_refresh_token};
use crate::{
    audit::{self, Event},
    auth::{AuthUser, password::MAX_PASSWORD_BYTES},
    db::{self, sessions, users},
    error::{ApiError, ErrorBody},
    startup::AppState,
    throttle::{ClientIp, Limit},
    validation::{acceptable_new_password, required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub current_password: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "staple battery horse correct")]
    pub new_password: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/password",
    tag = "user",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed: every session (and access token) of the user ended; these are the tokens of a new one", body = LoginResponse),
        (status = 400, description = "Missing field, or the new password breaks the registration rules", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Password is incorrect (the current one)", body = ErrorBody),
        (status = 429, description = "Too many password attempts (the login limits); see Retry-After", body = ErrorBody),
    )
)]
pub async fn change_password(
    state: web::Data<AppState>,
    client: ClientIp,
    auth: AuthUser,
    body: web::Json<ChangePasswordRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let (Some(current), Some(new)) = (
        required(&body.current_password),
        required(&body.new_password),
    ) else {
        return Err(ApiError::AllFieldsRequired);
    };
    acceptable_new_password(new, state.password_reject_common)?;
    confirm_password(&state, client, &auth, current, Event::PasswordChange).await?;
    let new_hash = state.passwords.hash(new.to_owned()).await?;

    let now = chrono::Utc::now().naive_utc();
    let (refresh_token, first) = new_refresh_token(&state, now)?;
    let user_id = auth.user.id;
    let checked_hash = auth.user.password_hash;
    let session_id = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            // A concurrent change already replaced the hash checked above.
            if !users::change_password(conn, user_id, &checked_hash, &new_hash, now)? {
                return Err(ApiError::WrongPassword);
            }
            sessions::end_all(conn, user_id)?;
            Ok(sessions::start(conn, user_id, &first, now)?)
        })
    })
    .await?;
    audit::record(
        &state.metrics,
        Event::PasswordChange,
        "ok",
        Some(user_id),
        client,
    );
    Ok(web::Json(LoginResponse::new(
        &state,
        "Password changed",
        user_id,
        &auth.user.email,
        &session_id,
        refresh_token,
    )?))
}

/// Checks the password a sensitive change is confirmed with, under the login limits: a stolen
/// access token must not become a way to guess the password.
/// A refusal is an audit event of `event`.
pub(super) async fn confirm_password(
    state: &AppState,
    client: ClientIp,
    auth: &AuthUser,
    password: &str,
    event: Event,
) -> Result<(), ApiError> {
    let refused = |error: ApiError| {
        audit::refused(&state.metrics, event, &error, Some(auth.user.id), client);
        error
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(refused(ApiError::WrongPassword));
    }
    let limits = [
        (Limit::LoginPerIp, client.rate_limit_subject()),
        (Limit::LoginPerAccount, auth.user.email.clone()),
    ];
    state
        .throttle
        .check(&state.pool, &limits)
        .await
        .map_err(refused)?;
    let matches = state
        .passwords
        .verify(password.to_owned(), Some(auth.user.password_hash.clone()))
        .await?;
    if matches {
        Ok(())
    } else {
        Err(refused(ApiError::WrongPassword))
    }
}
