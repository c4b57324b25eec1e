//! The `sessions` and `refresh_tokens` tables: one session per login, and the refresh tokens
//! of its family (each spent one's successor, down from the login's).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    AnyConnection, changes,
    schema::{disabled_refresh_tokens, refresh_tokens, sessions, users},
};
use crate::per_backend;

/// How long refresh tokens and sessions live, and how a spent token's second use is judged.
#[derive(Debug, Clone, Copy)]
pub struct SessionRules {
    pub refresh_token_ttl: chrono::Duration,
    /// A spent token presented again within this interval gets the successor its first use
    /// got; later, its use ends the session.
    pub refresh_reuse_interval: chrono::Duration,
    /// From the login on: past it no refresh extends the session (`SESSION_MAX_LIFETIME_SECS`).
    pub max_lifetime: chrono::Duration,
}

/// Where a session was last used from, as its user is shown it: written at login and at
/// refresh, never per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenFrom {
    /// The client's /24 or /64, never its address.
    pub ip: String,
    pub user_agent: Option<String>,
}

/// A live session as `GET /api/sessions` lists it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub created_at: NaiveDateTime,
    /// `None` only for sessions of before it was kept: then its creation is the last use known.
    pub last_used_at: Option<NaiveDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session about to start: its first refresh token, where it comes from, and how it was
/// signed in to (`amr` values, space-separated: `pwd`, `pwd otp`, `pwd recovery`).
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    pub first: &'a NewRefreshToken,
    pub seen: &'a SeenFrom,
    pub amr: &'a str,
}

/// A new refresh token, known by its hash, and when it stops working.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
}

/// A presented refresh token as a refresh judges it: its own times, its session's, its user.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
struct PresentedToken {
    session_id: String,
    expires_at: NaiveDateTime,
    spent_at: Option<NaiveDateTime>,
    #[diesel(select_expression = sessions::created_at)]
    created_at: NaiveDateTime,
    #[diesel(select_expression = sessions::amr)]
    amr: String,
    #[diesel(select_expression = users::id)]
    user_id: i64,
    #[diesel(select_expression = users::email)]
    email: String,
    #[diesel(select_expression = users::email_verified_at)]
    email_verified_at: Option<NaiveDateTime>,
}

/// The session a refresh continues, as its new access token describes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Continued {
    pub user_id: i64,
    pub email: String,
    pub email_verified: bool,
    pub session_id: String,
    pub amr: String,
    /// Its login plus `SESSION_MAX_LIFETIME_SECS`: no token of it lives past this.
    pub ends_at: NaiveDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// It was live (or spent moments ago by a concurrent request of the same client): the
    /// successor is stored in the same session.
    Rotated(Continued),
    /// It was spent within the grace interval (a concurrent request of the same client): the
    /// successor its first use stored is handed out again, so the session keeps one chain.
    Replayed(Continued),
    /// It was spent before the grace interval: someone holds a copy, so the session is over.
    ReuseDetected { user_id: i64 },
    /// Past its lifetime.
    Expired,
    /// Unknown, or its session has ended.
    Invalid,
}

impl Refresh {
    /// Its label in `auth_refreshes_total{outcome}`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Refresh::Rotated(_) => "rotated",
            Refresh::Replayed(_) => "replayed",
            Refresh::ReuseDetected { .. } => "reused",
            Refresh::Expired => "expired",
            Refresh::Invalid => "invalid",
        }
    }
}

/// The password check a session starts from: the hash the password matched, and when the
/// check began (before the user was read).
#[derive(Debug, Clone, Copy)]
pub struct PasswordCheck<'a> {
    pub hash: &'a str,
    pub at: NaiveDateTime,
}

