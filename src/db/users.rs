//! The `users` table.

use chrono::NaiveDateTime;
use diesel::{dsl::exists, prelude::*};

use super::{
    AnyConnection, changes,
    schema::{sessions, users},
};
use crate::per_backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub profile_pic: Option<String>,
    // No `created_at` or `updated_at`: nothing reads them, and every authenticated request
    // loads this (SQLite keeps timestamps as text, parsed on each load).
    /// Access tokens issued before this moment (unix milliseconds) are refused, and no session
    /// starts from a password checked before it: logout everywhere, password change.
    pub tokens_valid_after_ms: Option<i64>,
    /// When a mailed code proved the address (verification, reset); `None`: not yet.
    pub email_verified_at: Option<NaiveDateTime>,
    /// When a confirmed code turned the TOTP second factor on; `None`: off (or pending).
    pub totp_enabled_at: Option<NaiveDateTime>,
    /// When an operator disabled the account; `None`: enabled.
    pub disabled_at: Option<NaiveDateTime>,
    /// When a disabling lifts by itself; `None` with `disabled_at`: until enabled.
    pub disabled_until: Option<NaiveDateTime>,
}

impl User {
    /// Whether an operator's disabling holds at `now`.
    pub fn is_disabled(&self, now: NaiveDateTime) -> bool {
        self.disabled_at.is_some() && self.disabled_until.is_none_or(|until| until > now)
    }
}

/// A user's TOTP columns: the sealed secret (pending until enabled) and the last step used.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct TotpState {
    pub totp_secret: Option<String>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub totp_last_step: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts the user and returns its id. Fails with `UniqueViolation` when the (normalised)
/// email is taken: the unique index, not a prior lookup, decides between two concurrent
/// registrations.
pub fn insert_user(conn: &mut AnyConnection, user: &NewUser) -> QueryResult<i64> {
    // diesel's MultiConnection backend has no RETURNING clause.
    per_backend!(conn => diesel::insert_into(users::table)
        .values(user)
        .returning(users::id)
        .get_result::<i64>(conn))
}

pub fn find_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<User>> {
    users::table.find(user_id).select(User::as_select()).get_result(conn).optional()
}

/// The user with this (normalised) email, its row locked first by a write: a transaction that
/// goes on to write must begin with one (SQLite answers "database is locked" at once to a
/// transaction that read first and must then upgrade its lock, instead of waiting). An unknown
/// address writes nothing, and costs the same statement.
pub fn lock_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    let locked = diesel::update(users::table.filter(users::email.eq(email)))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    if locked == 0 {
        return Ok(None);
    }
    find_user_by_email(conn, email)
}

pub fn find_user_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .get_result(conn)
        .optional()
}

// Lookups by a unique key use `get_result`, not `first`: `first` adds `LIMIT ?`, and SQLite
// (3.53, bundled) re-prepares a statement whose LIMIT is a bound parameter on every execution,
// which was 46% of the instructions of an authenticated request.

/// The user a token names, and whether the token's session is still live and that user's,
/// in one round trip.
pub fn find_token_user(
    conn: &mut AnyConnection,
    user_id: i64,
    session_id: &str,
) -> QueryResult<Option<(User, bool)>> {
    // Every authenticated request runs this. On the concrete connection, diesel finds the
    // prepared statement by the query's type; through `AnyConnection` it would build the SQL
    // text again each time to look it up. The session must be the user's: a key that signed a
    // token naming one user's `sub` and another's `sid` must not pass.
    let session_of_user =
        sessions::table.filter(sessions::id.eq(session_id)).filter(sessions::user_id.eq(user_id));
    per_backend!(conn => users::table
        .filter(users::id.eq(user_id))
        .select((User::as_select(), exists(session_of_user)))
        .get_result::<(User, bool)>(conn)
        .optional())
}

