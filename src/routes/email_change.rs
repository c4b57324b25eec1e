//! `POST /api/email/change` and `POST /api/email/change/confirm`: a code mailed to the new
//! address proves it; then the account moves, its other sessions end, and the old address is
//! told.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginResponse, MessageResponse};
use crate::{
    account::{
        codes::{self, CodeMail},
        password::confirm_password,
        sign_in::SessionGrant,
    },
    audit::Event,
    db::{
        email_codes::{self, Purpose},
        mail_outbox, sessions, users,
    },
    error::{ApiError, ErrorBody},
    mail::templates::{Kind, masked_address},
    request::{AuthUser, Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none, valid_email},
    webhooks::events,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "arun@example.org")]
    pub new_email: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmEmailChangeRequest {
    /// The six digits the message gives, or the long code its link carries (which wrong
    /// guesses at the six digits never end).
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "042917")]
    pub code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/email/change",
    tag = "user",
    security(("bearer" = [])),
    request_body = ChangeEmailRequest,
    responses(
        (status = 202, description = "Confirmation code sent to the new address", body = MessageResponse),
        (status = 400, description = "Missing field, invalid email, or Email already registered", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Password is incorrect, or Second factor required (MFA on, an aal1 token)", body = ErrorBody),
        (status = 429, description = "Too many attempts or codes; see Retry-After", body = ErrorBody),
    )
)]
pub async fn change_email(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<ChangeEmailRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_email = required(&body.new_email).ok_or(ApiError::AllFieldsRequired)?;
    // Required unless the account has no password (`confirm_password`).
    let password = required(&body.password);
    let new_email = valid_email(new_email)?;
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, password, Event::EmailChange).await?;
    let address = Limit::mail_to(&new_email);
    let limits = [Limit::MailPerIp, address];
    ctx.throttle(Event::EmailChange, Some(auth.user.id), &limits).await?;
    let code = CodeMail::new(&ctx, Kind::EmailChange, Purpose::ChangeEmail, "confirm-email")?;
    let user = auth.user;
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            // Written first (a transaction that writes must begin with a write, for SQLite); a
            // taken address rolls it back.
            let new = Some(new_email.as_str());
            code.send_in(conn, user.id, &user.name, &new_email, new, &[("new_email", &new_email)])?;
            if users::find_user_by_email(conn, &new_email)?.is_some() {
                return Err(ApiError::EmailAlreadyRegistered);
            }
            Ok(())
        })
    })
    .await?;
    let message = "Confirmation code sent to the new address";
    Ok(HttpResponse::Accepted().json(MessageResponse::success(message)))
}

#[utoipa::path(
    post,
    path = "/api/email/change/confirm",
    tag = "user",
    security(("bearer" = [])),
    request_body = ConfirmEmailChangeRequest,
    responses(
        (status = 200, description = "Email changed: every other session ended; these are the tokens of a new one, carrying the new email", body = LoginResponse),
        (status = 400, description = "Missing code, Invalid or expired code, or Email already registered (taken meanwhile)", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required (MFA on, an aal1 token)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or wrong codes past the account's budget; see Retry-After", body = ErrorBody),
    )
)]
pub async fn confirm_email_change(
    ctx: Ctx,
    auth: AuthUser,
    device: Device,
    body: web::Json<ConfirmEmailChangeRequest>,
) -> Result<LoginResponse, ApiError> {
    let code = required(&body.code).ok_or(ApiError::AllFieldsRequired)?.to_owned();
    auth.require_second_factor()?;
    let user_id = auth.user.id;
    ctx.throttle(Event::EmailChange, Some(user_id), &[Limit::LoginPerIp]).await?;
    let (email, event) = (&auth.user.email, Event::EmailChange);
    let attempt = codes::reserve(&ctx, email, &code, event, Some(user_id)).await?;
    let grant = SessionGrant::new(&ctx, &device, auth.claims.sign_in())?;
    let (user, mailer) = (auth.user, ctx.mailer());
    let granted = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = grant.now;
                let spent = codes::spend(conn, user.id, Purpose::ChangeEmail, &code, now)?;
                let Some(stored) = spent else {
                    return Ok::<_, ApiError>(Err(ApiError::InvalidCode));
                };
                let new_email = stored.new_email.ok_or(ApiError::InvalidCode)?;
                users::change_email(conn, user.id, &new_email, now)
                    .map_err(ApiError::on_email_write)?;
                // A code proves the mailbox it was sent to: none sent to the old address (a
                // verification, a password reset) works for the account now.
                email_codes::end(conn, user.id, None)?;
                events::email_changed(conn, user.id, &new_email, &user.email)?;
                let ended = sessions::end_all(conn, user.id)?;
                events::sessions_ended(conn, user.id, &ended, "email_changed")?;
                let check = sessions::PasswordCheck { hash: &user.password_hash, at: now };
                let session_id =
                    grant.start_in(conn, user.id, check)?.ok_or(ApiError::Unauthorized)?;
                // The old mailbox learns where the account went, not the address to write to.
                let masked = masked_address(&new_email);
                let notice = mailer.notice(Kind::EmailChanged, &user, &[("new_email", &masked)]);
                mail_outbox::enqueue(conn, &notice)?;
                // The code mailed to it proved the new address.
                Ok(Ok(grant.granted(user.id, (new_email, true), session_id)))
            })
        })
        .await?
        .inspect_err(|error| ctx.audit_refusal(Event::EmailChange, error, Some(user_id)))?;
    attempt.proved(&ctx).await?;
    ctx.audit(Event::EmailChange, "ok", Some(user_id));
    LoginResponse::new(&ctx, "Email changed", granted)
}
