//! `POST /api/login`

use actix_web::web;
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::{LoginReply, LoginResponse, MfaRequiredResponse};
use crate::{
    account::{
        attempts::{Attempt, Secret},
        password::store_at_todays_cost,
        second_factor,
        sign_in::SessionGrant,
    },
    audit::Event,
    auth::{password_policy::could_be_stored, token::SignIn},
    db::{
        mail_outbox,
        mfa_challenges::Challenge,
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
        (status = 403, description = "Email not verified (the right password, with REQUIRE_EMAIL_VERIFICATION), or Account disabled (whatever the password)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or past the account's password budget (its gate closed); see Retry-After", body = ErrorBody),
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
    let attempt = Attempt::reserve(&ctx, Secret::Password, &email, Event::Login, None).await?;

    let checked_at = chrono::Utc::now().naive_utc();
    let lookup = email.clone();
    let user = ctx.db(move |conn| users::find_user_by_email(conn, &lookup)).await?;
    // Before the password: the same answer whatever it is, so no guess is learned from.
    if let Some(user) = user.as_ref().filter(|user| user.is_disabled(checked_at)) {
        ctx.audit(Event::Login, "account_disabled", Some(user.id));
        return Err(ApiError::AccountDisabled);
    }
    let stored_hash = user.as_ref().map(|user| user.password_hash.clone());
    let matches = ctx.passwords.verify(password.to_owned(), stored_hash).await?;
    let Some(user) = user.as_ref().filter(|_| matches) else {
        if let Some(user) = user.as_ref().filter(|_| attempt.was_last_free()) {
            tell_of_the_limit(&ctx, user).await?;
        }
        ctx.audit(Event::Login, "bad_credentials", user.map(|user| user.id));
        return Err(ApiError::InvalidCredentials);
    };
    attempt.proved(&ctx).await?;

    // Only now, with the password proved: a guesser learns nothing from the 403.
    if ctx.mail.require_verification && user.email_verified_at.is_none() {
        ctx.audit(Event::Login, "email_not_verified", Some(user.id));
        return Err(ApiError::EmailNotVerified);
    }
    let hash = store_at_todays_cost(&ctx, user, password).await?;
    if user.totp_enabled_at.is_some() {
        let waiting = second_factor::Waiting::of(&ctx);
        let challenge = Challenge::after(SignIn::Password.stored(), user.id, checked_at);
        let pending =
            ctx.db(move |conn| second_factor::challenge(conn, &waiting, challenge)).await?;
        ctx.audit(Event::Login, "mfa_required", Some(user.id));
        return Ok(LoginReply::MfaRequired(MfaRequiredResponse::new(&ctx, pending)?));
    }
    let grant = SessionGrant::new(&ctx, &device, SignIn::Password)?;
    // None: a password change, a logout everywhere or a deletion came while it was checked.
    let granted = grant.start(&ctx, user, (hash, checked_at)).await?;
    let granted = granted.ok_or(ApiError::InvalidCredentials)?;
    ctx.audit(Event::Login, "ok", Some(user.id));
    LoginResponse::new(&ctx, "Login successful!", granted).map(LoginReply::Tokens)
}

/// Tells the owner that wrong passwords spent the account's free tries (once per window: the
/// failure that spends the last), after which every further one is slowed.
async fn tell_of_the_limit(ctx: &Ctx, user: &User) -> Result<(), ApiError> {
    let notice = ctx.mailer().notice(Kind::LoginLimit, user, &[]);
    ctx.db(move |conn| mail_outbox::enqueue(conn, &notice)).await
}
