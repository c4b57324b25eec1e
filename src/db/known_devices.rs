//! The `known_devices` table: the devices (a network and a user-agent family, hashed) each user
//! has signed in from lately, so that a sign-in from another one can be told to them.

use chrono::NaiveDateTime;
use diesel::{dsl::exists, prelude::*};

use super::{AnyConnection, schema::known_devices};
use crate::per_backend;

/// A device not seen for this long is new again.
pub const FORGOTTEN_AFTER_DAYS: i64 = 90;

/// What a sign-in's device was to its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// The account's first sign-in (within `FORGOTTEN_AFTER_DAYS`): nothing to compare with.
    First,
    Known,
    /// Another device than the ones the user signed in from lately: worth a notice.
    New,
}

/// A device seen again within this long is not written again: most logins only read.
const REFRESH_AFTER_HOURS: i64 = 24;

/// Records that the user signed in from `device` at `now`, and says what it was to them. A
/// known device costs one read (and a write once a day); only a new one deletes the forgotten
/// devices and is inserted. Not a transaction of its own: two first sign-ins from one new
/// device at once may both be told, which is harmless.
pub fn remember(
    conn: &mut AnyConnection,
    user_id: i64,
    device: &str,
    now: NaiveDateTime,
) -> QueryResult<Sighting> {
    let forgotten = now - chrono::Duration::days(FORGOTTEN_AFTER_DAYS);
    let of_user = known_devices::table.filter(known_devices::user_id.eq(user_id));
    let this = of_user.filter(known_devices::device.eq(device));
    let last_seen =
        this.select(known_devices::last_seen_at).first::<NaiveDateTime>(conn).optional()?;
    match last_seen {
        Some(at) if at >= forgotten => {
            if at < now - chrono::Duration::hours(REFRESH_AFTER_HOURS) {
                diesel::update(this).set(known_devices::last_seen_at.eq(now)).execute(conn)?;
            }
            return Ok(Sighting::Known);
        }
        _ => {}
    }
    diesel::delete(of_user.filter(known_devices::last_seen_at.lt(forgotten))).execute(conn)?;
    let any = per_backend!(conn => diesel::select(exists(of_user)).get_result::<bool>(conn))?;
    per_backend!(conn => diesel::insert_into(known_devices::table)
        .values((
            known_devices::user_id.eq(user_id),
            known_devices::device.eq(device),
            known_devices::last_seen_at.eq(now),
        ))
        .on_conflict((known_devices::user_id, known_devices::device))
        .do_update()
        .set(known_devices::last_seen_at.eq(now))
        .execute(conn))?;
    forget_beyond_the_cap(conn, user_id)?;
    Ok(if any { Sighting::New } else { Sighting::First })
}

/// The devices remembered per user at most; a new one past it forgets the one seen least
/// lately (which then counts as new again).
pub const MAX_DEVICES_PER_USER: i64 = 20;

fn forget_beyond_the_cap(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    let of_user = known_devices::table.filter(known_devices::user_id.eq(user_id));
    let beyond: Vec<String> = of_user
        .order(known_devices::last_seen_at.desc())
        .select(known_devices::device)
        .offset(MAX_DEVICES_PER_USER)
        .limit(MAX_DEVICES_PER_USER)
        .load(conn)?;
    if !beyond.is_empty() {
        diesel::delete(of_user.filter(known_devices::device.eq_any(&beyond))).execute(conn)?;
    }
    Ok(())
}

/// Deletes every user's devices not seen for `FORGOTTEN_AFTER_DAYS` before `now`.
pub fn prune_forgotten(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    let forgotten = now - chrono::Duration::days(FORGOTTEN_AFTER_DAYS);
    diesel::delete(known_devices::table.filter(known_devices::last_seen_at.lt(forgotten)))
        .execute(conn)
        .map(drop)
}