/// Starts a session with its first refresh token and returns the session id, and the ids of
/// the oldest sessions it ended past the cap; `None` when the check it starts from no longer
/// holds: the password changed, the user logged out everywhere
/// after it began, the account was disabled, or it is gone. (Expired sessions are the sweeper's.)
pub fn start(
    conn: &mut AnyConnection,
    user_id: i64,
    check: PasswordCheck,
    new: NewSession,
    now: NaiveDateTime,
) -> QueryResult<Option<(String, Vec<String>)>> {
    let NewSession { first, seen, amr } = new;
    let session_id = uuid::Uuid::new_v4().to_string();
    conn.transaction(|conn| {
        // The user's row is locked first (a password change and a logout everywhere update
        // it), by the one statement that checks it: one of them that commits first is seen
        // here, and one that comes later waits for this session and ends it. On PostgreSQL a
        // shared lock: logins of one account do not wait for each other (an update did, and
        // left a dead row version per login behind). SQLite has one writer anyway; there a
        // column no foreign key refers to is written, to take the write lock first (SQLite
        // checks every child row when a parent key is set, even to itself).
        let checked_at = check.at.and_utc().timestamp_millis();
        let not_ended_since = users::tokens_valid_after_ms
            .is_null()
            .or(users::tokens_valid_after_ms.le(checked_at).assume_not_null());
        // Nor for a disabled account (an operator's disabling that came since the check).
        let enabled = users::disabled_at.is_null().or(users::disabled_until.le(now));
        let checked = users::table
            .find(user_id)
            .filter(users::password_hash.eq(check.hash))
            .filter(not_ended_since)
            .filter(enabled);
        let still_valid = match conn {
            AnyConnection::Postgresql(pg) => {
                checked.select(users::id).for_share().first::<i64>(pg).optional()?.is_some()
            }
            AnyConnection::Sqlite(sqlite) => {
                diesel::update(checked)
                    .set(users::updated_at.eq(users::updated_at))
                    .execute(sqlite)?
                    == 1
            }
        };
        if !still_valid {
            return Ok(None);
        }
        // A single-factor session never starts for an account with MFA on. The row is locked
        // now, so a login that found MFA off and raced its confirmation sees it on here (the
        // confirmation committed first), or the confirmation waits and then ends this session.
        if SINGLE_FACTOR.contains(&amr) && has_mfa(conn, user_id)? {
            return Ok(None);
        }
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(&session_id),
                sessions::user_id.eq(user_id),
                sessions::created_at.eq(now),
                sessions::expires_at.eq(first.expires_at),
                sessions::last_used_at.eq(now),
                sessions::ip.eq(&seen.ip),
                sessions::user_agent.eq(&seen.user_agent),
                sessions::amr.eq(amr),
            ))
            .execute(conn)?;
        insert_refresh_token(conn, &session_id, first)?;
        let ended = end_beyond_the_cap(conn, user_id)?;
        Ok(Some((session_id, ended)))
    })
}

/// The stored `amr` of the sessions signed in to with one factor (the password, or a mailed
/// code, a passkey that only checked presence, or an outside provider).
pub const SINGLE_FACTOR: [&str; 4] = ["pwd", "email", "passkey", "fed"];

