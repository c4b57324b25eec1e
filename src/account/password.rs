//! The password a sensitive change is confirmed with (MFA on or off, new recovery codes, an
//! email change, the account's deletion), and a login's hash brought to today's cost.

use crate::{
    audit::Event,
    auth::password_policy::could_be_stored,
    db::users::{self, User},
    error::ApiError,
    request::{AuthUser, Ctx},
    throttle::Limit,
};

/// Checks the password a sensitive change is confirmed with, under the login limits: a stolen
/// access token must not become a way to guess the password. A refusal is an audit event of
/// `event`.
pub async fn confirm_password(
    ctx: &Ctx,
    auth: &AuthUser,
    password: &str,
    event: Event,
) -> Result<(), ApiError> {
    let user_id = Some(auth.user.id);
    let refused = |error: ApiError| {
        ctx.audit_refusal(event, &error, user_id);
        error
    };
    if !could_be_stored(password) {
        return Err(refused(ApiError::WrongPassword));
    }
    ctx.throttle(event, user_id, &[Limit::LoginPerIp, Limit::ConfirmPerAccount(auth.user.id)])
        .await?;
    let stored_hash = Some(auth.user.password_hash.clone());
    if ctx.passwords.verify(password.to_owned(), stored_hash).await? {
        Ok(())
    } else {
        Err(refused(ApiError::WrongPassword))
    }
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
