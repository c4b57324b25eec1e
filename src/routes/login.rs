//! `POST /api/login`

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    audit::{self, Event},
    auth::{password::MAX_PASSWORD_BYTES, refresh_token},
    db::{
        self,
        sessions::{self, NewRefreshToken},
        users,
    },
    error::{ApiError, ErrorBody},
    startup::AppState,
    throttle::{ClientIp, Limit},
    validation::{normalize_email, required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub password: Option<String>,
}

/// The body of login, refresh and password change: the tokens of one session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "Login successful!")]
    pub message: &'static str,
    /// A JWT (HS256 by default, EdDSA when configured) with a `kid` header and claims `sub`,
    /// `email`, `iat`, `exp`, `jti` and `sid` (the session).
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    /// Opaque; exchanged once at `POST /api/token/refresh` for new tokens of the same session.
    #[schema(example = "3q2-7wW3Xb0q9Y1lJ8m4kZr0sVn6tPc2aFh5dGi7eKo")]
    pub refresh_token: String,
}

impl LoginResponse {
    /// A new access token for `session_id`, beside that session's new refresh token.
    pub(super) fn new(
        state: &AppState,
        message: &'static str,
        user_id: i64,
        email: &str,
        session_id: &str,
        refresh_token: String,
    ) -> Result<Self, ApiError> {
        let access_token = state
            .tokens
            .issue(user_id, email, session_id)
            .map_err(ApiError::internal)?;
        Ok(LoginResponse {
            status: "success",
            message,
            access_token,
            token_type: "Bearer",
            expires_in: state.tokens.ttl_secs(),
            refresh_token,
        })
    }
}

/// A new refresh token for the client, and what the database keeps of it.
pub(super) fn new_refresh_token(
    state: &AppState,
    now: chrono::NaiveDateTime,
) -> Result<(String, NewRefreshToken), ApiError> {
    let (token, token_hash) = refresh_token::generate().map_err(ApiError::internal)?;
    Ok((
        token,
        NewRefreshToken {
            token_hash,
            expires_at: now + state.refresh_token_ttl,
        },
    ))
}

#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Login successful: a new session", body = LoginResponse),
        (status = 400, description = "Missing fields or malformed body", body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or on this account; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    state: web::Data<AppState>,
    client: ClientIp,
    body: web::Json<LoginRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let (Some(email), Some(password)) = (required(&body.email), required(&body.password)) else {
        return Err(ApiError::AllFieldsRequired);
    };
    // Such a password can never have been registered; refusing it unhashed also keeps bcrypt
    // from comparing only its first 72 bytes.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::InvalidCredentials);
    }
    let email = normalize_email(email);
    // Before any lookup or bcrypt: a throttled guess costs one upsert per limit.
    let limits = [
        (Limit::LoginPerIp, client.rate_limit_subject()),
        (Limit::LoginPerAccount, email.clone()),
    ];
    state
        .throttle
        .check(&state.pool, &limits)
        .await
        .inspect_err(|error| audit::refused(&state.metrics, Event::Login, error, None, client))?;
    let user = db::run(&state.pool, move |conn| {
        Ok(users::find_user_by_email(conn, &email)?)
    })
    .await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let known_id = user.as_ref().map(|user| user.id);
    let matches = state
        .passwords
        .verify(password.to_owned(), stored_hash)
        .await?;
    let Some(user) = user.filter(|_| matches) else {
        audit::record(
            &state.metrics,
            Event::Login,
            "bad_credentials",
            known_id,
            client,
        );
        return Err(ApiError::InvalidCredentials);
    };
    let now = chrono::Utc::now().naive_utc();
    let (refresh_token, first) = new_refresh_token(&state, now)?;
    let user_id = user.id;
    let session_id = db::run(&state.pool, move |conn| {
        Ok(sessions::start(conn, user_id, &first, now)?)
    })
    .await?;
    audit::record(&state.metrics, Event::Login, "ok", Some(user.id), client);
    Ok(web::Json(LoginResponse::new(
        &state,
        "Login successful!",
        user.id,
        &user.email,
        &session_id,
        refresh_token,
    )?))
}
