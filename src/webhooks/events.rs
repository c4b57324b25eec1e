//! Each event the service reports, with the facts its `data` carries beside the user's id: one
//! function per type, called in the transaction of the change it reports. A removal or an
//! ending says why (`reason`): `user` (the user's own request), `operator`, or the change that
//! carried it along (`password_changed`, `address_proved`, …).

use chrono::NaiveDateTime;
use diesel::QueryResult;
use serde_json::json;

use super::emit;
use crate::{db::AnyConnection, timestamps::rfc3339};

/// A new account: `via` `registration` or the provider that made it.
pub fn user_created(
    conn: &mut AnyConnection,
    user_id: i64,
    (email, name): (&str, &str),
    via: &str,
) -> QueryResult<()> {
    emit(conn, "user.created", user_id, json!({"email": email, "name": name, "via": via}))
}

/// The account was deleted, by the `user` or an `operator`.
pub fn user_deleted(conn: &mut AnyConnection, user_id: i64, reason: &str) -> QueryResult<()> {
    emit(conn, "user.deleted", user_id, json!({ "reason": reason }))
}

/// An operator disabled the account, `until` a time or (`null`) until they enable it. A
/// disabling that runs out sends no `user.enabled`: this said when.
pub fn user_disabled(
    conn: &mut AnyConnection,
    user_id: i64,
    until: Option<NaiveDateTime>,
) -> QueryResult<()> {
    emit(conn, "user.disabled", user_id, json!({ "until": until.map(rfc3339) }))
}

/// An operator enabled a disabled account.
pub fn user_enabled(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    emit(conn, "user.enabled", user_id, json!({}))
}

/// The profile changed: `fields` names what did (`name` or `profile_pic`, the picture's file
/// name), with its new value beside.
pub fn user_updated(
    conn: &mut AnyConnection,
    user_id: i64,
    (field, value): (&str, &str),
) -> QueryResult<()> {
    let mut data = json!({ "fields": [field] });
    data[field] = json!(value);
    emit(conn, "user.updated", user_id, data)
}

/// A session started: how it signed in (its `amr`) and when it ends at the latest.
pub fn session_created(
    conn: &mut AnyConnection,
    user_id: i64,
    session_id: &str,
    amr: &[&str],
    ends_at: NaiveDateTime,
) -> QueryResult<()> {
    let data = json!({"session_id": session_id, "amr": amr, "ends_at": rfc3339(ends_at)});
    emit(conn, "session.created", user_id, data)
}

/// Sessions ended, all for one `reason` (one event per change, however many it ended; none
/// when it ended none). A session that runs out on its own is not reported: `session.created`
/// said when.
pub fn sessions_ended(
    conn: &mut AnyConnection,
    user_id: i64,
    session_ids: &[String],
    reason: &str,
) -> QueryResult<()> {
    if session_ids.is_empty() {
        return Ok(());
    }
    emit(conn, "session.ended", user_id, json!({"session_ids": session_ids, "reason": reason}))
}

/// The password was set or changed (`change`), reset by a mailed code (`reset`), removed
/// (`removal`), or taken away with the account by the address's owner (`address_proved`).
pub fn password_changed(conn: &mut AnyConnection, user_id: i64, via: &str) -> QueryResult<()> {
    emit(conn, "password.changed", user_id, json!({ "via": via }))
}

/// The address was proved for the first time: `via` `code` (a code or link mailed to it),
/// `reset`, `sign_in_code`, `provider`, or `operator`.
pub fn email_verified(
    conn: &mut AnyConnection,
    user_id: i64,
    email: &str,
    via: &str,
) -> QueryResult<()> {
    emit(conn, "email.verified", user_id, json!({"email": email, "via": via}))
}

/// The account moved to `email` (proved by a code mailed there).
pub fn email_changed(
    conn: &mut AnyConnection,
    user_id: i64,
    email: &str,
    previous_email: &str,
) -> QueryResult<()> {
    emit(conn, "email.changed", user_id, json!({"email": email, "previous_email": previous_email}))
}

pub fn mfa_enabled(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    emit(conn, "mfa.enabled", user_id, json!({"method": "totp"}))
}

pub fn mfa_disabled(conn: &mut AnyConnection, user_id: i64, reason: &str) -> QueryResult<()> {
    emit(conn, "mfa.disabled", user_id, json!({"method": "totp", "reason": reason}))
}

pub fn passkey_added(
    conn: &mut AnyConnection,
    user_id: i64,
    passkey_id: &str,
    name: &str,
) -> QueryResult<()> {
    emit(conn, "passkey.added", user_id, json!({"passkey_id": passkey_id, "name": name}))
}

pub fn passkey_removed(
    conn: &mut AnyConnection,
    user_id: i64,
    (passkey_id, name): (&str, &str),
    reason: &str,
) -> QueryResult<()> {
    emit(
        conn,
        "passkey.removed",
        user_id,
        json!({"passkey_id": passkey_id, "name": name, "reason": reason}),
    )
}

pub fn identity_linked(
    conn: &mut AnyConnection,
    user_id: i64,
    identity_id: &str,
    provider: &str,
) -> QueryResult<()> {
    emit(
        conn,
        "identity.linked",
        user_id,
        json!({"identity_id": identity_id, "provider": provider}),
    )
}

pub fn identity_unlinked(
    conn: &mut AnyConnection,
    user_id: i64,
    (identity_id, provider): (&str, &str),
    reason: &str,
) -> QueryResult<()> {
    emit(
        conn,
        "identity.unlinked",
        user_id,
        json!({"identity_id": identity_id, "provider": provider, "reason": reason}),
    )
}
