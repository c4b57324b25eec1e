//! `AuthUser`: the only code that reads `Authorization`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::{
    auth::{bearer::bearer_token, token::Claims},
    db::{self, session_cache::Lookup, users::User},
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
            let (user, live) = token_user(&state, user_id, &claims.sid).await?;
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

/// The user the token names and whether its session is live: from this replica's session
/// cache when it holds them (no query, no thread), else from the database (then cached).
async fn token_user(
    state: &AppState,
    user_id: i64,
    session_id: &str,
) -> Result<(User, bool), ApiError> {
    let (db, lookups) = (&state.db, &state.metrics.session_cache_lookups);
    let ticket = match db.session_cache().map(|cache| cache.lookup(user_id, session_id)) {
        Some(Lookup::Hit(user)) => {
            lookups.with_label_values(&["hit"]).inc();
            return Ok((user, true));
        }
        Some(Lookup::Miss(ticket)) => Some(ticket),
        Some(Lookup::Bypass) | None => None,
    };
    lookups.with_label_values(&[if ticket.is_some() { "miss" } else { "bypass" }]).inc();
    let sid = session_id.to_owned();
    let found = db::run(db, move |conn| db::users::find_token_user(conn, user_id, &sid)).await?;
    let (user, live) = found.ok_or(ApiError::UserNotFound)?;
    if let (Some(cache), Some(ticket), true) = (db.session_cache(), ticket, live) {
        cache.fill(ticket, &user, session_id);
    }
    Ok((user, live))
}

/// The token's claims, checked before the future is built (the token is not copied).
fn verify(req: &HttpRequest) -> Result<(web::Data<AppState>, Claims), ApiError> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let state = state.ok_or_else(|| ApiError::internal("AppState is not registered"))?;
    let token = bearer_token(req).ok_or(ApiError::Unauthorized)?;
    let claims = state.tokens.validate(token).map_err(|_| ApiError::Unauthorized)?;
    Ok((state, claims))
}