/// Replaces the password hash if it is still `current_hash` (a concurrent change wins once)
/// and refuses every access token issued before `now`. Returns whether it changed.
pub fn change_password(
    conn: &mut AnyConnection,
    user_id: i64,
    current_hash: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::password_hash.eq(current_hash)))
        .set((
            users::password_hash.eq(new_hash),
            users::updated_at.eq(now),
            users::tokens_valid_after_ms.eq(now.and_utc().timestamp_millis()),
        ))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
}

/// Sets a new password whatever the old one was (a reset: the mailed code proved the
/// mailbox), refuses every access token issued before `now`, and marks the address verified;
/// true when it was not before.
pub fn reset_password(
    conn: &mut AnyConnection,
    user_id: i64,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(new_hash),
            users::updated_at.eq(now),
            users::tokens_valid_after_ms.eq(now.and_utc().timestamp_millis()),
        ))
        .execute(conn)?;
    changes::changed(conn, user_id)?;
    set_verified(conn, user_id, now)
}

/// Renames the user and returns its row; `None` when it is gone.
pub fn rename(conn: &mut AnyConnection, user_id: i64, name: &str) -> QueryResult<Option<User>> {
    let now = chrono::Utc::now().naive_utc();
    let renamed = diesel::update(users::table.find(user_id))
        .set((users::name.eq(name), users::updated_at.eq(now)))
        .execute(conn)?;
    if !changes::when_written(conn, user_id, renamed)? {
        return Ok(None);
    }
    users::table.find(user_id).select(User::as_select()).get_result(conn).optional()
}

/// Moves the account to `new_email` (proved by a code mailed there), refuses every access
/// token issued before `now` (they carry the old address), and marks the new one verified.
pub fn change_email(
    conn: &mut AnyConnection,
    user_id: i64,
    new_email: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::email.eq(new_email),
            users::email_verified_at.eq(now),
            users::updated_at.eq(now),
            users::tokens_valid_after_ms.eq(now.and_utc().timestamp_millis()),
        ))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
        .map(drop)
}

/// Marks the address verified (a code mailed to it came back); true when it was not before.
pub fn mark_verified(
    conn: &mut AnyConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let newly = set_verified(conn, user_id, now)?;
    changes::when_written(conn, user_id, usize::from(newly))
}

/// Sets the verification time if there was none, telling no one (the caller's change does).
fn set_verified(conn: &mut AnyConnection, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::email_verified_at.is_null()))
        .set(users::email_verified_at.eq(now))
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Stores the same password hashed again (at today's cost) if the hash is still `old_hash`;
/// sessions and tokens stay as they are.
pub fn rehash_password(
    conn: &mut AnyConnection,
    user_id: i64,
    old_hash: &str,
    new_hash: &str,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id).filter(users::password_hash.eq(old_hash)))
        .set(users::password_hash.eq(new_hash))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
        .map(drop)
}

/// Refuses every access token of the user issued before `now`, and every session a password
/// checked before it would start.
pub fn refuse_tokens_before(
    conn: &mut AnyConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::tokens_valid_after_ms.eq(now.and_utc().timestamp_millis()))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
        .map(drop)
}

/// The picture a user's row named before a change (the account's deletion, a new picture):
/// once the change commits, no row names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PictureBefore {
    pub profile_pic: Option<String>,
}

/// Deletes the user (sessions and refresh tokens go with it, by cascade) if its password hash
/// is still `password_hash`, and returns the picture it had. `None`: nothing was deleted.
pub fn delete_user(
    conn: &mut AnyConnection,
    user_id: i64,
    password_hash: &str,
) -> QueryResult<Option<PictureBefore>> {
    // diesel's MultiConnection backend has no RETURNING clause.
    per_backend!(conn => diesel::delete(
        users::table
            .find(user_id)
            .filter(users::password_hash.eq(password_hash)),
    )
    .returning(users::profile_pic)
    .get_result::<Option<String>>(conn)
    .optional())?
    .map(|profile_pic| {
        changes::changed(conn, user_id)?;
        Ok(PictureBefore { profile_pic })
    })
    .transpose()
}

