//! `POST /api/login`

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    mfa::challenge,
    responses::{LoginReply, LoginResponse, MfaRequiredResponse, SessionOf},
};
use crate::{
    audit::Event,
    auth::{password_policy::could_be_stored, token::SignIn},
    db::{
        known_devices::{self, Sighting},
        mail_outbox,
        sessions::{self, NewSession, PasswordCheck},
        users::{self, User},
    },
    error::{ApiError, ErrorBody},
    mail::templates::Kind,
    request::{Ctx, Device},
    throttle::Limit,
    validation::{required, string_or_none, valid_email},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "aruncs31ss@proton.me")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "correct horse battery")]
    pub password: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Login successful: a new session. For an account with MFA, instead: {\"status\":\"success\",\"message\":\"MFA required\",\"mfa_required\":true,\"mfa_token\":…,\"expires_in\":300} (MfaRequiredResponse), and no tokens until POST /api/login/mfa", body = LoginResponse),
        (status = 400, description = "Missing fields or malformed body", body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 403, description = "Email not verified (the right password, with REQUIRE_EMAIL_VERIFICATION)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address or on this account; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    ctx: Ctx,
    device: Device,
    body: web::Json<LoginRequest>,
) -> Result<LoginReply, ApiError> {
    let (Some(email), Some(password)) = (required(&body.email), required(&body.password)) else {
        return Err(ApiError::AllFieldsRequired);
    };
    // An address that could never have been registered (PostgreSQL refuses a NUL in text) or a
    // password longer than bcrypt reads is answered like a wrong one, before the database.
    let (Ok(email), true) = (valid_email(email), could_be_stored(password)) else {
        return Err(ApiError::InvalidCredentials);
    };
    ctx.throttle(Event::Login, None, &[Limit::LoginPerIp]).await?;
    ctx.check_failed_logins(&email).await?;

    let checked_at = chrono::Utc::now().naive_utc();
    let lookup = email.clone();
    let user = ctx.db(move |conn| users::find_user_by_email(conn, &lookup)).await?;
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let matches = ctx.passwords.verify(password.to_owned(), stored_hash).await?;
    let Some(user) = user.as_ref().filter(|_| matches) else {
        let limit_reached = ctx.record_failed_login(&email).await?;
        if let Some(user) = user.as_ref().filter(|_| limit_reached) {
            tell_of_the_limit(&ctx, user).await?;
        }
        ctx.audit(Event::Login, "bad_credentials", user.map(|user| user.id));
        return Err(ApiError::InvalidCredentials);
    };

    // Only now, with the password proved: a guesser learns nothing from the 403.
    if ctx.mail.require_verification && user.email_verified_at.is_none() {
        ctx.audit(Event::Login, "email_not_verified", Some(user.id));
        return Err(ApiError::EmailNotVerified);
    }
    let hash = store_at_todays_cost(&ctx, user, password).await?;
    if user.totp_enabled_at.is_some() {
        let (user_id, ttl) = (user.id, ctx.mfa.challenge_ttl);
        let mfa_token = ctx.db(move |conn| challenge(conn, ttl, user_id, checked_at)).await?;
        ctx.audit(Event::Login, "mfa_required", Some(user.id));
        return Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(&ctx, mfa_token)));
    }
    let sign_in = SignIn::Password;
    let Some((session_id, refresh_token)) =
        start_session(&ctx, user, &device, (hash, checked_at), sign_in).await?
    else {
        // A password change, a logout everywhere or a deletion came while it was checked.
        return Err(ApiError::InvalidCredentials);
    };
    ctx.audit(Event::Login, "ok", Some(user.id));
    let session =
        SessionOf { user_id: user.id, email: &user.email, session_id: &session_id, sign_in };
    LoginResponse::new(&ctx, "Login successful!", session, refresh_token).map(LoginReply::Tokens)
}

/// Tells the owner that failed logins brought the account to its limit (once per window: the
/// failure that reaches it).
async fn tell_of_the_limit(ctx: &Ctx, user: &User) -> Result<(), ApiError> {
    let facts = [("name", user.name.as_str())];
    let notice = ctx.mailer().compose(Kind::LoginLimit, Some(user.id), &user.email, &facts);
    ctx.db(move |conn| mail_outbox::enqueue(conn, &notice)).await?;
    ctx.ring_mail();
    Ok(())
}

/// A new session and its refresh token, if the password checked at `checked_at` against `hash`
/// is still the account's and nothing has ended its sessions since. A device the user has not
/// signed in from lately is told to them (not the account's first).
pub(super) async fn start_session(
    ctx: &Ctx,
    user: &User,
    device: &Device,
    (hash, checked_at): (String, chrono::NaiveDateTime),
    sign_in: SignIn,
) -> Result<Option<(String, String)>, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let (refresh_token, first) = ctx.new_refresh_token(now)?;
    let (user_id, seen, key) = (user.id, device.seen(), device.key());
    let user_agent = device.user_agent.clone().unwrap_or_else(|| "(no user agent)".to_owned());
    let (name, email, mailer) = (user.name.clone(), user.email.clone(), ctx.mailer());
    let started = ctx
        .db(move |conn| {
            let check = PasswordCheck { hash: &hash, at: checked_at };
            let new = NewSession { first: &first, seen: &seen, amr: sign_in.stored() };
            let Some(session_id) = sessions::start(conn, user_id, check, new, now)? else {
                return Ok(None);
            };
            // After the session's transaction, which holds the user's row: the device is
            // the notice's business, not the session's.
            let sighting = known_devices::remember(conn, user_id, &key, now)?;
            if sighting == Sighting::New {
                let facts = [("name", name.as_str()), ("user_agent", user_agent.as_str())];
                let notice = mailer.compose(Kind::NewSignIn, Some(user_id), &email, &facts);
                mail_outbox::enqueue(conn, &notice)?;
            }
            Ok::<_, diesel::result::Error>(Some((session_id, sighting)))
        })
        .await?;
    let Some((session_id, sighting)) = started else { return Ok(None) };
    if sighting == Sighting::New {
        ctx.ring_mail();
    }
    Ok(Some((session_id, refresh_token)))
}

/// A hash made at another `BCRYPT_COST` than today's is replaced by one at today's, now that
/// the password is known: raising the cost reaches every account that logs in. Returns the
/// hash the password now has.
async fn store_at_todays_cost(ctx: &Ctx, user: &User, password: &str) -> Result<String, ApiError> {
    if !ctx.passwords.needs_rehash(&user.password_hash) {
        return Ok(user.password_hash.clone());
    }
    let new_hash = ctx.passwords.hash(password.to_owned()).await?;
    let (user_id, old_hash, stored) = (user.id, user.password_hash.clone(), new_hash.clone());
    ctx.db(move |conn| users::rehash_password(conn, user_id, &old_hash, &stored)).await?;
    Ok(new_hash)
}
