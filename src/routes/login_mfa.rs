//! `POST /api/login/mfa`: a login's second step, the mfa_token of its first with a TOTP code
//! or a recovery code; a new session of level `aal2`.

use actix_web::web;
use diesel::Connection;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    login::start_session,
    responses::{LoginResponse, SessionOf},
};
use crate::{
    audit::Event,
    auth::{recovery_code, refresh_token, token::SignIn},
    db::{mail_outbox, mfa_challenges, recovery_codes, users},
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
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
    /// One of the recovery codes, each usable once.
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = Option<String>, example = "k7qm-2xwe-r5ta")]
    pub recovery_code: Option<String>,
}

/// The second factor presented.
enum Factor {
    Code(String),
    RecoveryCode(String),
}

#[utoipa::path(
    post,
    path = "/api/login/mfa",
    tag = "auth",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Login successful: a new session whose tokens carry amr [\"pwd\",\"otp\"] (or [\"pwd\",\"recovery\"]) and aal2", body = LoginResponse),
        (status = 400, description = "A missing mfa_token, or neither or both of code and recovery_code", body = ErrorBody),
        (status = 401, description = "Invalid code: a wrong or used code or recovery code, or an mfa_token that is unknown, spent or expired", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or on this account; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login_mfa(
    ctx: Ctx,
    device: Device,
    body: web::Json<MfaLoginRequest>,
) -> Result<LoginResponse, ApiError> {
    let token = required(&body.mfa_token).ok_or(ApiError::AllFieldsRequired)?;
    let factor = match (required(&body.code), required(&body.recovery_code)) {
        (Some(code), None) => Factor::Code(code.to_owned()),
        (None, Some(code)) => Factor::RecoveryCode(code.to_owned()),
        _ => return Err(ApiError::AllFieldsRequired),
    };
    ctx.throttle(Event::MfaLogin, None, &[Limit::LoginPerIp]).await?;
    if token.len() != refresh_token::TOKEN_CHARS {
        return Err(ApiError::InvalidMfaCode);
    }
    let token_hash = refresh_token::hash(token);
    let now = chrono::Utc::now().naive_utc();
    let lookup = token_hash.clone();
    let found = ctx
        .db(move |conn| {
            let Some(challenge) = mfa_challenges::find_live(conn, &lookup, now)? else {
                return Ok(None);
            };
            let user = users::find_user(conn, challenge.user_id)?;
            let totp = users::totp_state(conn, challenge.user_id)?;
            Ok::<_, diesel::result::Error>(user.zip(totp).map(|found| (challenge, found)))
        })
        .await?;
    let Some((challenge, (user, totp))) = found else {
        return Err(ApiError::InvalidMfaCode);
    };
    // Wrong codes count as wrong passwords of the account do.
    ctx.check_failed_logins(&user.email).await?;
    let sign_in = match &factor {
        Factor::Code(_) => SignIn::Otp,
        Factor::RecoveryCode(_) => SignIn::RecoveryCode,
    };
    let proof = match (&factor, totp.totp_secret) {
        (Factor::Code(code), Some(sealed)) => {
            ctx.totp_step(user.id, &sealed, code)?.map(Proof::Step)
        }
        (Factor::RecoveryCode(code), _) => recovery_code::hash(user.id, code).map(Proof::Recovery),
        (Factor::Code(_), None) => None,
    };
    let user_id = user.id;
    let spent = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let proved = match &proof {
                    Some(Proof::Step(step)) => users::use_totp_step(conn, user_id, *step)?,
                    Some(Proof::Recovery(hash)) => recovery_codes::spend(conn, user_id, hash, now)?,
                    None => false,
                };
                if !proved {
                    mfa_challenges::take_try(conn, &token_hash)?;
                    return Ok(false);
                }
                // Single use: a concurrent request with the same mfa_token finds it gone, and
                // its factor is left unspent (the error rolls the transaction back).
                if !mfa_challenges::spend(conn, &token_hash)? {
                    return Err(ApiError::InvalidMfaCode);
                }
                Ok(true)
            })
        })
        .await?;
    if !spent {
        ctx.record_failed_login(&user.email).await?;
        ctx.audit(Event::MfaLogin, "bad_code", Some(user_id));
        return Err(ApiError::InvalidMfaCode);
    }
    let checked = (user.password_hash.clone(), challenge.checked_at);
    let Some((session_id, refresh_token)) =
        start_session(&ctx, &user, &device, checked, sign_in).await?
    else {
        // A password change, a logout everywhere or a deletion came since the password.
        return Err(ApiError::InvalidMfaCode);
    };
    if sign_in == SignIn::RecoveryCode {
        tell_of_the_recovery_code(&ctx, &user).await?;
    }
    ctx.audit(Event::MfaLogin, "ok", Some(user_id));
    let session = SessionOf { user_id, email: &user.email, session_id: &session_id, sign_in };
    LoginResponse::new(&ctx, "Login successful!", session, refresh_token)
}

/// What the factor proved, before it is spent.
enum Proof {
    Step(i64),
    Recovery(String),
}

/// A recovery code was used: the owner is told (and how many are left), and it is audited.
async fn tell_of_the_recovery_code(ctx: &Ctx, user: &users::User) -> Result<(), ApiError> {
    let (user_id, name, email, mailer) =
        (user.id, user.name.clone(), user.email.clone(), ctx.mailer());
    ctx.db(move |conn| {
        let left = recovery_codes::unused(conn, user_id)?.to_string();
        let facts = [("name", name.as_str()), ("left", left.as_str())];
        let notice = mailer.compose(Kind::RecoveryCodeUsed, Some(user_id), &email, &facts);
        mail_outbox::enqueue(conn, &notice)
    })
    .await?;
    ctx.ring_mail();
    ctx.audit(Event::RecoveryCodeUse, "ok", Some(user_id));
    Ok(())
}
