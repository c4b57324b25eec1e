//! The `webauthn_ceremonies` table: a passkey registration or sign-in between its options and
//! its answer. The client holds the `challenge_id`; only its SHA-256 is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::webauthn_ceremonies};
use crate::per_backend;

/// The open ceremonies the table holds at most: sign-in options are asked for without an
/// account, so past this many (each lives minutes) new ones wait (503) rather than grow it.
pub const MAX_OPEN: i64 = 10_000;

/// What a ceremony is for: one kind is never finished as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    SignIn,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SignIn => "sign_in",
        }
    }
}

/// A ceremony being opened: its serialised WebAuthn state, and the registering user.
pub struct NewCeremony<'a> {
    pub id_hash: &'a str,
    pub purpose: Purpose,
    pub user_id: Option<i64>,
    pub state: &'a str,
    pub expires_at: NaiveDateTime,
}

/// Opens a ceremony. A user's registration replaces the one they had open (one at a time).
pub fn open(conn: &mut AnyConnection, new: &NewCeremony) -> QueryResult<()> {
    if let (Purpose::Register, Some(user_id)) = (new.purpose, new.user_id) {
        diesel::delete(
            webauthn_ceremonies::table
                .filter(webauthn_ceremonies::user_id.eq(user_id))
                .filter(webauthn_ceremonies::purpose.eq(Purpose::Register.name())),
        )
        .execute(conn)?;
    }
    diesel::insert_into(webauthn_ceremonies::table)
        .values((
            webauthn_ceremonies::id_hash.eq(new.id_hash),
            webauthn_ceremonies::user_id.eq(new.user_id),
            webauthn_ceremonies::purpose.eq(new.purpose.name()),
            webauthn_ceremonies::state.eq(new.state),
            webauthn_ceremonies::expires_at.eq(new.expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// How many ceremonies are open (live or not yet swept).
pub fn count_open(conn: &mut AnyConnection) -> QueryResult<i64> {
    webauthn_ceremonies::table.count().get_result(conn)
}

/// Spends the ceremony `id_hash` of `purpose` (and of `user_id` for a registration) and returns
/// its state, if it was open and live: the one DELETE that reads it, so of two concurrent
/// answers only one finds it, on any replica.
pub fn take(
    conn: &mut AnyConnection,
    id_hash: &str,
    purpose: Purpose,
    user_id: Option<i64>,
    now: NaiveDateTime,
) -> QueryResult<Option<String>> {
    let row = webauthn_ceremonies::table
        .filter(webauthn_ceremonies::id_hash.eq(id_hash))
        .filter(webauthn_ceremonies::purpose.eq(purpose.name()))
        .filter(webauthn_ceremonies::expires_at.gt(now));
    let taken: Option<(Option<i64>, String)> = per_backend!(conn => diesel::delete(row)
        .returning((webauthn_ceremonies::user_id, webauthn_ceremonies::state))
        .get_result(conn)
        .optional())?;
    // Another user's registration is spent all the same: its id was out of its owner's hands.
    Ok(taken.filter(|(owner, _)| *owner == user_id).map(|(_, state)| state))
}

/// Deletes the ceremonies past their expiry (the sweeper's).
pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::expires_at.le(now)))
        .execute(conn)
        .map(drop)
}
