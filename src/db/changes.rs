//! Which users a piece of database work changed: their rows, or their sessions ended. Told by
//! the writes themselves (`changed`), in their transactions, so that each replica's session
//! cache (`session_cache`) drops them: this replica's when the work ends (`db::run`), every
//! other's at the commit (PostgreSQL's `NOTIFY`, heard by `cache_listener`). On SQLite the one
//! service process hears another process's changes (the CLI's) from the `user_changes` rows
//! they write, which it reads every 100 ms (`cache_listener::poll_sqlite`).

use std::{cell::RefCell, collections::BTreeSet};

use chrono::NaiveDateTime;
use diesel::{prelude::*, sql_types::Text};

use super::{AnyConnection, schema::user_changes};
use crate::per_backend;

/// The `NOTIFY` channel of user changes; its payload is the user's id.
pub const CHANNEL: &str = "auth_user_changed";

/// Users changed, a set this large at most before it says "everyone".
const MAX_PENDING: usize = 1024;

thread_local! {
    /// The users the work running on this thread changed, dropped when it ends (`db::run`).
    static CHANGED: RefCell<Pending> = const { RefCell::new(Pending::Users(BTreeSet::new())) };
}

/// The drops a piece of work owes its replica's cache.
#[derive(Debug, PartialEq, Eq)]
pub enum Pending {
    Users(BTreeSet<i64>),
    Everyone,
}

/// Says, in the caller's transaction, that the user's row changed or a session of theirs
/// ended.
pub fn changed(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    CHANGED.with_borrow_mut(|pending| {
        if let Pending::Users(users) = pending {
            users.insert(user_id);
            if users.len() > MAX_PENDING {
                *pending = Pending::Everyone;
            }
        }
    });
    match conn {
        AnyConnection::Postgresql(conn) => diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(user_id.to_string())
            .execute(conn)
            .map(drop),
        AnyConnection::Sqlite(conn) => diesel::insert_into(user_changes::table)
            .values((
                user_changes::user_id.eq(user_id),
                user_changes::changed_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(conn)
            .map(drop),
    }
}

/// `changed` if a write's `rows` say the user was written; whether they were.
pub fn when_written(conn: &mut AnyConnection, user_id: i64, rows: usize) -> QueryResult<bool> {
    if rows > 0 {
        changed(conn, user_id)?;
    }
    Ok(rows > 0)
}

/// The newest change's id (0 for none): where a process starts reading.
pub fn latest(conn: &mut AnyConnection) -> QueryResult<i64> {
    let newest = user_changes::table.select(diesel::dsl::max(user_changes::id));
    Ok(per_backend!(conn => newest.get_result::<Option<i64>>(conn))?.unwrap_or(0))
}

/// The changes after `after` (their ids and users), oldest first, at most `limit`.
pub fn since(conn: &mut AnyConnection, after: i64, limit: i64) -> QueryResult<Vec<(i64, i64)>> {
    per_backend!(conn => user_changes::table
        .filter(user_changes::id.gt(after))
        .order(user_changes::id)
        .limit(limit)
        .select((user_changes::id, user_changes::user_id))
        .load(conn))
}

/// Forgets the changes made before `before` (every process has read them).
pub fn prune(conn: &mut AnyConnection, before: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(user_changes::table.filter(user_changes::changed_at.lt(before)))
        .execute(conn)
        .map(drop)
}

/// Takes what the work on this thread changed (nothing is owed after).
pub fn take_changed() -> Pending {
    CHANGED.with_borrow_mut(|pending| std::mem::replace(pending, Pending::Users(BTreeSet::new())))
}
