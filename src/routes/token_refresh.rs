//! `POST /api/token/refresh`: a spent refresh token's successor and a new access token.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::login::LoginResponse;
use crate::{
    audit::{self, Event},
    auth::refresh_token,
    db::{
        self,
        sessions::{self, Refresh},
    },
    error::{ApiError, ErrorBody},
    startup::AppState,
    throttle::ClientIp,
    validation::{required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub refresh_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/token/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Token refreshed: the presented refresh token is spent; use the new one next time", body = LoginResponse),
        (status = 400, description = "Missing refresh_token or malformed body", body = ErrorBody),
        (status = 401, description = "Invalid refresh token: unknown, expired, its session ended, or spent before (which ends the session)", body = ErrorBody),
    )
)]
pub async fn refresh(
    state: web::Data<AppState>,
    client: ClientIp,
    body: web::Json<RefreshRequest>,
) -> Result<web::Json<LoginResponse>, ApiError> {
    let Some(presented) = required(&body.refresh_token) else {
        return Err(ApiError::AllFieldsRequired);
    };
    // Only a string of the issued length can be one; anything else needs no lookup.
    if presented.len() != refresh_token::TOKEN_CHARS {
        state
            .metrics
            .refreshes
            .with_label_values(&["invalid"])
            .inc();
        return Err(ApiError::InvalidRefreshToken);
    }
    let presented_hash = refresh_token::hash(presented);
    let (successor_token, successor_hash) =
        refresh_token::generate().map_err(ApiError::internal)?;
    let (ttl, grace) = (state.refresh_token_ttl, state.refresh_reuse_interval);
    let outcome = db::run(&state.pool, move |conn| {
        Ok(sessions::rotate(
            conn,
            &presented_hash,
            &successor_hash,
            ttl,
            grace,
        )?)
    })
    .await?;
    match outcome {
        Refresh::Rotated {
            user_id,
            email,
            session_id,
        } => {
            state
                .metrics
                .refreshes
                .with_label_values(&["rotated"])
                .inc();
            Ok(web::Json(LoginResponse::new(
                &state,
                "Token refreshed",
                user_id,
                &email,
                &session_id,
                successor_token,
            )?))
        }
        Refresh::ReuseDetected { user_id } => {
            let metrics = &state.metrics;
            audit::record(
                metrics,
                Event::RefreshReuse,
                "session_ended",
                Some(user_id),
                client,
            );
            Err(ApiError::InvalidRefreshToken)
        }
        Refresh::Expired => {
            state
                .metrics
                .refreshes
                .with_label_values(&["expired"])
                .inc();
            Err(ApiError::InvalidRefreshToken)
        }
        Refresh::Invalid => {
            state
                .metrics
                .refreshes
                .with_label_values(&["invalid"])
                .inc();
            Err(ApiError::InvalidRefreshToken)
        }
    }
}
