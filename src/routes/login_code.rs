//! `POST /api/login/code` and `POST /api/login/code/verify`: signing in with a code by mail
//! instead of the password. The code follows the reset code's rules (single use, short life,
//! tries per code, a link whose fragment a scanner's GET cannot spend) and draws on the
//! account's attempt budget; it proves the mailbox, so it verifies the address.

use actix_web::{HttpResponse, web};
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginReply, LoginResponse, MessageResponse, MfaRequiredResponse};
use crate::{
    account::{
        codes::{self, CodeMail},
        federation, second_factor,
        sign_in::{Granted, SessionGrant},
    },
    audit::Event,
    auth::token::SignIn,
    db::{email_codes::Purpose, mfa_challenges::Challenge, sessions::PasswordCheck, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none, valid_email},
};

pub const CODE_SENT: &str = "If that address has an account, a code is on its way";

/// The website's page a sign-in link opens.
const SIGN_IN_PAGE: &str = "sign-in";

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignInCodeRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifySignInCodeRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    /// The six digits the message gives, or the long code its link carries.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "042917")]
    pub code: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/login/code",
    tag = "auth",
    request_body = SignInCodeRequest,
    responses(
        (status = 202, description = "The same answer for every address: a sign-in code is mailed if it has an account", body = MessageResponse),
        (status = 400, description = "Missing or invalid email", body = ErrorBody),
        (status = 404, description = "Not found: PASSWORDLESS_EMAIL=false", body = ErrorBody),
        (status = 429, description = "Too many codes asked for from this address, or for this email; see Retry-After", body = ErrorBody),
    )
)]
pub async fn request_sign_in_code(
    ctx: Ctx,
    body: web::Json<SignInCodeRequest>,
) -> Result<HttpResponse, ApiError> {
    if !ctx.mail.passwordless {
        return Err(ApiError::NotFound);
    }
    let email = valid_email(required(&body.email).ok_or(ApiError::AllFieldsRequired)?)?;
    let address = Limit::mail_to(&email);
    ctx.throttle(Event::CodeLogin, None, &[Limit::MailPerIp, address]).await?;
    let code = CodeMail::new(&ctx, Kind::SignInCode, Purpose::SignIn, SIGN_IN_PAGE)?;
    if let Some(user_id) = code.send_to_address(&ctx, email, |_| true).await? {
        ctx.audit(Event::CodeLogin, "code_sent", Some(user_id));
    }
    Ok(HttpResponse::Accepted().json(MessageResponse::success(CODE_SENT)))
}

#[utoipa::path(
    post,
    path = "/api/login/code/verify",
    tag = "auth",
    request_body = VerifySignInCodeRequest,
    responses(
        (status = 200, description = "Login successful: a new session whose tokens carry amr [\"otp\"] and aal1, the address now verified. For an account with MFA, instead the MFA required body, as at login: POST /api/login/mfa then gives amr [\"otp\",\"mfa\"] (or [\"otp\",\"recovery\"]) and aal2", body = LoginResponse),
        (status = 400, description = "Missing field, or Invalid or expired code (wrong, expired, spent, superseded or out of tries)", body = ErrorBody),
        (status = 404, description = "Not found: PASSWORDLESS_EMAIL=false", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or wrong codes past the account's budget; see Retry-After", body = ErrorBody),
    )
)]
pub async fn verify_sign_in_code(
    ctx: Ctx,
    device: Device,
    body: web::Json<VerifySignInCodeRequest>,
) -> Result<LoginReply, ApiError> {
    if !ctx.mail.passwordless {
        return Err(ApiError::NotFound);
    }
    let (Some(email), Some(code)) = (required(&body.email), required(&body.code)) else {
        return Err(ApiError::AllFieldsRequired);
    };
    let email = valid_email(email).map_err(|_| ApiError::InvalidCode)?;
    ctx.throttle(Event::CodeLogin, None, &[Limit::LoginPerIp]).await?;
    let attempt = codes::reserve(&ctx, &email, code, Event::CodeLogin, None).await?;
    let grant = SessionGrant::new(&ctx, &device, SignIn::EmailCode)?;
    let (code, waiting) = (code.to_owned(), second_factor::Waiting::of(&ctx));
    let signed_in = ctx
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
                if codes::spend(conn, user.id, Purpose::SignIn, &code, now)?.is_none() {
                    // Committed: the wrong try is spent.
                    return Ok(Err(Some(user.id)));
                }
                federation::prove_address(conn, &user, now, "sign_in_code")?;
                if user.totp_enabled_at.is_some() && user.email_verified_at.is_some() {
                    let first = Challenge::after(SignIn::EmailCode.stored(), user.id, now);
                    let pending = second_factor::challenge(conn, &waiting, first)?;
                    return Ok(Ok(SignedIn::MfaRequired(user.id, pending)));
                }
                let check = PasswordCheck { hash: &user.password_hash, at: now };
                let session_id =
                    grant.start_in(conn, user.id, check)?.ok_or(ApiError::InvalidCode)?;
                Ok(Ok(SignedIn::Session(grant.granted(user.id, (user.email, true), session_id))))
            })
        })
        .await?
        .map_err(|user_id| {
            // A wrong code of a known account, or a code for an unknown address.
            ctx.audit_refusal(Event::CodeLogin, &ApiError::InvalidCode, user_id);
            ApiError::InvalidCode
        })?;
    attempt.proved(&ctx).await?;
    match signed_in {
        SignedIn::Session(granted) => {
            ctx.audit(Event::CodeLogin, "ok", Some(granted.subject.user_id));
            LoginResponse::new(&ctx, "Login successful!", granted).map(LoginReply::Tokens)
        }
        SignedIn::MfaRequired(user_id, pending) => {
            ctx.audit(Event::CodeLogin, "mfa_required", Some(user_id));
            Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(&ctx, pending)?))
        }
    }
}

/// What a right code leads to: a session, or (with MFA) the login's second step.
enum SignedIn {
    Session(Granted),
    MfaRequired(i64, second_factor::Pending),
}
