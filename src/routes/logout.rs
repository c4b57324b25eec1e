//! `POST /api/logout`: ends this session; `?scope=all` ends every session of the user,
//! `?scope=others` every one but this.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::IntoParams;

use super::responses::MessageResponse;
use crate::{
    account::sign_in,
    audit::Event,
    auth::token::Claims,
    db::sessions,
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    webhooks::events,
};

#[derive(Debug, Deserialize, IntoParams)]
pub struct LogoutQuery {
    /// `all`: every session of the user, on every device; `others`: every one but this.
    /// Absent: this session only.
    #[param(value_type = Option<String>, example = "all")]
    pub scope: Option<LogoutScope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoutScope {
    All,
    Others,
    /// Any other value: answered `Unknown logout scope`, not as a malformed query.
    #[serde(other)]
    Unknown,
}

#[utoipa::path(
    post,
    path = "/api/logout",
    tag = "auth",
    security(("bearer" = [])),
    params(LogoutQuery),
    responses(
        (status = 200, description = "Logged out: the session's access and refresh tokens (with scope=all, every access token issued before now and every refresh token of the user; with scope=others, those of every other session) are refused from now on: at once by the replica that answered, within milliseconds by every other (the session cache's bound, docs/SCALING.md)", body = MessageResponse),
        (status = 400, description = "Unknown logout scope, or a malformed query string", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn logout(
    ctx: Ctx,
    auth: AuthUser,
    query: web::Query<LogoutQuery>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let user_id = auth.user.id;
    let (event, message) = match query.scope {
        None => {
            end_this_session(&ctx, user_id, auth.claims).await?;
            (Event::Logout, "Logged out")
        }
        Some(LogoutScope::All) => {
            end_every_session(&ctx, user_id).await?;
            (Event::LogoutEverywhere, "Logged out everywhere")
        }
        Some(LogoutScope::Others) => {
            let this = auth.claims.sid;
            ctx.db(move |conn| {
                conn.transaction(|conn| {
                    let ended = sessions::end_all_but(conn, user_id, &this)?;
                    events::sessions_ended(conn, user_id, &ended, "user")
                })
            })
            .await?;
            (Event::LogoutOthers, "Logged out of other sessions")
        }
        Some(LogoutScope::Unknown) => return Err(ApiError::UnknownScope),
    };
    ctx.audit(event, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success(message)))
}

/// Ends the token's session: its access tokens and refresh tokens, on every replica.
async fn end_this_session(ctx: &Ctx, user_id: i64, claims: Claims) -> Result<(), ApiError> {
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            let ended = sessions::end(conn, &claims.sid)?;
            events::sessions_ended(conn, user_id, &ended, "user")
        })
    })
    .await
}

/// Ends every session of the user and refuses every access token issued before now.
async fn end_every_session(ctx: &Ctx, user_id: i64) -> Result<(), ApiError> {
    let now = chrono::Utc::now().naive_utc();
    ctx.db(move |conn| sign_in::end_everywhere(conn, user_id, now, "user")).await
}
