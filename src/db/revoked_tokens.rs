//! The `revoked_tokens` table: the `jti` of every logged-out access token until it expires.

use chrono::NaiveDateTime;
use diesel::{
    prelude::*,
    result::{DatabaseErrorKind, Error},
};

use super::{AnyConnection, schema::revoked_tokens};

/// Revokes a token and prunes revocations whose tokens have expired anyway (a token past its
/// `exp` is refused by its signature check, so its row only costs space).
pub fn revoke(conn: &mut AnyConnection, jti: &str, expires_at: NaiveDateTime) -> QueryResult<()> {
    let inserted = diesel::insert_into(revoked_tokens::table)
        .values((revoked_tokens::jti.eq(jti), revoked_tokens::expires_at.eq(expires_at)))
        .execute(conn);
    match inserted {
        // Two concurrent logouts with one token: the first one revoked it.
        Ok(_) | Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {}
        Err(error) => return Err(error),
    }
    prune_expired(conn, chrono::Utc::now().naive_utc())
}

pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now)))
        .execute(conn)
        .map(drop)
}

pub fn is_revoked(conn: &mut AnyConnection, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(revoked_tokens::table.filter(revoked_tokens::jti.eq(jti))))
        .get_result(conn)
}
