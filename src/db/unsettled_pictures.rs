//! The `unsettled_pictures` table: stored pictures that may be named by no user's row. An
//! upload notes its picture before storing it and settles it in the transaction that names
//! it; a replaced or deleted account's picture is noted when its row lets go of it and settled
//! once removed. What a crash leaves noted, the sweeper removes, unless a row names it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    AnyConnection,
    schema::{unsettled_pictures, users},
};
use crate::per_backend;

/// Notes `name`, to be checked after `settle_after` (a later note of the same name wins).
pub fn note(conn: &mut AnyConnection, name: &str, settle_after: NaiveDateTime) -> QueryResult<()> {
    per_backend!(conn => diesel::insert_into(unsettled_pictures::table)
        .values((unsettled_pictures::name.eq(name), unsettled_pictures::settle_after.eq(settle_after)))
        .on_conflict(unsettled_pictures::name)
        .do_update()
        .set(unsettled_pictures::settle_after.eq(settle_after))
        .execute(conn))?;
    Ok(())
}

/// `name` is named by a row, or removed: nothing to check any more.
pub fn settle(conn: &mut AnyConnection, name: &str) -> QueryResult<()> {
    diesel::delete(unsettled_pictures::table.find(name)).execute(conn)?;
    Ok(())
}

/// `name` was removed by the sweeper: settled, unless an upload has noted it again meanwhile.
pub fn settle_if_due(conn: &mut AnyConnection, name: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(
        unsettled_pictures::table.find(name).filter(unsettled_pictures::settle_after.lt(now)),
    )
    .execute(conn)?;
    Ok(())
}

/// Up to `limit` pictures past their time that no row names, oldest first (to be removed).
/// Those a row names are settled on the way. An upload of the same name noted after this read
/// and stored before the sweeper's removal would lose its object: that needs a crash's leftover
/// of that very name and the re-upload's PUT within the same milliseconds, and is left open.
pub fn due_and_unnamed(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<String>> {
    let due: Vec<String> = unsettled_pictures::table
        .filter(unsettled_pictures::settle_after.lt(now))
        .order(unsettled_pictures::settle_after)
        .limit(limit)
        .select(unsettled_pictures::name)
        .load(conn)?;
    let named: Vec<String> = users::table
        .filter(users::profile_pic.eq_any(&due))
        .select(users::profile_pic.assume_not_null())
        .load(conn)?;
    diesel::delete(unsettled_pictures::table.filter(unsettled_pictures::name.eq_any(&named)))
        .execute(conn)?;
    Ok(due.into_iter().filter(|name| !named.contains(name)).collect())
}
