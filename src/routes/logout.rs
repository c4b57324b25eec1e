//! `POST /api/logout`: ends this session; `?scope=all` ends every session of the user.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::IntoParams;

use super::MessageResponse;
use crate::{
    audit::{self, Event},
    auth::AuthUser,
    db::{self, revoked_tokens, sessions, users},
    error::{ApiError, ErrorBody},
    startup::AppState,
    throttle::ClientIp,
};

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogoutQuery {
    /// `all`: every session of the user, on every device. Absent: this session only.
    pub scope: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    security(("bearer" = [])),
    params(LogoutQuery),
    responses(
        (status = 200, description = "Logged out: the session's access and refresh tokens (with scope=all, every access token issued before now and every refresh token of the user) are refused from now on, on every replica", body = MessageResponse),
        (status = 400, description = "Unknown logout scope", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn logout(
    state: web::Data<AppState>,
    client: ClientIp,
    auth: AuthUser,
    query: Result<web::Query<LogoutQuery>, actix_web::Error>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let everywhere = match query.map(|query| query.into_inner().scope) {
        Ok(None) => false,
        Ok(Some(scope)) if scope == "all" => true,
        _ => return Err(ApiError::UnknownScope),
    };
    let user_id = auth.user.id;
    if everywhere {
        db::run(&state.pool, move |conn| {
            let now = chrono::Utc::now().naive_utc();
            Ok(conn.transaction(|conn| {
                users::refuse_tokens_before(conn, user_id, now)?;
                sessions::end_all(conn, user_id)
            })?)
        })
        .await?;
        audit::record(
            &state.metrics,
            Event::LogoutEverywhere,
            "ok",
            Some(user_id),
            client,
        );
        return Ok(web::Json(MessageResponse::success("Logged out everywhere")));
    }
    let claims = auth.claims;
    match claims.sid {
        Some(session_id) => {
            db::run(&state.pool, move |conn| {
                Ok(sessions::end(conn, &session_id)?)
            })
            .await?
        }
        // A token from before sessions: revoke it alone, as v1 did.
        None => {
            let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
                .ok_or_else(|| ApiError::internal("token exp out of range"))?
                .naive_utc();
            db::run(&state.pool, move |conn| {
                Ok(revoked_tokens::revoke(conn, &claims.jti, expires_at)?)
            })
            .await?
        }
    }
    audit::record(&state.metrics, Event::Logout, "ok", Some(user_id), client);
    Ok(web::Json(MessageResponse::success("Logged out")))
}