/// Sets the user's picture and returns the one it replaces; `None` when the user is gone (a
/// deletion won the race). The row is written first, which locks it (PostgreSQL) or takes the
/// write lock (SQLite, where a transaction that reads first cannot wait for the lock later and
/// fails at once): concurrent uploads then take turns, and each one reads the name the one
/// before it stored, so every replaced picture is known and removed.
pub fn replace_profile_pic(
    conn: &mut AnyConnection,
    user_id: i64,
    profile_pic: &str,
) -> QueryResult<Option<PictureBefore>> {
    conn.transaction(|conn| {
        let now = chrono::Utc::now().naive_utc();
        let locked = diesel::update(users::table.find(user_id))
            .set(users::updated_at.eq(now))
            .execute(conn)?;
        if locked == 0 {
            return Ok(None);
        }
        let previous = users::table
            .find(user_id)
            .select(users::profile_pic)
            .get_result::<Option<String>>(conn)?;
        diesel::update(users::table.find(user_id))
            .set(users::profile_pic.eq(profile_pic))
            .execute(conn)?;
        changes::changed(conn, user_id)?;
        Ok(Some(PictureBefore { profile_pic: previous }))
    })
}

pub fn totp_state(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<TotpState>> {
    users::table.find(user_id).select(TotpState::as_select()).get_result(conn).optional()
}

/// Stores a new pending secret, replacing a pending one; false when the factor is on already.
pub fn set_pending_totp(conn: &mut AnyConnection, user_id: i64, sealed: &str) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::totp_enabled_at.is_null()))
        .set((users::totp_secret.eq(sealed), users::totp_last_step.eq(None::<i64>)))
        .execute(conn)
        .map(|updated| updated == 1)
}

/// Turns the pending secret `sealed` on, its first code's step used; false when it is on
/// already or the secret was replaced meanwhile.
pub fn enable_totp(
    conn: &mut AnyConnection,
    user_id: i64,
    sealed: &str,
    step: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::totp_enabled_at.is_null())
            .filter(users::totp_secret.eq(sealed)),
    )
    .set((users::totp_enabled_at.eq(now), users::totp_last_step.eq(step)))
    .execute(conn)
    .and_then(|rows| changes::when_written(conn, user_id, rows))
}

/// Uses `step` if it is later than the last step used: one statement, so two requests with
/// the same code cannot both pass. False: the code was used already (or an earlier one since).
pub fn use_totp_step(conn: &mut AnyConnection, user_id: i64, step: i64) -> QueryResult<bool> {
    let unused =
        users::totp_last_step.is_null().or(users::totp_last_step.lt(step).assume_not_null());
    diesel::update(
        users::table.find(user_id).filter(users::totp_enabled_at.is_not_null()).filter(unused),
    )
    .set(users::totp_last_step.eq(step))
    .execute(conn)
    .map(|updated| updated == 1)
}

/// Clears the user's TOTP secret, on or pending; true when it was on.
pub fn disable_totp(conn: &mut AnyConnection, user_id: i64) -> QueryResult<bool> {
    let was_on = users::table.find(user_id).select(users::totp_enabled_at.is_not_null());
    let was_on = was_on.get_result(conn).optional()?.unwrap_or(false);
    diesel::update(users::table.find(user_id))
        .set((
            users::totp_secret.eq(None::<String>),
            users::totp_enabled_at.eq(None::<NaiveDateTime>),
            users::totp_last_step.eq(None::<i64>),
        ))
        .execute(conn)?;
    changes::changed(conn, user_id)?;
    Ok(was_on)
}

/// How many accounts hold a TOTP secret (on or pending), and the newest one's id and secret:
/// what start-up checks `MFA_ENCRYPTION_KEY` against.
pub fn sealed_totp_secrets(conn: &mut AnyConnection) -> QueryResult<(i64, Option<(i64, String)>)> {
    let with_secret = users::table.filter(users::totp_secret.is_not_null());
    let count = with_secret.count().get_result(conn)?;
    let newest = with_secret
        .order(users::id.desc())
        .select((users::id, users::totp_secret.assume_not_null()))
        .first::<(i64, String)>(conn)
        .optional()?;
    Ok((count, newest))
}

