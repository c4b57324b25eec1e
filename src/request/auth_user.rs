//! `AuthUser`: the only code that reads `Authorization`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::{
    auth::{bearer::bearer_token, token::Claims},
    db::{self, users::User},
    error::ApiError,
    state::AppState,
};

/// The user a valid bearer token of a live session names. A handler that takes it is protected.
#[derive(Debug)]
pub struct AuthUser {
    pub user: User,
    pub claims: Claims,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = verify(req);
        Box::pin(async move {
            let (state, claims) = verified?;
            let user_id: i64 = claims.sub.parse().map_err(|_| ApiError::Unauthorized)?;
            let session_id = claims.sid.clone();
            let found = db::run(&state.db, move |conn| {
                db::users::find_token_user(conn, user_id, &session_id)
            })
            .await?;
            let Some((user, live)) = found else {
                return Err(ApiError::UserNotFound);
            };
            // `iat` has whole seconds: a token of the second of a logout everywhere is judged by
            // its session (deleted by it, or started after it).
            let logged_out_everywhere = user
                .tokens_valid_after_ms
                .is_some_and(|valid_after| claims.iat < valid_after.div_euclid(1000));
            if !live || logged_out_everywhere {
                return Err(ApiError::Unauthorized);
            }
            Ok(AuthUser { user, claims })
        })
    }
}

impl AuthUser {
    /// An account with MFA changes its password, its email, its factors or its existence only
    /// from a session that proved the second factor (`aal2`).
    pub fn require_second_factor(&self) -> Result<(), ApiError> {
        if self.user.totp_enabled_at.is_some() && !self.claims.is_aal2() {
            return Err(ApiError::SecondFactorRequired);
        }
        Ok(())
    }
}

/// The token's claims, checked before the future is built (the token is not copied).
fn verify(req: &HttpRequest) -> Result<(web::Data<AppState>, Claims), ApiError> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    let claims = state.tokens.validate(token).map_err(|_| ApiError::Unauthorized)?;
    Ok((state, claims))
}
