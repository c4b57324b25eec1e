//! The response bodies several endpoints share.

use actix_web::{
    HttpRequest, HttpResponse, Responder,
    body::BoxBody,
    http::header::{CACHE_CONTROL, PRAGMA},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    account::{second_factor::Pending, sign_in::Granted},
    db::users::User,
    error::ApiError,
    state::AppState,
};

pub use crate::timestamps::rfc3339;

/// `{"status":"success","message":…}`, the body of register, logout and account deletion.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    pub message: &'static str,
}

impl MessageResponse {
    pub fn success(message: &'static str) -> Self {
        MessageResponse { status: "success", message }
    }
}

/// The body of login, refresh and password change: the tokens of one session.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "Login successful!")]
    pub message: &'static str,
    /// A JWT (HS256 by default, EdDSA when configured) with a `kid` header and claims `sub`,
    /// `email`, `email_verified`, `iat`, `exp`, `jti`, `sid` (the session), `amr` and `aal`.
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
    /// Opaque; exchanged once at `POST /api/token/refresh` for new tokens of the same session.
    #[schema(example = "3q2-7wW3Xb0q9Y1lJ8m4kZr0sVn6tPc2aFh5dGi7eKo")]
    pub refresh_token: String,
}

impl LoginResponse {
    /// A new access token for the session `granted`, beside that session's new refresh token.
    pub fn new(
        state: &AppState,
        message: &'static str,
        granted: Granted,
    ) -> Result<Self, ApiError> {
        let Granted { subject, refresh_token } = granted;
        let access_token = state.tokens.issue(&subject).map_err(ApiError::internal)?;
        Ok(LoginResponse {
            status: "success",
            message,
            access_token,
            token_type: "Bearer",
            expires_in: state.tokens.ttl_secs(),
            refresh_token,
        })
    }
}

/// 200 with a body that carries a credential (tokens, a secret, codes): never stored by a
/// cache on the way (RFC 6749 §5.1).
pub fn no_store(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(body)
}

impl Responder for LoginResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        no_store(self)
    }
}

/// A passkey ceremony's opening: its id, and the options the browser's WebAuthn call takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyOptionsResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Opaque, single use: sent back with the browser's answer.
    #[schema(example = "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg")]
    pub challenge_id: String,
    /// `PublicKeyCredentialCreationOptions` or `PublicKeyCredentialRequestOptions` as JSON
    /// (binary fields base64url), for the browser's `parse…OptionsFromJSON`.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
    /// Seconds until the challenge_id expires.
    #[schema(example = 300)]
    pub expires_in: u64,
}

impl PasskeyOptionsResponse {
    pub fn new(
        state: &AppState,
        challenge_id: String,
        options: &impl Serialize,
    ) -> Result<Self, ApiError> {
        let options = serde_json::to_value(options).map_err(ApiError::internal)?;
        let expires_in = state.passkeys.ceremony_ttl.num_seconds().try_into().unwrap_or_default();
        Ok(PasskeyOptionsResponse { status: "success", challenge_id, options, expires_in })
    }
}

impl Responder for PasskeyOptionsResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        no_store(self)
    }
}

/// The body of a login (or a password reset) of an account with MFA: no tokens yet, an
/// `mfa_token` to send with a code to `POST /api/login/mfa`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequiredResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "MFA required")]
    pub message: &'static str,
    pub mfa_required: bool,
    /// Opaque, single use, for `POST /api/login/mfa`.
    pub mfa_token: String,
    /// Seconds until the mfa_token expires.
    #[schema(example = 300)]
    pub expires_in: u64,
    /// Only when the account has passkeys (and its first step was none): the
    /// PublicKeyCredentialRequestOptions JSON of a passkey step, its passkeys allowed; the
    /// assertion goes to `POST /api/login/mfa` as `credential`, instead of a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub passkey_options: Option<serde_json::Value>,
}

impl MfaRequiredResponse {
    pub fn new(state: &AppState, pending: Pending) -> Result<Self, ApiError> {
        let expires_in = state.mfa.challenge_ttl.num_seconds().try_into().unwrap_or_default();
        let passkey_options = pending
            .passkey_options
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?;
        Ok(MfaRequiredResponse {
            status: "success",
            message: "MFA required",
            mfa_required: true,
            mfa_token: pending.mfa_token,
            expires_in,
            passkey_options,
        })
    }
}

/// What a login answers: the session's tokens, or the second factor it waits for.
#[derive(Debug)]
pub enum LoginReply {
    Tokens(LoginResponse),
    MfaRequired(MfaRequiredResponse),
}

impl Responder for LoginReply {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        match self {
            LoginReply::Tokens(tokens) => no_store(tokens),
            LoginReply::MfaRequired(body) => no_store(body),
        }
    }
}

/// `{"status":"success","recovery_codes":[…]}`, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodesResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    /// Ten codes, each usable once instead of an authenticator's code.
    #[schema(example = json!(["k7qm-2xwe-r5ta", "…"]))]
    pub recovery_codes: Vec<String>,
}

impl Responder for RecoveryCodesResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        no_store(self)
    }
}

/// The body of a confirmed TOTP enrolment: the recovery codes, and the tokens of the new
/// session that proved the code.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaEnabledResponse {
    #[serde(flatten)]
    pub session: LoginResponse,
    /// Ten codes, each usable once instead of an authenticator's code.
    #[schema(example = json!(["k7qm-2xwe-r5ta", "…"]))]
    pub recovery_codes: Vec<String>,
}

impl Responder for MfaEnabledResponse {
    type Body = BoxBody;

    fn respond_to(self, _: &HttpRequest) -> HttpResponse {
        no_store(self)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentUserResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    pub user: UserProfile,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserProfile {
    pub name: String,
    pub email: String,
    /// Absolute URL of the profile picture, or null.
    pub profile_pic_url: Option<String>,
    /// Whether a code mailed to the address came back (added after v1).
    pub email_verified: bool,
}

impl CurrentUserResponse {
    /// The body of `GET /` (and of a rename) for `user`.
    pub fn of(req: &HttpRequest, state: &AppState, user: User) -> Self {
        let profile_pic_url =
            user.profile_pic.as_deref().map(|name| state.uploads.url_of(req, name));
        CurrentUserResponse {
            status: "success",
            user: UserProfile {
                email_verified: user.email_verified_at.is_some(),
                name: user.name,
                email: user.email,
                profile_pic_url,
            },
        }
    }
}