/// Locks the user's row for the rest of the transaction (by a write, as `lock_by_email`
/// explains); false when the user is gone.
pub fn lock(conn: &mut AnyConnection, user_id: i64) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)
        .map(|locked| locked == 1)
}

/// The user's WebAuthn user handle, `candidate` if they had none yet.
pub fn webauthn_handle(
    conn: &mut AnyConnection,
    user_id: i64,
    candidate: &str,
) -> QueryResult<String> {
    diesel::update(users::table.find(user_id).filter(users::webauthn_handle.is_null()))
        .set(users::webauthn_handle.eq(candidate))
        .execute(conn)?;
    webauthn_handle_of(conn, user_id)?.ok_or(diesel::result::Error::NotFound)
}

pub fn webauthn_handle_of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<String>> {
    users::table
        .find(user_id)
        .select(users::webauthn_handle)
        .get_result::<Option<String>>(conn)
        .optional()
        .map(Option::flatten)
}

/// Replaces the password hash by `unusable` (an account without a password) if it is still
/// `current_hash`; sessions and tokens stay as they are. Returns whether it changed.
pub fn remove_password(
    conn: &mut AnyConnection,
    user_id: i64,
    current_hash: &str,
    unusable: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id).filter(users::password_hash.eq(current_hash)))
        .set((users::password_hash.eq(unusable), users::updated_at.eq(now)))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
}

/// Disables the account from `now` (until `until`, if given): no session starts, and every
/// access token issued before is refused. Its sessions are the caller's to end. False when the
/// user is gone.
pub fn disable(
    conn: &mut AnyConnection,
    user_id: i64,
    (reason, until): (Option<&str>, Option<NaiveDateTime>),
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set((
            users::disabled_at.eq(now),
            users::disabled_until.eq(until),
            users::disabled_reason.eq(reason),
            users::tokens_valid_after_ms.eq(now.and_utc().timestamp_millis()),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
}

/// Lifts a disabling. False when the user is gone.
pub fn enable(conn: &mut AnyConnection, user_id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(users::table.find(user_id))
        .set((
            users::disabled_at.eq(None::<NaiveDateTime>),
            users::disabled_until.eq(None::<NaiveDateTime>),
            users::disabled_reason.eq(None::<String>),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .and_then(|rows| changes::when_written(conn, user_id, rows))
}

/// A user as operators list them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Listed {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub email_verified_at: Option<NaiveDateTime>,
    pub totp_enabled_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_until: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    /// Never shown: whether the account has a password is read from it.
    pub password_hash: String,
}

/// Up to `limit` users whose address or (lowercased) name starts with `prefix`, by id, after
/// the id `after` (keyset pagination: a page costs the same however deep it is).
pub fn search(
    conn: &mut AnyConnection,
    prefix: Option<&str>,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Listed>> {
    let pattern =
        prefix.filter(|p| !p.is_empty()).map(|p| format!("{}%", escape_like(&p.to_lowercase())));
    per_backend!(conn => {
        let mut query =
            users::table.select(Listed::as_select()).order(users::id).limit(limit).into_boxed();
        if let Some(pattern) = &pattern {
            let name = diesel::dsl::sql::<diesel::sql_types::Text>("lower(name)");
            query = query.filter(
                users::email
                    .like(pattern.clone())
                    .escape('\\')
                    .or(name.like(pattern.clone()).escape('\\')),
            );
        }
        if let Some(after) = after {
            query = query.filter(users::id.gt(after));
        }
        query.load(conn)
    })
}

/// `text` as a LIKE pattern matching itself.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A user as operators look one up: by id, or by (normalised) address.
pub fn find_listed(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Option<Listed>> {
    users::table.find(user_id).select(Listed::as_select()).get_result(conn).optional()
}
