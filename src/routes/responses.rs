//! The response bodies several endpoints share.

use actix_web::{
    HttpRequest, HttpResponse, Responder,
    body::BoxBody,
    http::header::{CACHE_CONTROL, PRAGMA},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{error::ApiError, state::AppState};

/// `{"status":"success","message":…}`, the body of register, logout and account deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
}

impl MessageResponse {
    pub fn success(message: &'static str) -> Self {
        MessageResponse { status: "success", message }
    }
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

/// The session a new pair of tokens belongs to, and its user.
#[derive(Debug, Clone, Copy)]
pub struct SessionOf<'a> {
    pub user_id: i64,
    pub email: &'a str,
    pub session_id: &'a str,
}

impl LoginResponse {
    /// A new access token for `session`, beside that session's new refresh token.
    pub fn new(
        state: &AppState,
        message: &'static str,
        session: SessionOf,
        refresh_token: String,
    ) -> Result<Self, ApiError> {
        let SessionOf { user_id, email, session_id } = session;
        let access_token =
            state.tokens.issue(user_id, email, session_id).map_err(ApiError::internal)?;
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

/// A body with tokens in it is never stored by a cache on the way (RFC 6749 §5.1).
impl Responder for LoginResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .json(self)
    }
}
