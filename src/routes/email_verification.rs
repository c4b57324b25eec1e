//! `POST /api/email/verify` and `POST /api/email/verify/resend`: the address proved by the
//! code mailed at registration (or a new one). No bearer to verify: the mail may be opened on
//! another device than the one signed in.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::MessageResponse;
use crate::{
    account::codes::{CodeMail, VERIFY_PAGE, spend},
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
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = ErrorBody),
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
    let code = code.to_owned();
    let verified = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = chrono::Utc::now().naive_utc();
                let Some(user) = users::lock_by_email(conn, &email)? else {
                    return Ok::<_, ApiError>(Err(None));
                };
                if spend(conn, user.id, Purpose::VerifyEmail, &code, now)?.is_none() {
                    return Ok(Err(Some(user.id)));
                }
                users::mark_verified(conn, user.id, now)?;
                Ok(Ok(user.id))
            })
        })
        .await?;
    let user_id = verified.map_err(|user_id| {
        ctx.audit_refusal(Event::EmailVerification, &ApiError::InvalidCode, user_id);
        ApiError::InvalidCode
    })?;
    ctx.audit(Event::EmailVerification, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("Email verified")))
}

#[utoipa::path(
    post,
    path = "/api/email/verify/resend",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Verification code sent (a new one: the one before ends)", body = MessageResponse),
        (status = 400, description = "Email already verified", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 429, description = "Too many codes asked for; see Retry-After", body = ErrorBody),
    )
)]
pub async fn resend_verification(ctx: Ctx, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let user = auth.user;
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
