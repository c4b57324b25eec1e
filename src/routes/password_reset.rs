//! `POST /api/password/forgot` and `POST /api/password/reset`: a code by mail, typed back with
//! a new password. Nothing is spent by opening a link (mail scanners open them all): the link
//! carries the code in its fragment, which browsers never send, for the website's page to POST.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginReply, LoginResponse, MessageResponse, MfaRequiredResponse};
use crate::{
    account::{
        codes::{self, CodeMail},
        federation,
        password::reset_in,
        second_factor,
        sign_in::{Granted, SessionGrant},
    },
    audit::Event,
    auth::token::SignIn,
    db::{email_codes::Purpose, mfa_challenges::Challenge, sessions, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none, valid_email},
};

pub const FORGOT_MESSAGE: &str = "If that address has an account, a code is on its way";

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    /// The six digits the message gives, or the long code its link carries (which wrong
    /// guesses at the six digits never end).
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "042917")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "staple battery horse correct")]
    pub new_password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/password/forgot",
    tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "The same answer for every address: a code is mailed if it has an account", body = MessageResponse),
        (status = 400, description = "Missing or invalid email", body = ErrorBody),
        (status = 429, description = "Too many codes asked for from this address, or for this email; see Retry-After", body = ErrorBody),
    )
)]
pub async fn forgot_password(
    ctx: Ctx,
    body: web::Json<ForgotPasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = valid_email(required(&body.email).ok_or(ApiError::AllFieldsRequired)?)?;
    let address = Limit::mail_to(&email);
    ctx.throttle(Event::PasswordResetRequest, None, &[Limit::MailPerIp, address]).await?;
    let code = CodeMail::new(&ctx, Kind::PasswordReset, Purpose::ResetPassword, "reset-password")?;
    if let Some(user_id) = code.send_to_address(&ctx, email, |_| true).await? {
        ctx.audit(Event::PasswordResetRequest, "ok", Some(user_id));
    }
    Ok(HttpResponse::Accepted().json(MessageResponse::success(FORGOT_MESSAGE)))
}

#[utoipa::path(
    post,
    path = "/api/password/reset",
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Password reset: every earlier session and access token of the user ended; these are the tokens of a new one. For an account with MFA, instead the MFA required body, as at login, and nothing changed yet: the new password is set, and the sessions end, when POST /api/login/mfa proves the factor", body = LoginResponse),
        (status = 400, description = "Missing field, the new password breaks the registration rules, or Invalid or expired code (wrong, expired, spent, superseded or out of tries)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or wrong codes of this account; see Retry-After", body = ErrorBody),
    )
)]
pub async fn reset_password(
    ctx: Ctx,
    device: Device,
    body: web::Json<ResetPasswordRequest>,
) -> Result<LoginReply, ApiError> {
    let (Some(email), Some(code), Some(new_password)) =
        (required(&body.email), required(&body.code), required(&body.new_password))
    else {
        return Err(ApiError::AllFieldsRequired);
    };
    let email = valid_email(email).map_err(|_| ApiError::InvalidCode)?;
    ctx.password_policy.check_new(new_password)?;
    // A code is a credential: guessing them across accounts counts as logins do.
    ctx.throttle(Event::PasswordReset, None, &[Limit::LoginPerIp]).await?;
    let attempt = codes::reserve(&ctx, &email, code, Event::PasswordReset, None).await?;
    let new_hash = ctx.passwords.hash(new_password.to_owned()).await?;

    let grant = SessionGrant::new(&ctx, &device, SignIn::Password)?;
    let (code, mailer, waiting) = (code.to_owned(), ctx.mailer(), second_factor::Waiting::of(&ctx));
    let reset = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = grant.now;
                let Some(user) = users::lock_by_email(conn, &email)? else {
                    return Ok::<_, ApiError>(Err(None));
                };
                // Whatever the code: nothing is spent or changed, the answer is the same.
                if user.is_disabled(now) {
                    return Err(ApiError::AccountDisabled);
                }
                if codes::spend(conn, user.id, Purpose::ResetPassword, &code, now)?.is_none() {
                    // Committed: the wrong try is spent.
                    return Ok(Err(Some(user.id)));
                }
                if user.email_verified_at.is_none() {
                    federation::first_proof(conn, &user)?;
                } else if user.totp_enabled_at.is_some() {
                    // A mailed code is no second factor, and the mailbox alone changes
                    // nothing: the new password waits for the factor (POST /api/login/mfa).
                    let mut challenge = Challenge::after(SignIn::Password.stored(), user.id, now);
                    challenge.new_password_hash = Some(new_hash);
                    let pending = second_factor::challenge(conn, &waiting, challenge)?;
                    return Ok(Ok(Reset::MfaRequired(user.id, pending)));
                }
                reset_in(conn, &user, &new_hash, now, &mailer)?;
                let check = sessions::PasswordCheck { hash: &new_hash, at: now };
                let session_id =
                    grant.start_in(conn, user.id, check)?.ok_or(ApiError::InvalidCode)?;
                // The mailed code proved the address.
                let granted = grant.granted(user.id, (user.email, true), session_id);
                Ok(Ok(Reset::Session(granted)))
            })
        })
        .await
        .inspect_err(|error| ctx.audit_refusal(Event::PasswordReset, error, None))?
        .map_err(|user_id| {
            // A wrong code of a known account, or a code for an unknown address.
            ctx.audit_refusal(Event::PasswordReset, &ApiError::InvalidCode, user_id);
            ApiError::InvalidCode
        })?;
    attempt.proved(&ctx).await?;
    match reset {
        Reset::Session(granted) => {
            ctx.audit(Event::PasswordReset, "ok", Some(granted.subject.user_id));
            LoginResponse::new(&ctx, "Password reset", granted).map(LoginReply::Tokens)
        }
        Reset::MfaRequired(user_id, pending) => {
            ctx.audit(Event::PasswordReset, "mfa_required", Some(user_id));
            Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(&ctx, pending)?))
        }
    }
}

/// What a reset leads to: a session, or (with MFA) the second step that completes it.
enum Reset {
    Session(Granted),
    MfaRequired(i64, second_factor::Pending),
}
