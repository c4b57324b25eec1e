//! `POST /api/login`

use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::password::MAX_PASSWORD_BYTES,
    db::{self, users},
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

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "Login successful!")]
    pub message: &'static str,
    /// An HS256 JWT with claims `sub`, `email`, `iat`, `exp`, `jti`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
}

#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Login successful", body = LoginResponse),
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
    state.throttle.check(&state.pool, &limits).await?;
    let user = db::run(&state.pool, move |conn| {
        Ok(users::find_user_by_email(conn, &email)?)
    })
    .await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let matches = state
        .passwords
        .verify(password.to_owned(), stored_hash)
        .await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::InvalidCredentials);
    };
    let access_token = state
        .tokens
        .issue(user.id, &user.email)
        .map_err(ApiError::internal)?;
    Ok(web::Json(LoginResponse {
        status: "success",
        message: "Login successful!",
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
    }))
}
