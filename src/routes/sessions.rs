//! `GET /api/sessions`: the user's sessions; `DELETE /api/sessions/{id}`: ends one of them.

use actix_web::web;
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{MessageResponse, rfc3339};
use crate::{
    audit::Event,
    db::sessions::{self, Session},
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    webhooks::events,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Newest first.
    pub sessions: Vec<SessionView>,
}

/// A session as its user sees it. Where and how it was last used is written at login and at
/// refresh, never per request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    #[schema(example = "0b5c3f4e-2a7d-4e8b-9c1f-6d2e8a4b7c10")]
    pub id: String,
    /// RFC 3339, UTC.
    #[schema(example = "2026-12-02T09:15:00Z")]
    pub created_at: String,
    /// The last login or refresh (RFC 3339, UTC).
    #[schema(example = "2026-12-02T10:15:00Z")]
    pub last_used_at: String,
    /// The client's network at that time, shortened: its /24 (IPv4) or /64 (IPv6).
    #[schema(example = "203.0.113.0/24")]
    pub ip: Option<String>,
    /// At most 256 characters.
    #[schema(example = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")]
    pub user_agent: Option<String>,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

#[utoipa::path(
    get,
    path = "/api/sessions",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's live sessions, newest first", body = SessionsResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
    )
)]
pub async fn list_sessions(
    ctx: Ctx,
    auth: AuthUser,
) -> Result<web::Json<SessionsResponse>, ApiError> {
    let (user_id, now) = (auth.user.id, chrono::Utc::now().naive_utc());
    let found = ctx.db(move |conn| sessions::of_user(conn, user_id, now)).await?;
    let current = &auth.claims.sid;
    let sessions = found.into_iter().map(|session| SessionView::of(session, current)).collect();
    Ok(web::Json(SessionsResponse { status: "success", sessions }))
}

#[utoipa::path(
    delete,
    path = "/api/sessions/{id}",
    tag = "sessions",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "A session id from `GET /api/sessions`")),
    responses(
        (status = 200, description = "Session ended: its access and refresh tokens are refused from now on: at once by the replica that answered, within milliseconds by every other (the session cache's bound, docs/SCALING.md)", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "Session not found (also another user's)", body = ErrorBody),
    )
)]
pub async fn end_session(
    ctx: Ctx,
    auth: AuthUser,
    id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    // Ids are UUIDs: anything else is no session, and never reaches the database.
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::SessionNotFound)?.to_string();
    let user_id = auth.user.id;
    let ended = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let ended = sessions::end_of_user(conn, user_id, &id)?;
                events::sessions_ended(conn, user_id, &ended, "user")?;
                Ok::<_, diesel::result::Error>(!ended.is_empty())
            })
        })
        .await?;
    if !ended {
        return Err(ApiError::SessionNotFound);
    }
    ctx.audit(Event::SessionEnd, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Session ended")))
}

impl SessionView {
    fn of(session: Session, current: &str) -> Self {
        SessionView {
            current: session.id == current,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at.unwrap_or(session.created_at)),
            id: session.id,
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}
