//! `POST /api/token/refresh`: a spent refresh token's successor and a new access token.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::LoginResponse;
use crate::{
    account::sign_in::{Granted, successor_key},
    audit::Event,
    auth::{
        opaque_token,
        token::{SignIn, Subject},
    },
    db::{
        AnyConnection, mail_outbox,
        sessions::{self, Refresh},
        users,
    },
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none},
    webhooks::events,
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
        (status = 403, description = "Account disabled: the session was ended by an operator's disabling, which still holds", body = ErrorBody),
        (status = 429, description = "Too many refreshes from this address; see Retry-After", body = ErrorBody),
    )
)]
pub async fn refresh(
    ctx: Ctx,
    device: Device,
    body: web::Json<RefreshRequest>,
) -> Result<LoginResponse, ApiError> {
    let Some(presented) = required(&body.refresh_token) else {
        return Err(ApiError::AllFieldsRequired);
    };
    ctx.throttle(Event::Refresh, None, &[Limit::RefreshPerIp]).await?;
    // Derived, not random: the same token presented twice gets the same successor.
    let successor = opaque_token::successor(&successor_key(&ctx).await?, presented);
    let successor_hash = opaque_token::hash(&successor);
    // Only a string of the issued length can be one; anything else needs no lookup.
    let refresh = if presented.len() == opaque_token::TOKEN_CHARS {
        let (presented_hash, rules, mailer) =
            (opaque_token::hash(presented), ctx.sessions, ctx.mailer());
        let seen = device.seen();
        // A copy of the token was used: the user is told, in the transaction that ends it.
        let tell_the_user = move |conn: &mut AnyConnection, user_id, ended: &[String]| {
            events::sessions_ended(conn, user_id, ended, "refresh_token_reuse")?;
            let Some(user) = users::find_user(conn, user_id)? else { return Ok(()) };
            mail_outbox::enqueue(conn, &mailer.notice(Kind::SessionEnded, &user, &[]))
        };
        let rotate = move |conn: &mut AnyConnection| {
            sessions::rotate(conn, &presented_hash, &successor_hash, &seen, rules, tell_the_user)
        };
        ctx.db(rotate).await?
    } else {
        Refresh::Invalid
    };
    ctx.metrics.refreshes.with_label_values(&[refresh.outcome()]).inc();
    if let Refresh::Replayed(continued) = &refresh {
        ctx.audit(Event::RefreshReplay, "same_successor", Some(continued.user_id));
    }
    match refresh {
        Refresh::Rotated(continued) | Refresh::Replayed(continued) => {
            let subject = Subject {
                user_id: continued.user_id,
                email: continued.email,
                email_verified: continued.email_verified,
                session_id: continued.session_id,
                // The session keeps the level it was signed in at.
                sign_in: SignIn::from_stored(&continued.amr),
                session_ends_at: continued.ends_at.and_utc().timestamp(),
            };
            LoginResponse::new(
                &ctx,
                "Token refreshed",
                Granted { subject, refresh_token: successor },
            )
        }
        Refresh::ReuseDetected { user_id } => {
            ctx.audit(Event::RefreshReuse, "session_ended", Some(user_id));
            Err(ApiError::InvalidRefreshToken)
        }
        Refresh::Expired => Err(ApiError::InvalidRefreshToken),
        // A session a disabling ended is told why; any other unknown token is not.
        Refresh::Invalid if presented.len() == opaque_token::TOKEN_CHARS => {
            let (hash, now) = (opaque_token::hash(presented), chrono::Utc::now().naive_utc());
            match ctx.db(move |conn| sessions::disabled_owner(conn, &hash, now)).await? {
                Some(user_id) => {
                    ctx.audit(Event::Refresh, "account_disabled", Some(user_id));
                    Err(ApiError::AccountDisabled)
                }
                None => Err(ApiError::InvalidRefreshToken),
            }
        }
        Refresh::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}
