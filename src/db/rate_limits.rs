//! The `rate_limits` table: request counts per limit, client and fixed window, shared by every
//! replica.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::rate_limits};
use crate::per_backend;

/// The key of `counter`'s fixed window of `period_secs` that `now` (unix seconds) falls in, and
/// when that window ends. Every writer of a counter names its windows so: the throttle's limits
/// and the mail outbox's recipient budget count on the same rows.
pub fn window(counter: &str, period_secs: i64, now: i64) -> (String, i64) {
    let window = now.div_euclid(period_secs);
    (format!("{counter}:{window}"), (window + 1) * period_secs)
}

/// Bytes as lower-case hex: how a counter names what it must not keep in clear (a hashed
/// address).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Counts one request against `key` (which names the window) and returns the count so far.
/// One atomic upsert: concurrent requests on any replica never lose a count. (Ended windows'
/// rows are the sweeper's.)
pub fn record_hit(
    conn: &mut AnyConnection,
    key: &str,
    expires_at: NaiveDateTime,
) -> QueryResult<i64> {
    // diesel's MultiConnection backend has no ON CONFLICT clause.
    let hits = per_backend!(conn => diesel::insert_into(rate_limits::table)
        .values((
            rate_limits::key.eq(key),
            rate_limits::hits.eq(1_i64),
            rate_limits::expires_at.eq(expires_at),
        ))
        .on_conflict(rate_limits::key)
        .do_update()
        .set(rate_limits::hits.eq(rate_limits::hits + 1_i64))
        .returning(rate_limits::hits)
        .get_result::<i64>(conn))?;
    Ok(hits)
}

/// The count so far of `key` (which names the window), without counting.
pub fn hits(conn: &mut AnyConnection, key: &str) -> QueryResult<i64> {
    let hits = rate_limits::table
        .find(key)
        .select(rate_limits::hits)
        .get_result::<i64>(conn)
        .optional()?;
    Ok(hits.unwrap_or(0))
}

/// Gives back one count on each of `keys`: a reserved try that proved the secret.
pub fn refund(conn: &mut AnyConnection, keys: &[String]) -> QueryResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    diesel::update(rate_limits::table.filter(rate_limits::key.eq_any(keys)))
        .set(rate_limits::hits.eq(rate_limits::hits - 1_i64))
        .execute(conn)
        .map(drop)
}

/// Passes the gate `key` if it is open at `now`, closing it behind until `until`; when it is
/// closed, the time it opens. Each statement is atomic, so of two tries at one open gate on
/// any replica only one passes. (An open gate's row is the sweeper's, like an ended window's.)
pub fn pass_gate(
    conn: &mut AnyConnection,
    key: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    let reopened = diesel::update(
        rate_limits::table.filter(rate_limits::key.eq(key)).filter(rate_limits::expires_at.le(now)),
    )
    .set(rate_limits::expires_at.eq(until))
    .execute(conn)?;
    if reopened == 1 {
        return Ok(None);
    }
    let created = per_backend!(conn => diesel::insert_into(rate_limits::table)
        .values((
            rate_limits::key.eq(key),
            rate_limits::hits.eq(0_i64),
            rate_limits::expires_at.eq(until),
        ))
        .on_conflict_do_nothing()
        .execute(conn))?;
    if created == 1 {
        return Ok(None);
    }
    let opens_at = rate_limits::table
        .find(key)
        .select(rate_limits::expires_at)
        .get_result::<NaiveDateTime>(conn)
        .optional()?;
    // Gone between the two statements: the sweeper took it open; the next try finds it so.
    Ok(Some(opens_at.unwrap_or(until)))
}

/// Deletes the counters of windows that have ended (the sweeper's).
pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(rate_limits::table.filter(rate_limits::expires_at.le(now)))
        .execute(conn)
        .map(drop)
}