fn has_mfa(conn: &mut AnyConnection, user_id: i64) -> QueryResult<bool> {
    let enabled_at = users::table
        .find(user_id)
        .select(users::totp_enabled_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?;
    Ok(matches!(enabled_at, Some(Some(_))))
}

/// The sessions a user keeps at most; a login past it ends the oldest (a script that logs in
/// in a loop cannot grow the table without bound).
pub const MAX_SESSIONS_PER_USER: i64 = 50;

/// Ends the user's sessions past `MAX_SESSIONS_PER_USER`, oldest first; their ids.
fn end_beyond_the_cap(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<String>> {
    let beyond: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(sessions::id)
        .offset(MAX_SESSIONS_PER_USER)
        .limit(MAX_SESSIONS_PER_USER)
        .load(conn)?;
    if !beyond.is_empty() {
        diesel::delete(sessions::table.filter(sessions::id.eq_any(&beyond))).execute(conn)?;
    }
    told(conn, user_id, beyond)
}

/// Spends the token `presented_hash` names and stores its successor `successor_hash` (derived
/// from it, so the same for every request presenting it) in its session, in one transaction.
/// A token spent at most `refresh_reuse_interval` ago is answered with that same successor, so
/// two requests racing with one token (two tabs, a retried request) both succeed and the
/// session keeps one chain; past `max_lifetime` from the login, the session ends. A token
/// reused past that interval ends its session, and `on_reuse` (given the user and the session
/// ended) writes what must be written with that end, in its transaction (the user's notice).
pub fn rotate(
    conn: &mut AnyConnection,
    presented_hash: &str,
    successor_hash: &str,
    seen: &SeenFrom,
    rules: SessionRules,
    on_reuse: impl FnOnce(&mut AnyConnection, i64, &[String]) -> QueryResult<()>,
) -> QueryResult<Refresh> {
    conn.transaction(|conn| {
        // The session row is locked first, in the same order as a logout deleting it takes its
        // locks (session, then its tokens), so the two cannot deadlock; on SQLite this first
        // write takes the database's write lock, so concurrent rotations queue here.
        let session_of_token = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .select(refresh_tokens::session_id);
        diesel::update(sessions::table.filter(sessions::id.eq_any(session_of_token)))
            .set(sessions::expires_at.eq(sessions::expires_at))
            .execute(conn)?;
        // Read after the lock: a request that waited for a concurrent one must see its spend
        // as earlier than itself.
        let now = chrono::Utc::now().naive_utc();
        let spent_now = diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::token_hash.eq(presented_hash))
                .filter(refresh_tokens::spent_at.is_null())
                .filter(refresh_tokens::expires_at.gt(now)),
        )
        .set(refresh_tokens::spent_at.eq(now))
        .execute(conn)?
            == 1;
        let found = refresh_tokens::table
            .inner_join(sessions::table.inner_join(users::table))
            .filter(refresh_tokens::token_hash.eq(presented_hash))
            .select(PresentedToken::as_select())
            .get_result(conn)
            .optional()?;
        let Some(PresentedToken {
            session_id,
            expires_at,
            spent_at,
            created_at,
            amr,
            user_id,
            email,
            email_verified_at,
        }) = found
        else {
            return Ok(Refresh::Invalid);
        };
        if expires_at <= now {
            return Ok(Refresh::Expired);
        }
        let ends_at = created_at + rules.max_lifetime;
        if ends_at <= now {
            end(conn, &session_id)?;
            return Ok(Refresh::Expired);
        }
        let within_grace =
            spent_at.is_some_and(|spent_at| now - spent_at <= rules.refresh_reuse_interval);
        if !spent_now && !within_grace {
            let ended = end(conn, &session_id)?;
            on_reuse(conn, user_id, &ended)?;
            return Ok(Refresh::ReuseDetected { user_id });
        }
        let stored = refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(successor_hash))
            .count()
            .get_result::<i64>(conn)?
            > 0;
        let used = (
            sessions::last_used_at.eq(now),
            sessions::ip.eq(&seen.ip),
            sessions::user_agent.eq(&seen.user_agent),
        );
        if stored {
            diesel::update(sessions::table.find(&session_id)).set(used).execute(conn)?;
        } else {
            let expires_at = (now + rules.refresh_token_ttl).min(ends_at);
            let successor = NewRefreshToken { token_hash: successor_hash.to_owned(), expires_at };
            insert_refresh_token(conn, &session_id, &successor)?;
            diesel::update(sessions::table.find(&session_id))
                .set((sessions::expires_at.eq(successor.expires_at), used))
                .execute(conn)?;
        }
        let email_verified = email_verified_at.is_some();
        let continued = Continued { user_id, email, email_verified, session_id, amr, ends_at };
        Ok(if spent_now { Refresh::Rotated(continued) } else { Refresh::Replayed(continued) })
    })
}

