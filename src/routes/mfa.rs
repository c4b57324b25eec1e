//! The TOTP second factor: `POST /api/mfa/totp` (a secret, pending), `POST
//! /api/mfa/totp/confirm` (on, with recovery codes), `POST /api/mfa/recovery-codes` (a new
//! set), `DELETE /api/mfa/totp` (off). The login's second step is `login_mfa.rs`.

use actix_web::web;
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::responses::{
    LoginResponse, MessageResponse, MfaEnabledResponse, RecoveryCodesResponse, no_store,
};
use crate::{
    account::{
        attempts::{Attempt, Secret},
        password::confirm_password,
        second_factor::{self, Factor, new_recovery_codes, totp_step},
        sign_in::SessionGrant,
    },
    audit::Event,
    auth::{token::SignIn, totp},
    db::{mail_outbox, recovery_codes, sessions, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{AuthUser, Ctx, Device},
    validation::{required, string_or_none},
    webhooks::events,
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub password: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// The authenticator app's six digits.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "492039")]
    pub code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableMfaRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub password: Option<String>,
    /// The authenticator app's six digits; or, with the authenticator lost:
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "492039")]
    pub code: Option<String>,
    /// One of the recovery codes, spent by it.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "k7qm-2xwe-r5ta")]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSecretResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// RFC 4648 base32, for typing into an authenticator app.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as a QR code's text.
    #[schema(
        example = "otpauth://totp/auth-service:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=auth-service"
    )]
    pub otpauth_uri: String,
}

#[utoipa::path(
    post,
    path = "/api/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "A new TOTP secret, not active until confirmed (a second call replaces it)", body = TotpSecretResponse),
        (status = 400, description = "MFA already enabled, or a missing password", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Password is incorrect, or Email not verified (a second factor is set up only on a proved address)", body = ErrorBody),
        (status = 503, description = "No MFA_ENCRYPTION_KEY is set (production)", body = ErrorBody),
    )
)]
pub async fn enrol_totp(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<PasswordRequest>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let password = required(&body.password);
    if auth.user.totp_enabled_at.is_some() {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    // Set up on an address no one proved, a factor would let a squatter keep it from its owner.
    if auth.user.email_verified_at.is_none() {
        return Err(ApiError::EmailNotVerified);
    }
    confirm_password(&ctx, &auth, password, Event::MfaEnrolment).await?;
    let secret = totp::new_secret().map_err(ApiError::internal)?;
    let user_id = auth.user.id;
    let sealed =
        second_factor::key(&ctx.mfa)?.seal(user_id, &secret).map_err(ApiError::internal)?;
    let otpauth_uri = totp::otpauth_uri(&secret, &ctx.mfa.issuer, &auth.user.email)
        .map_err(ApiError::internal)?;
    if !ctx.db(move |conn| users::set_pending_totp(conn, user_id, &sealed)).await? {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    ctx.audit(Event::MfaEnrolment, "ok", Some(user_id));
    let body = TotpSecretResponse { status: "success", secret: totp::base32(&secret), otpauth_uri };
    Ok(no_store(body))
}

#[utoipa::path(
    post,
    path = "/api/mfa/totp/confirm",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = CodeRequest,
    responses(
        (status = 200, description = "MFA is on: ten recovery codes, shown once, and the tokens of a new aal2 session; every session of the user ended, the calling one too", body = MfaEnabledResponse),
        (status = 400, description = "Invalid code (or no pending secret), MFA already enabled", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 429, description = "Wrong codes past the account's TOTP budget; see Retry-After", body = ErrorBody),
    )
)]
pub async fn confirm_totp(
    ctx: Ctx,
    auth: AuthUser,
    device: Device,
    body: web::Json<CodeRequest>,
) -> Result<MfaEnabledResponse, ApiError> {
    let code = required(&body.code).ok_or(ApiError::AllFieldsRequired)?;
    let user_id = auth.user.id;
    let state = ctx.db(move |conn| users::totp_state(conn, user_id)).await?;
    let state = state.ok_or(ApiError::Unauthorized)?;
    if state.totp_enabled_at.is_some() {
        return Err(ApiError::MfaAlreadyEnabled);
    }
    let sealed = state.totp_secret.ok_or(ApiError::WrongTotpCode)?;
    let email = &auth.user.email;
    let attempt =
        Attempt::reserve(&ctx, Secret::TotpCode, email, Event::MfaEnable, Some(user_id)).await?;
    let step = totp_step(&ctx.mfa, user_id, &sealed, code)?
        .ok_or(ApiError::WrongTotpCode)
        .inspect_err(|error| ctx.audit_refusal(Event::MfaEnable, error, Some(user_id)))?;
    attempt.proved(&ctx).await?;
    let (codes, hashes) = new_recovery_codes(user_id)?;
    let grant = SessionGrant::new(&ctx, &device, SignIn::Otp)?;
    let notice = ctx.mailer().notice(Kind::MfaEnabled, &auth.user, &[]);
    let user = auth.user;
    let granted = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = grant.now;
                if !users::enable_totp(conn, user_id, &sealed, step, now)? {
                    return Err(ApiError::MfaAlreadyEnabled);
                }
                recovery_codes::replace(conn, user_id, &hashes)?;
                events::mfa_enabled(conn, user_id)?;
                // Every session ends, this one too: a copy of its refresh token must not
                // mint aal2 tokens. The caller goes on in a new one that proved the code.
                let ended = sessions::end_all(conn, user_id)?;
                events::sessions_ended(conn, user_id, &ended, "mfa_enabled")?;
                let check = sessions::PasswordCheck { hash: &user.password_hash, at: now };
                let session_id = grant.start_in(conn, user_id, check)?;
                let session_id = session_id.ok_or(ApiError::Unauthorized)?;
                mail_outbox::enqueue(conn, &notice)?;
                let address = (user.email, user.email_verified_at.is_some());
                Ok(grant.granted(user_id, address, session_id))
            })
        })
        .await?;
    ctx.audit(Event::MfaEnable, "ok", Some(user_id));
    let session = LoginResponse::new(&ctx, "MFA enabled", granted)?;
    Ok(MfaEnabledResponse { session, recovery_codes: codes })
}

