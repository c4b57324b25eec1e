//! The `recovery_codes` table: each user's set of ten, by hash, each usable once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::recovery_codes};
use crate::per_backend;

/// Replaces the user's set with `hashes`: the old codes end.
pub fn replace(conn: &mut AnyConnection, user_id: i64, hashes: &[String]) -> QueryResult<()> {
    delete_all(conn, user_id)?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| (recovery_codes::user_id.eq(user_id), recovery_codes::code_hash.eq(hash)))
        .collect();
    per_backend!(conn => diesel::insert_into(recovery_codes::table).values(rows).execute(conn))
        .map(drop)
}

/// Uses the code `hash` names if it is the user's and unused; false otherwise. One statement,
/// so a code works once even when presented twice at the same moment.
pub fn spend(
    conn: &mut AnyConnection,
    user_id: i64,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)
    .map(|updated| updated == 1)
}

/// The user's unused codes.
pub fn unused(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

pub fn delete_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .map(drop)
}