/// Ends one session: its refresh tokens (by cascade) and the access tokens naming it. Each
/// ending returns the ids of the sessions it ended, for the `session.ended` event.
pub fn end(conn: &mut AnyConnection, session_id: &str) -> QueryResult<Vec<String>> {
    let ended: Vec<(String, i64)> = per_backend!(conn => diesel::delete(
        sessions::table.find(session_id)
    )
    .returning((sessions::id, sessions::user_id))
    .load(conn))?;
    if let Some((_, user_id)) = ended.first() {
        changes::changed(conn, *user_id)?;
    }
    Ok(ended.into_iter().map(|(id, _)| id).collect())
}

/// Tells the user's change (`changes`) if sessions of theirs ended; their ids.
fn told(conn: &mut AnyConnection, user_id: i64, ended: Vec<String>) -> QueryResult<Vec<String>> {
    changes::when_written(conn, user_id, ended.len())?;
    Ok(ended)
}

/// Ends every session of a disabled user, keeping its live refresh tokens' hashes so that a
/// refresh with one is told why (`disabled_owner`).
pub fn end_all_disabled(
    conn: &mut AnyConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    let live = refresh_tokens::table
        .inner_join(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(refresh_tokens::spent_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .select((refresh_tokens::token_hash, sessions::user_id, refresh_tokens::expires_at));
    let columns = (
        disabled_refresh_tokens::token_hash,
        disabled_refresh_tokens::user_id,
        disabled_refresh_tokens::expires_at,
    );
    per_backend!(conn => diesel::insert_into(disabled_refresh_tokens::table)
        .values(live)
        .into_columns(columns)
        .on_conflict_do_nothing()
        .execute(conn))?;
    end_all(conn, user_id)
}

/// The user whose disabling ended the session of the refresh token `token_hash`, while it
/// holds.
pub fn disabled_owner(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<i64>> {
    let still_disabled = users::disabled_at
        .is_not_null()
        .and(users::disabled_until.is_null().or(users::disabled_until.gt(now)).assume_not_null());
    disabled_refresh_tokens::table
        .inner_join(users::table)
        .filter(disabled_refresh_tokens::token_hash.eq(token_hash))
        .filter(still_disabled)
        .select(users::id)
        .get_result(conn)
        .optional()
}

/// Forgets the refresh tokens a disabling ended (the account is enabled again).
pub fn forget_disabled(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    diesel::delete(
        disabled_refresh_tokens::table.filter(disabled_refresh_tokens::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(drop)
}

/// Ends every session of a user.
pub fn end_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<String>> {
    let all = sessions::table.filter(sessions::user_id.eq(user_id));
    let ended = per_backend!(conn => diesel::delete(all).returning(sessions::id).load(conn))?;
    told(conn, user_id, ended)
}

/// Ends the session `session_id` if it is the user's; none ended when the user has none of
/// that id (another user's session is not found either).
pub fn end_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
    session_id: &str,
) -> QueryResult<Vec<String>> {
    let own =
        sessions::table.filter(sessions::id.eq(session_id)).filter(sessions::user_id.eq(user_id));
    let ended = per_backend!(conn => diesel::delete(own).returning(sessions::id).load(conn))?;
    told(conn, user_id, ended)
}

/// Ends every session of a user but `keep`.
pub fn end_all_but(conn: &mut AnyConnection, user_id: i64, keep: &str) -> QueryResult<Vec<String>> {
    let others =
        sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id.ne(keep));
    let ended = per_backend!(conn => diesel::delete(others).returning(sessions::id).load(conn))?;
    told(conn, user_id, ended)
}

/// The user's live sessions, newest first.
pub fn of_user(
    conn: &mut AnyConnection,
    user_id: i64,
    now: NaiveDateTime,
) -> QueryResult<Vec<Session>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(Session::as_select())
        .load(conn)
}

pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::expires_at.lt(now))).execute(conn)?;
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now)))
        .execute(conn)?;
    diesel::delete(
        disabled_refresh_tokens::table.filter(disabled_refresh_tokens::expires_at.lt(now)),
    )
    .execute(conn)
    .map(drop)
}

fn insert_refresh_token(
    conn: &mut AnyConnection,
    session_id: &str,
    token: &NewRefreshToken,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(&token.token_hash),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)
        .map(drop)
}
