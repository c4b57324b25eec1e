//! `AuthUser`: the only code that reads `Authorization`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::{
    auth::token::Claims,
    db::{self, users::User},
    error::ApiError,
    startup::AppState,
};

/// The user a valid, unrevoked bearer token names. A handler that takes it is protected.
#[derive(Debug)]
pub struct AuthUser {
    pub user: User,
    pub claims: Claims,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
            let claims = state
                .tokens
                .validate(&token)
                .map_err(|_| ApiError::Unauthorized)?;
            let user_id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
            let jti = claims.jti.clone();
            let found = db::run(&state.pool, move |conn| {
                Ok(db::users::find_user_and_revocation(conn, user_id, &jti)?)
            })
            .await?;
            match found {
                Some((_, true)) => Err(ApiError::Unauthorized),
                Some((user, false)) => Ok(AuthUser { user, claims }),
                None => Err(ApiError::UserNotFound),
            }
        })
    }
}

/// The token of `Authorization: Bearer <token>`, the scheme matched case-insensitively
/// (RFC 7235 §2.1). Tokens in query strings or cookies are never looked at.
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}
