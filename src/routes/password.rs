//! `PUT /api/password`: changes the password, ends every other session, and returns new tokens
//! for this one.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::LoginResponse;
use crate::{
    account::{password::confirm_password, sign_in::SessionGrant},
    audit::Event,
    db::{email_codes, mail_outbox, sessions, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx, Device},
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
                sessions::end_all(conn, user.id)?;
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
