//! `POST /api/passkeys/authentication/options` and `…/verify`: signing in with a passkey, no
//! email typed (the key is discoverable and says whose it is). A passkey that verified its
//! user is two factors (aal2, no TOTP step); one that checked presence only is one factor,
//! after which an account with MFA still answers its second step at `POST /api/login/mfa`.

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginReply, LoginResponse, MfaRequiredResponse, PasskeyOptionsResponse};
use crate::{
    account::{attempts::Attempt, passkeys, second_factor, sign_in::SessionGrant},
    audit::Event,
    auth::token::SignIn,
    db::mfa_challenges::Challenge,
    error::{ApiError, ErrorBody},
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasskeySignInRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String)]
    pub challenge_id: Option<String>,
    /// What `navigator.credentials.get()` gave, as its `toJSON()` writes it.
    #[schema(value_type = Object)]
    pub credential: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/api/passkeys/authentication/options",
    tag = "auth",
    responses(
        (status = 200, description = "A sign-in ceremony: `options` is the PublicKeyCredentialRequestOptions JSON for `PublicKeyCredential.parseRequestOptionsFromJSON`, with an empty allowCredentials (any discoverable passkey of this site); also what a page holds for autofill (`mediation: \"conditional\"`). Answer it within `expires_in` seconds", body = PasskeyOptionsResponse),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many ceremonies open at once; see Retry-After", body = ErrorBody),
    )
)]
pub async fn authentication_options(ctx: Ctx) -> Result<PasskeyOptionsResponse, ApiError> {
    ctx.throttle(Event::PasskeyLogin, None, &[Limit::LoginPerIp]).await?;
    let opened = passkeys::open_sign_in(&ctx).await?;
    PasskeyOptionsResponse::new(&ctx, opened.challenge_id, &opened.options)
}

#[utoipa::path(
    post,
    path = "/api/passkeys/authentication/verify",
    tag = "auth",
    request_body = PasskeySignInRequest,
    responses(
        (status = 200, description = "Login successful: a new session whose tokens carry amr [\"hwk\",\"mfa\"] and aal2 when the authenticator verified its user, amr [\"hwk\"] and aal1 when it checked presence only. For an account with MFA and a presence-only passkey, instead the MFA required body, as at login: POST /api/login/mfa then gives amr [\"hwk\",\"otp\"] (or [\"hwk\",\"recovery\"]) and aal2", body = LoginResponse),
        (status = 400, description = "Missing field, or Invalid or expired challenge (unknown, spent or expired)", body = ErrorBody),
        (status = 401, description = "Passkey not accepted: an unknown credential, a wrong origin or RP ID, a bad signature, a user handle not the credential's, or a counter that went back (its owner is told); each counts against this network's budget", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or too many refused passkeys from this network; see Retry-After", body = ErrorBody),
    )
)]
pub async fn verify_authentication(
    ctx: Ctx,
    device: Device,
    body: web::Json<PasskeySignInRequest>,
) -> Result<LoginReply, ApiError> {
    let body = body.into_inner();
    let (Some(challenge_id), Some(credential)) = (required(&body.challenge_id), body.credential)
    else {
        return Err(ApiError::AllFieldsRequired);
    };
    ctx.throttle(Event::PasskeyLogin, None, &[Limit::LoginPerIp]).await?;
    let attempt = Attempt::reserve_on_network(&ctx, Event::PasskeyLogin).await?;
    // Before the check: a logout everywhere while the passkey is checked ends this session too.
    let checked_at = chrono::Utc::now().naive_utc();
    let credential = serde_json::from_value(credential).map_err(|_| ApiError::PasskeyRefused);
    let proved = match credential {
        Ok(credential) => passkeys::prove_sign_in(&ctx, challenge_id, credential).await,
        Err(refused) => Err(refused),
    }
    .inspect_err(|error| ctx.audit_refusal(Event::PasskeyLogin, error, None))?;
    attempt.proved(&ctx).await?;
    let user = proved.user;
    if !proved.user_verified && user.totp_enabled_at.is_some() {
        let waiting = second_factor::Waiting::of(&ctx);
        let challenge = Challenge::after(SignIn::Passkey.stored(), user.id, checked_at);
        let pending =
            ctx.db(move |conn| second_factor::challenge(conn, &waiting, challenge)).await?;
        ctx.audit(Event::PasskeyLogin, "mfa_required", Some(user.id));
        return Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(&ctx, pending)?));
    }
    let sign_in = if proved.user_verified { SignIn::PasskeyVerified } else { SignIn::Passkey };
    let grant = SessionGrant::new(&ctx, &device, sign_in)?;
    let hash = user.password_hash.clone();
    // None: the account ended its sessions, or went, while the passkey was checked.
    let granted = grant.start(&ctx, &user, (hash, checked_at)).await?;
    let granted = granted.ok_or(ApiError::PasskeyRefused)?;
    ctx.audit(Event::PasskeyLogin, "ok", Some(user.id));
    LoginResponse::new(&ctx, "Login successful!", granted).map(LoginReply::Tokens)
}
