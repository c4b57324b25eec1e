//! `PUT /api/password`: changes (or, without one, sets) the password, ends every other
//! session, and returns new tokens for this one. `DELETE /api/password`: removes it from an
//! account that signs in with passkeys.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginResponse, MessageResponse};
use crate::{
    account::{password::confirm_password, sign_in::SessionGrant, ways_in::WaysIn},
    audit::Event,
    auth::password::{is_set, no_password},
    db::{email_codes, mail_outbox, sessions, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx, Device},
    validation::{required, string_or_none},
    webhooks::events,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub current_password: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "staple battery horse correct")]
    pub new_password: Option<String>,
}

#[utoipa::path(
    put,
    path = "/api/password",
    tag = "user",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed: every session (and access token) of the user ended; these are the tokens of a new one", body = LoginResponse),
        (status = 400, description = "Missing field, or the new password breaks the registration rules", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Password is incorrect (the current one), or Second factor required (MFA on, an aal1 token)", body = ErrorBody),
        (status = 429, description = "Too many password attempts (the login limits); see Retry-After", body = ErrorBody),
    )
)]
pub async fn change_password(
    ctx: Ctx,
    auth: AuthUser,
    device: Device,
    body: web::Json<ChangePasswordRequest>,
) -> Result<LoginResponse, ApiError> {
    let new = required(&body.new_password).ok_or(ApiError::AllFieldsRequired)?;
    // Required unless the account has no password (`confirm_password`): setting one again.
    let current = required(&body.current_password);
    ctx.password_policy.check_new(new)?;
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, current, Event::PasswordChange).await?;
    let new_hash = ctx.passwords.hash(new.to_owned()).await?;

    let grant = SessionGrant::new(&ctx, &device, auth.claims.sign_in())?;
    let (user, checked_hash) = (auth.user.clone(), auth.user.password_hash);
    let notice = ctx.mailer().notice(Kind::PasswordChanged, &user, &[]);
    let granted = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = grant.now;
                // A concurrent change already replaced the hash checked above.
                if !users::change_password(conn, user.id, &checked_hash, &new_hash, now)? {
                    return Err(ApiError::WrongPassword);
                }
                // Every mailed code ends with the password, and the user is told.
                email_codes::end(conn, user.id, None)?;
                mail_outbox::enqueue(conn, &notice)?;
                events::password_changed(conn, user.id, "change")?;
                let ended = sessions::end_all(conn, user.id)?;
                events::sessions_ended(conn, user.id, &ended, "password_changed")?;
                let check = sessions::PasswordCheck { hash: &new_hash, at: now };
                let session_id = grant.start_in(conn, user.id, check)?;
                let session_id = session_id.ok_or(ApiError::WrongPassword)?;
                let address = (user.email, user.email_verified_at.is_some());
                Ok(grant.granted(user.id, address, session_id))
            })
        })
        .await?;
    ctx.audit(Event::PasswordChange, "ok", Some(granted.subject.user_id));
    LoginResponse::new(&ctx, "Password changed", granted)
}

#[utoipa::path(
    delete,
    path = "/api/password",
    tag = "user",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Password removed: the account signs in with its passkeys (and a code by mail); sessions go on; the owner is told. A password reset sets one again", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required: a session that proved two factors (a passkey that verified its user, or a second factor) removes it", body = ErrorBody),
        (status = 409, description = "The account has no passkey and no outside identity (its password is its last way in), or No password is set", body = ErrorBody),
    )
)]
pub async fn remove_password(
    ctx: Ctx,
    auth: AuthUser,
) -> Result<web::Json<MessageResponse>, ApiError> {
    if !auth.claims.is_aal2() {
        return Err(ApiError::SecondFactorRequired);
    }
    if !is_set(&auth.user.password_hash) {
        return Err(ApiError::NoPassword);
    }
    let unusable = no_password().map_err(ApiError::internal)?;
    let (user_id, checked_hash) = (auth.user.id, auth.user.password_hash.clone());
    let notice = ctx.mailer().notice(Kind::PasswordRemoved, &auth.user, &[]);
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            // Locked first: a removal of the last passkey must see this, or wait for it.
            users::lock(conn, user_id)?;
            if WaysIn::of(conn, user_id)?.only_one() {
                return Err(ApiError::LastWayIn);
            }
            let now = chrono::Utc::now().naive_utc();
            // A concurrent change already replaced the hash checked above.
            if !users::remove_password(conn, user_id, &checked_hash, &unusable, now)? {
                return Err(ApiError::NoPassword);
            }
            mail_outbox::enqueue(conn, &notice)?;
            Ok(events::password_changed(conn, user_id, "removal")?)
        })
    })
    .await?;
    ctx.audit(Event::PasswordRemoval, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Password removed")))
}
