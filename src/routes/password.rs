//! `PUT /api/password`: changes the password, ends every other session, and returns new tokens
//! for this one.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginResponse, SessionOf};
use crate::{
    audit::Event,
    auth::password_policy::could_be_stored,
    db::{email_codes, mail_outbox, sessions, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none},
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
    let (Some(current), Some(new)) =
        (required(&body.current_password), required(&body.new_password))
    else {
        return Err(ApiError::AllFieldsRequired);
    };
    ctx.password_policy.check_new(new)?;
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, current, Event::PasswordChange).await?;
    let new_hash = ctx.passwords.hash(new.to_owned()).await?;

    let now = chrono::Utc::now().naive_utc();
    let (refresh_token, first) = ctx.new_refresh_token(now)?;
    let (user_id, seen) = (auth.user.id, device.seen());
    let (sign_in, amr) = (auth.claims.sign_in(), auth.claims.sign_in().stored());
    let checked_hash = auth.user.password_hash;
    let facts = [("name", auth.user.name.as_str())];
    let notice =
        ctx.mailer().compose(Kind::PasswordChanged, Some(user_id), &auth.user.email, &facts);
    let session_id = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                // A concurrent change already replaced the hash checked above.
                if !users::change_password(conn, user_id, &checked_hash, &new_hash, now)? {
                    return Err(ApiError::WrongPassword);
                }
                // Every mailed code ends with the password, and the user is told.
                email_codes::end(conn, user_id, None)?;
                mail_outbox::enqueue(conn, &notice)?;
                sessions::end_all(conn, user_id)?;
                let check = sessions::PasswordCheck { hash: &new_hash, at: now };
                let new = sessions::NewSession { first: &first, seen: &seen, amr };
                sessions::start(conn, user_id, check, new, now)?.ok_or(ApiError::WrongPassword)
            })
        })
        .await?;
    ctx.ring_mail();
    ctx.audit(Event::PasswordChange, "ok", Some(user_id));
    let session = SessionOf { user_id, email: &auth.user.email, session_id: &session_id, sign_in };
    LoginResponse::new(&ctx, "Password changed", session, refresh_token)
}

/// Checks the password a sensitive change is confirmed with, under the login limits: a stolen
/// access token must not become a way to guess the password. A refusal is an audit event of
/// `event`.
pub(super) async fn confirm_password(
    ctx: &Ctx,
    auth: &AuthUser,
    password: &str,
    event: Event,
) -> Result<(), ApiError> {
    let user_id = Some(auth.user.id);
    let refused = |error: ApiError| {
        ctx.audit_refusal(event, &error, user_id);
        error
    };
    if !could_be_stored(password) {
        return Err(refused(ApiError::WrongPassword));
    }
    ctx.throttle(event, user_id, &[Limit::LoginPerIp, Limit::ConfirmPerAccount(auth.user.id)])
        .await?;
    let stored_hash = Some(auth.user.password_hash.clone());
    if ctx.passwords.verify(password.to_owned(), stored_hash).await? {
        Ok(())
    } else {
        Err(refused(ApiError::WrongPassword))
    }
}
