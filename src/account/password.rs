//! The password a sensitive change is confirmed with (MFA on or off, new recovery codes, an
//! email change, the account's deletion), a reset's new one, and a login's hash brought to
//! today's cost.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::{
    account::attempts::{Attempt, Secret},
    audit::Event,
    auth::{password::is_set, password_policy::could_be_stored},
    db::{
        AnyConnection, email_codes, mail_outbox, sessions,
        users::{self, User},
    },
    error::ApiError,
    mail::templates::Kind,
    request::{AuthUser, Ctx, ctx::Mailer},
    throttle::Limit,
    webhooks::events,
};

/// Checks the password a sensitive change is confirmed with, from the account's password budget
/// as a login's: a stolen access token must not become a way to guess the password. A refusal
/// is an audit event of `event`. An account without a password (passkeys only) confirms with
/// the session itself, which must have proved two factors (a passkey that verified its user).
pub async fn confirm_password(
    ctx: &Ctx,
    auth: &AuthUser,
    password: Option<&str>,
    event: Event,
) -> Result<(), ApiError> {
    if !is_set(&auth.user.password_hash) {
        return match auth.claims.is_aal2() {
            true => Ok(()),
            false => Err(ApiError::SecondFactorRequired),
        };
    }
    let password = password.ok_or(ApiError::AllFieldsRequired)?;
    let user_id = Some(auth.user.id);
    let refused = |error: ApiError| {
        ctx.audit_refusal(event, &error, user_id);
        error
    };
    if !could_be_stored(password) {
        return Err(refused(ApiError::WrongPassword));
    }
    ctx.throttle(event, user_id, &[Limit::LoginPerIp]).await?;
    let attempt = Attempt::reserve(ctx, Secret::Password, &auth.user.email, event, user_id).await?;
    let stored_hash = Some(auth.user.password_hash.clone());
    if ctx.passwords.verify(password.to_owned(), stored_hash).await? {
        attempt.proved(ctx).await
    } else {
        Err(refused(ApiError::WrongPassword))
    }
}

/// Sets the password of a reset in the caller's transaction, once everything it needs is proved
/// (the mailbox, and the second factor of an account with MFA): every code and session of the
/// user ends, and the owner is told.
pub fn reset_in(
    conn: &mut AnyConnection,
    user: &User,
    new_hash: &str,
    now: NaiveDateTime,
    mailer: &Mailer,
) -> QueryResult<()> {
    email_codes::end(conn, user.id, None)?;
    if users::reset_password(conn, user.id, new_hash, now)? {
        events::email_verified(conn, user.id, &user.email, "reset")?;
    }
    events::password_changed(conn, user.id, "reset")?;
    let ended = sessions::end_all(conn, user.id)?;
    events::sessions_ended(conn, user.id, &ended, "password_reset")?;
    mail_outbox::enqueue(conn, &mailer.notice(Kind::PasswordChanged, user, &[]))
}

/// A hash made at another `BCRYPT_COST` than today's is replaced by one at today's, now that
/// the password is known: raising the cost reaches every account that logs in. Returns the
/// hash the password now has.
pub async fn store_at_todays_cost(
    ctx: &Ctx,
    user: &User,
    password: &str,
) -> Result<String, ApiError> {
    if !ctx.passwords.needs_rehash(&user.password_hash) {
        return Ok(user.password_hash.clone());
    }
    let new_hash = ctx.passwords.hash(password.to_owned()).await?;
    let (user_id, old_hash, stored) = (user.id, user.password_hash.clone(), new_hash.clone());
    ctx.db(move |conn| users::rehash_password(conn, user_id, &old_hash, &stored)).await?;
    Ok(new_hash)
}