#[utoipa::path(
    post,
    path = "/api/mfa/recovery-codes",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "Ten new recovery codes, shown once; the old set no longer works", body = RecoveryCodesResponse),
        (status = 400, description = "MFA not enabled, or a missing password", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required (an aal1 token), or Password is incorrect", body = ErrorBody),
    )
)]
pub async fn renew_recovery_codes(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<PasswordRequest>,
) -> Result<RecoveryCodesResponse, ApiError> {
    let password = required(&body.password);
    if auth.user.totp_enabled_at.is_none() {
        return Err(ApiError::MfaNotEnabled);
    }
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, password, Event::RecoveryCodesRenewal).await?;
    let user_id = auth.user.id;
    let (codes, hashes) = new_recovery_codes(user_id)?;
    ctx.db(move |conn| recovery_codes::replace(conn, user_id, &hashes)).await?;
    ctx.audit(Event::RecoveryCodesRenewal, "ok", Some(user_id));
    Ok(RecoveryCodesResponse { status: "success", recovery_codes: codes })
}

#[utoipa::path(
    delete,
    path = "/api/mfa/totp",
    tag = "mfa",
    security(("bearer" = [])),
    request_body = DisableMfaRequest,
    responses(
        (status = 200, description = "MFA disabled: the secret and the recovery codes are deleted", body = MessageResponse),
        (status = 400, description = "Invalid code (a wrong or used code or recovery code), MFA not enabled, a missing field, or neither or both of code and recovery_code", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Second factor required (an aal1 token), or Password is incorrect", body = ErrorBody),
    )
)]
pub async fn disable_totp(
    ctx: Ctx,
    auth: AuthUser,
    body: web::Json<DisableMfaRequest>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let password = required(&body.password);
    let factor = match (required(&body.code), required(&body.recovery_code)) {
        (Some(code), None) => Factor::Code(code.to_owned()),
        (None, Some(code)) => Factor::RecoveryCode(code.to_owned()),
        _ => return Err(ApiError::AllFieldsRequired),
    };
    if auth.user.totp_enabled_at.is_none() {
        return Err(ApiError::MfaNotEnabled);
    }
    auth.require_second_factor()?;
    confirm_password(&ctx, &auth, password, Event::MfaDisable).await?;
    let user_id = auth.user.id;
    let state = ctx.db(move |conn| users::totp_state(conn, user_id)).await?;
    let sealed = state.and_then(|state| state.totp_secret).ok_or(ApiError::MfaNotEnabled)?;
    // A recovery code is how a user who lost the authenticator turns it off, to enrol another.
    let (secret, email) = (factor.secret(), &auth.user.email);
    let attempt = Attempt::reserve(&ctx, secret, email, Event::MfaDisable, Some(user_id)).await?;
    let proof = second_factor::proof(&ctx.mfa, user_id, Some(&sealed), &factor)?;
    let notice = ctx.mailer().notice(Kind::MfaDisabled, &auth.user, &[]);
    let disabled = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let now = chrono::Utc::now().naive_utc();
                if !second_factor::use_proof(conn, user_id, &proof, now)? {
                    return Ok(false);
                }
                second_factor::remove(conn, user_id, "user")?;
                mail_outbox::enqueue(conn, &notice)?;
                Ok::<_, diesel::result::Error>(true)
            })
        })
        .await?;
    if !disabled {
        ctx.audit(Event::MfaDisable, "bad_code", Some(user_id));
        return Err(ApiError::WrongTotpCode);
    }
    attempt.proved(&ctx).await?;
    ctx.audit(Event::MfaDisable, "ok", Some(user_id));
    Ok(web::Json(MessageResponse::success("MFA disabled")))
}
