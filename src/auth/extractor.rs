//! `AuthUser`: the only code that reads `Authorization`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use crate::{
    auth::token::Claims,
    db::{
        self,
        users::{TokenEnd, User},
    },
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
            // A token without `sid` was issued before sessions existed; it has no session to
            // end, but logout may have revoked its `jti`.
            let end = match &claims.sid {
                Some(session_id) => TokenEnd::Session(session_id.clone()),
                None => TokenEnd::Revocation(claims.jti.clone()),
            };
            let found = db::run(&state.pool, move |conn| {
                Ok(db::users::find_token_user(conn, user_id, &end)?)
            })
            .await?;
            let Some((user, live)) = found else {
                return Err(ApiError::UserNotFound);
            };
            let logged_out_everywhere = user
                .tokens_valid_after
                .is_some_and(|valid_after| claims.iat < valid_after);
            if !live || logged_out_everywhere {
                return Err(ApiError::Unauthorized);
            }
            Ok(AuthUser { user, claims })
        })
    }
}

/// The token of `Authorization: Bearer <token>`, the scheme matched case-insensitively
/// (RFC 7235 §2.1). Tokens in query strings or cookies are never looked at.
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    parse_bearer(req.headers().get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value `Bearer <token>`.
fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::parse_bearer;

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bEaReR  abc "), Some("abc"));
        for refused in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearerabc",
            "Token abc",
            "",
        ] {
            assert_eq!(parse_bearer(refused), None, "{refused:?}");
        }
    }

    proptest! {
        #[test]
        fn any_header_value_parses_without_panic(value in ".*") {
            if let Some(token) = parse_bearer(&value) {
                prop_assert!(!token.is_empty());
                prop_assert_eq!(token, token.trim());
                prop_assert!(value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer "));
            }
        }

        #[test]
        fn any_token_after_bearer_is_found(token in "[!-~]{1,200}", scheme in "(?i)bearer") {
            let value = format!("{scheme} {token}");
            prop_assert_eq!(parse_bearer(&value), Some(token.as_str()));
        }
    }
}
