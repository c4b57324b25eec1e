//! `POST /api/email/verify` and `POST /api/email/verify/resend`: the address proved by the
//! code mailed at registration (or a new one). No bearer to verify: the mail may be opened on
//! another device than the one signed in.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::MessageResponse;
use crate::{
    account::{
        codes::{self, CodeMail, VERIFY_PAGE},
        federation,
    },
    audit::Event,
    db::{email_codes::Purpose, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx},
    throttle::Limit,
    validation::{required, string_or_none, valid_email},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    /// The six digits the message gives, or the long code its link carries (which wrong
    /// guesses at the six digits never end).
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "042917")]
    pub code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/email/verify",
    tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Email verified", body = MessageResponse),
        (status = 400, description = "Missing field, or Invalid or expired code", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or wrong codes past the account's budget; see Retry-After", body = ErrorBody),
    )
)]
pub async fn verify_email(
    ctx: Ctx,
    body: web::Json<VerifyEmailRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let (Some(email), Some(code)) = (required(&body.email), required(&body.code)) else {
        return Err(ApiError::AllFieldsRequired);
    };
    let email = valid_email(email).map_err(|_| ApiError::InvalidCode)?;
    ctx.throttle(Event::EmailVerification, None, &[Limit::LoginPerIp]).await?;
    let attempt = codes::reserve(&ctx, &email, code, Event::EmailVerification, None).await?;
    let code = code.to_owned();
    let verified = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = chrono::Utc::now().naive_utc();
                let Some(user) = users::lock_by_email(conn, &email)? else {
                    return Ok::<_, ApiError>(Err(None));
                };
                if codes::spend(conn, user.id, Purpose::VerifyEmail, &code, now)?.is_none() {
                    return Ok(Err(Some(user.id)));
                }
                federation::prove_address(conn, &user, now, "code")?;
                Ok(Ok(user.id))
            })
        })
        .await?;
    let user_id = verified.map_err(|user_id| {
        ctx.audit_refusal(Event::EmailVerification, &ApiError::InvalidCode, user_id);
        ApiError::InvalidCode
    })?;
    attempt.proved(&ctx).await?;
    ctx.audit(Event::EmailVerification, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Email verified")))
}

/// What `POST /api/email/verify/resend` answers a request without a bearer token, whatever
/// the address: whether it has an account, and whether that is verified, stays unsaid.
pub const RESEND_MESSAGE: &str = "If that address has an unverified account, a code is on its way";

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResendVerificationRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/email/verify/resend",
    tag = "auth",
    security((), ("bearer" = [])),
    request_body(content = Option<ResendVerificationRequest>, description = "Without a bearer token: the address to send a new code to (for an account that cannot log in before it is verified, REQUIRE_EMAIL_VERIFICATION)"),
    responses(
        (status = 202, description = "With a bearer token: Verification code sent (a new one: the one before ends). Without one: the same answer for every address, a code mailed only if it has an unverified account", body = MessageResponse),
        (status = 400, description = "Email already verified (with a bearer token), or an invalid email", body = ErrorBody),
        (status = 401, description = "Unauthorized: neither a bearer token nor an email", body = ErrorBody),
        (status = 429, description = "Too many codes asked for; see Retry-After", body = ErrorBody),
    )
)]
pub async fn resend_verification(
    ctx: Ctx,
    auth: Result<AuthUser, ApiError>,
    body: Option<web::Json<ResendVerificationRequest>>,
) -> Result<HttpResponse, ApiError> {
    let email = body.as_ref().and_then(|body| required(&body.email));
    let user = match (auth, email) {
        (Ok(auth), _) => auth.user,
        (Err(_), Some(email)) => return resend_to_address(&ctx, valid_email(email)?).await,
        (Err(error), None) => return Err(error),
    };
    if user.email_verified_at.is_some() {
        return Err(ApiError::EmailAlreadyVerified);
    }
    let address = Limit::mail_to(&user.email);
    let limits = [Limit::MailPerIp, address];
    ctx.throttle(Event::EmailVerification, Some(user.id), &limits).await?;
    let code = CodeMail::new(&ctx, Kind::VerifyEmail, Purpose::VerifyEmail, VERIFY_PAGE)?;
    ctx.db(move |conn| code.send_in(conn, user.id, &user.name, &user.email, None, &[])).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse::success("Verification code sent")))
}

/// A new code for the unverified account of `email`, if there is one, under the mail limits
/// of the address asking and of `email`; the same answer either way.
async fn resend_to_address(ctx: &Ctx, email: String) -> Result<HttpResponse, ApiError> {
    let address = Limit::mail_to(&email);
    ctx.throttle(Event::EmailVerification, None, &[Limit::MailPerIp, address]).await?;
    let code = CodeMail::new(ctx, Kind::VerifyEmail, Purpose::VerifyEmail, VERIFY_PAGE)?;
    let unverified = |user: &users::User| user.email_verified_at.is_none();
    code.send_to_address(ctx, email, unverified).await?;
    Ok(HttpResponse::Accepted().json(MessageResponse::success(RESEND_MESSAGE)))
}
