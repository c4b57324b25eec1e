//! `POST /api/login/mfa`: a login's second step, the mfa_token of its first with a TOTP code,
//! a recovery code or a passkey's assertion; a new session of level `aal2`.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::LoginResponse;
use crate::{
    account::{
        attempts::Attempt,
        passkeys,
        password::reset_in,
        second_factor::{self, Factor, Proof},
        sign_in::SessionGrant,
    },
    audit::Event,
    auth::{opaque_token, token::SignIn},
    error::{ApiError, ErrorBody},
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct MfaLoginRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub mfa_token: Option<String>,
    /// The authenticator app's six digits; or instead:
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "492039")]
    pub code: Option<String>,
    /// One of the recovery codes, each usable once; or instead:
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "k7qm-2xwe-r5ta")]
    pub recovery_code: Option<String>,
    /// What `navigator.credentials.get()` gave for the login's `passkey_options`, as its
    /// `toJSON()` writes it.
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/api/login/mfa",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Login successful: a new session whose tokens carry amr [\"pwd\",\"otp\"] (or [\"pwd\",\"recovery\"], or [\"pwd\",\"hwk\"] with a passkey) and aal2. With the mfa_token of a password reset, message \"Password reset\": the new password is set only now, and every earlier session ends", body = LoginResponse),
        (status = 400, description = "A missing mfa_token, or not exactly one of code, recovery_code and credential", body = ErrorBody),
        (status = 401, description = "Invalid code: a wrong or used code or recovery code, a passkey assertion that is not one of the account's or does not check out, or an mfa_token that is unknown, spent, expired or presented from another network than the login's", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or past the account's attempt budget for the factor; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login_mfa(
    ctx: Ctx,
    device: Device,
    body: web::Json<MfaLoginRequest>,
) -> Result<LoginResponse, ApiError> {
    let token = required(&body.mfa_token).ok_or(ApiError::AllFieldsRequired)?;
    let factor = match (required(&body.code), required(&body.recovery_code), &body.credential) {
        (Some(code), None, None) => Factor::Code(code.to_owned()),
        (None, Some(code), None) => Factor::RecoveryCode(code.to_owned()),
        (None, None, Some(credential)) => match serde_json::from_value(credential.clone()) {
            Ok(credential) => Factor::Passkey(Box::new(credential)),
            Err(_) => return Err(ApiError::InvalidMfaCode),
        },
        _ => return Err(ApiError::AllFieldsRequired),
    };
    ctx.throttle(Event::MfaLogin, None, &[Limit::LoginPerIp]).await?;
    if token.len() != opaque_token::TOKEN_CHARS {
        return Err(ApiError::InvalidMfaCode);
    }
    let (token_hash, now) = (opaque_token::hash(token), chrono::Utc::now().naive_utc());
    let lookup = token_hash.clone();
    let client = ctx.client;
    let found =
        ctx.db(move |conn| second_factor::find_challenge(conn, &lookup, client, now)).await?;
    let (challenge, user, totp) = found.ok_or(ApiError::InvalidMfaCode)?;
    if user.is_disabled(now) {
        ctx.audit(Event::MfaLogin, "account_disabled", Some(user.id));
        return Err(ApiError::AccountDisabled);
    }
    let user_id = user.id;
    let secret = factor.secret();
    let attempt =
        Attempt::reserve(&ctx, secret, &user.email, Event::MfaLogin, Some(user_id)).await?;
    let proof = match &factor {
        Factor::Passkey(credential) => {
            let state = challenge.webauthn_state.clone();
            let credential = credential.as_ref().clone();
            match passkeys::prove_second_factor(&ctx, &user, state, credential).await? {
                true => Proof::Passkey,
                false => Proof::Nothing,
            }
        }
        _ => second_factor::proof(&ctx.mfa, user.id, totp.totp_secret.as_deref(), &factor)?,
    };
    // A reset of an account with MFA waits for the factor: its new password is set only now.
    let reset = challenge.new_password_hash.clone();
    let (owner, mailer, new_hash) = (user.clone(), ctx.mailer(), reset.clone());
    let spent = ctx
        .db(move |conn| {
            second_factor::spend(conn, user_id, &proof, &token_hash, now, |conn| match new_hash {
                Some(new_hash) => reset_in(conn, &owner, &new_hash, now, &mailer),
                None => Ok(()),
            })
        })
        .await?;
    if !spent {
        ctx.audit(Event::MfaLogin, "bad_code", Some(user_id));
        return Err(ApiError::InvalidMfaCode);
    }
    attempt.proved(&ctx).await?;
    let first = SignIn::from_stored(&challenge.first_step);
    let grant = SessionGrant::new(&ctx, &device, first.then(factor.sign_in()))?;
    let checked = match &reset {
        Some(new_hash) => (new_hash.clone(), now),
        None => (user.password_hash.clone(), challenge.checked_at),
    };
    // None: a password change, a logout everywhere or a deletion came since the password.
    let granted = grant.start(&ctx, &user, checked).await?.ok_or(ApiError::InvalidMfaCode)?;
    if let Factor::RecoveryCode(_) = factor {
        second_factor::tell_of_the_recovery_code(&ctx, &user).await?;
        ctx.audit(Event::RecoveryCodeUse, "ok", Some(user_id));
    }
    ctx.audit(Event::MfaLogin, "ok", Some(user_id));
    if reset.is_some() {
        ctx.audit(Event::PasswordReset, "ok", Some(user_id));
        return LoginResponse::new(&ctx, "Password reset", granted);
    }
    LoginResponse::new(&ctx, "Login successful!", granted)
}
