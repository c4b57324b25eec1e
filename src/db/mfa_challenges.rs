//! The `mfa_challenges` table: logins whose password was right, waiting for a second factor.
//! The client holds the `mfa_token`; only its SHA-256 is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::mfa_challenges};

/// Wrong codes one mfa_token takes before it ends (the account's login limits count them too).
pub const TRIES: i32 = 5;

/// A live challenge: whose, and when its password was checked (the session it leads to is
/// refused if a password change or a logout everywhere came after); for a password reset, the
/// new password's hash, applied only once the factor is proved.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mfa_challenges)]
pub struct Challenge {
    pub user_id: i64,
    pub checked_at: NaiveDateTime,
    pub new_password_hash: Option<String>,
    /// How the first step was proved: a `sessions.amr` value of one factor.
    pub first_step: String,
    /// The WebAuthn state of the passkey step offered, if the account has passkeys.
    pub webauthn_state: Option<String>,
}

/// Creates the challenge `token_hash`, good only from `network` (the one its password came from).
impl Challenge {
    /// The challenge of a first step proved as `first_step` (a one-factor `sessions.amr`).
    pub fn after(first_step: &str, user_id: i64, checked_at: NaiveDateTime) -> Challenge {
        let first_step = first_step.to_owned();
        Challenge { user_id, checked_at, new_password_hash: None, first_step, webauthn_state: None }
    }
}

/// Creates the challenge `token_hash`, good only from `network` (the one its password came from).
pub fn create(
    conn: &mut AnyConnection,
    token_hash: &str,
    challenge: &Challenge,
    network: &str,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::token_hash.eq(token_hash),
            mfa_challenges::user_id.eq(challenge.user_id),
            mfa_challenges::checked_at.eq(challenge.checked_at),
            mfa_challenges::expires_at.eq(expires_at),
            mfa_challenges::tries_left.eq(TRIES),
            mfa_challenges::network.eq(network),
            mfa_challenges::new_password_hash.eq(&challenge.new_password_hash),
            mfa_challenges::first_step.eq(&challenge.first_step),
            mfa_challenges::webauthn_state.eq(&challenge.webauthn_state),
        ))
        .execute(conn)
        .map(drop)
}

/// The challenge `token_hash`, if it is live and was made from `network`.
pub fn find_live(
    conn: &mut AnyConnection,
    token_hash: &str,
    network: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Challenge>> {
    mfa_challenges::table
        .find(token_hash)
        .filter(mfa_challenges::network.eq(network))
        .filter(mfa_challenges::expires_at.gt(now))
        .filter(mfa_challenges::tries_left.gt(0))
        .select(Challenge::as_select())
        .first(conn)
        .optional()
}

/// Ends the challenge; false when it had ended already (a concurrent use): single use.
pub fn spend(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<bool> {
    diesel::delete(mfa_challenges::table.find(token_hash)).execute(conn).map(|n| n == 1)
}

/// Counts a wrong code against the challenge (it ends at its last try).
pub fn take_try(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<()> {
    diesel::update(mfa_challenges::table.find(token_hash))
        .set(mfa_challenges::tries_left.eq(mfa_challenges::tries_left - 1))
        .execute(conn)?;
    diesel::delete(mfa_challenges::table.find(token_hash).filter(mfa_challenges::tries_left.le(0)))
        .execute(conn)
        .map(drop)
}

/// Deletes the challenges past their expiry (the sweeper's).
pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::expires_at.lt(now)))
        .execute(conn)
        .map(drop)
}

pub fn end_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user_id)))
        .execute(conn)
        .map(drop)
}
