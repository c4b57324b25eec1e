//! Users as operators see and change them. Each change is one transaction with what it
//! implies (sessions ended, the user told), then an audit event naming who acted.

use chrono::NaiveDateTime;
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use super::Actor;
use crate::{
    account::{deletion, second_factor, sign_in},
    audit,
    db::{
        AnyConnection, identities, mail_outbox, mfa_challenges, passkeys, recovery_codes, sessions,
        users::{self, Listed, User},
    },
    error::ApiError,
    mail::templates::Kind,
    request::Ctx,
    timestamps::rfc3339,
    validation::normalize_email,
    webhooks::events,
};

/// A page of the list holds at most this many users.
pub const MAX_PAGE: i64 = 100;
const DEFAULT_PAGE: i64 = 50;
/// An operator's note on a disabling, in characters.
const MAX_REASON_CHARS: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AdminUser {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    /// TOTP second factor on.
    pub mfa: bool,
    /// `active`, or `disabled` (until `disabled_until`, or until enabled).
    #[schema(example = "active")]
    pub status: &'static str,
    pub disabled_at: Option<String>,
    pub disabled_until: Option<String>,
    pub disabled_reason: Option<String>,
    pub created_at: String,
}

impl AdminUser {
    fn of(user: Listed, now: NaiveDateTime) -> AdminUser {
        let disabled =
            user.disabled_at.is_some() && user.disabled_until.is_none_or(|until| until > now);
        AdminUser {
            id: user.id,
            name: user.name,
            email: user.email,
            email_verified: user.email_verified_at.is_some(),
            mfa: user.totp_enabled_at.is_some(),
            status: if disabled { "disabled" } else { "active" },
            disabled_at: user.disabled_at.filter(|_| disabled).map(rfc3339),
            disabled_until: user.disabled_until.filter(|_| disabled).map(rfc3339),
            disabled_reason: user.disabled_reason.filter(|_| disabled),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// `GET /api/admin/users`, `admin users list`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    #[schema(example = "success")]
    pub status: &'static str,
    pub users: Vec<AdminUser>,
    /// For the next page (`cursor=`); `null` on the last.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSession {
    pub id: String,
    pub created_at: String,
    pub last_used_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminPasskey {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub backed_up: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminIdentity {
    pub id: String,
    pub provider: String,
    pub email: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// `GET /api/admin/users/{id}`, `admin users show`, and what every change answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDetail {
    #[schema(example = "success")]
    pub status: &'static str,
    pub user: AdminUser,
    pub has_password: bool,
    pub recovery_codes_left: i64,
    pub sessions: Vec<AdminSession>,
    pub passkeys: Vec<AdminPasskey>,
    pub identities: Vec<AdminIdentity>,
}

/// Users whose address or name starts with `query`, `limit` a page (1 to 100; 50), after
/// `cursor` (the last page's `next_cursor`).
pub async fn list(
    ctx: &Ctx,
    query: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<UserPage, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidAdminInput(format!("limit must be 1 to {MAX_PAGE}")));
    }
    let after = match cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .map_err(|_| ApiError::InvalidAdminInput("Invalid cursor".into()))?,
        ),
        None => None,
    };
    let query = query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    let found = ctx.db(move |conn| users::search(conn, query.as_deref(), after, limit + 1)).await?;
    let now = chrono::Utc::now().naive_utc();
    let more = found.len() as i64 > limit;
    let users: Vec<AdminUser> =
        found.into_iter().take(limit as usize).map(|user| AdminUser::of(user, now)).collect();
    let next_cursor = users.last().filter(|_| more).map(|user| user.id.to_string());
    Ok(UserPage { status: "success", users, next_cursor })
}

/// The id of the user `who` names: an id, or an address.
pub async fn find(ctx: &Ctx, who: &str) -> Result<i64, ApiError> {
    if let Ok(id) = who.trim().parse::<i64>() {
        return Ok(id);
    }
    let email = normalize_email(who);
    let user = ctx.db(move |conn| users::find_user_by_email(conn, &email)).await?;
    user.map(|user| user.id).ok_or(ApiError::UserNotFound)
}

/// Everything an operator looks at about one user.
pub async fn show(ctx: &Ctx, user_id: i64) -> Result<UserDetail, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let found = ctx
        .db(move |conn| {
            let Some(user) = users::find_listed(conn, user_id)? else { return Ok(None) };
            let has_password = crate::auth::password::is_set(&user.password_hash);
            let detail = (
                user,
                has_password,
                recovery_codes::unused(conn, user_id)?,
                sessions::of_user(conn, user_id, now)?,
                passkeys::of_user(conn, user_id)?,
                identities::of_user(conn, user_id)?,
            );
            Ok::<_, diesel::result::Error>(Some(detail))
        })
        .await?;
    let (user, has_password, recovery_codes_left, sessions, passkeys, identities) =
        found.ok_or(ApiError::UserNotFound)?;
    let mfa = user.totp_enabled_at.is_some();
    Ok(UserDetail {
        status: "success",
        user: AdminUser::of(user, now),
        has_password,
        recovery_codes_left: if mfa { recovery_codes_left } else { 0 },
        sessions: sessions
            .into_iter()
            .map(|s| AdminSession {
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_used_at: rfc3339(s.last_used_at.unwrap_or(s.created_at)),
                ip: s.ip,
                user_agent: s.user_agent,
            })
            .collect(),
        passkeys: passkeys
            .into_iter()
            .map(|p| AdminPasskey {
                id: p.id,
                name: p.name,
                created_at: rfc3339(p.created_at),
                last_used_at: p.last_used_at.map(rfc3339),
                backed_up: p.backed_up,
            })
            .collect(),
        identities: identities
            .into_iter()
            .map(|i| AdminIdentity {
                id: i.id,
                provider: i.provider,
                email: i.email,
                created_at: rfc3339(i.created_at),
                last_used_at: i.last_used_at.map(rfc3339),
            })
            .collect(),
    })
}

/// When a disabling lifts: an RFC 3339 time, or a span from now (`30m`, `12h`, `7d`).
pub fn parse_until(text: &str) -> Result<NaiveDateTime, ApiError> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.naive_utc());
    }
    let span = text
        .char_indices()
        .last()
        .and_then(|(at, unit)| Some((text[..at].parse::<i64>().ok()?, unit)))
        .and_then(|(n, unit)| match unit {
            'm' => chrono::Duration::try_minutes(n),
            'h' => chrono::Duration::try_hours(n),
            'd' => chrono::Duration::try_days(n),
            _ => None,
        });
    match span {
        Some(span) => Ok(chrono::Utc::now().naive_utc() + span),
        None => Err(ApiError::InvalidAdminInput(format!(
            "until {text:?} is neither an RFC 3339 time nor a span like 12h or 7d"
        ))),
    }
}

/// Disables the account: no sign-in or refresh answers but 403 `Account disabled`, every
/// session and waiting second step ends (on every replica at once: they are rows), the user is
/// told. `until`, if given, lifts it by itself.
pub async fn disable(
    ctx: &Ctx,
    actor: &Actor,
    user_id: i64,
    reason: Option<String>,
    until: Option<NaiveDateTime>,
) -> Result<UserDetail, ApiError> {
    let now = chrono::Utc::now().naive_utc();
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ApiError::InvalidAdminInput(format!(
            "reason must be at most {MAX_REASON_CHARS} characters"
        )));
    }
    if until.is_some_and(|until| until <= now) {
        return Err(ApiError::InvalidAdminInput("until must be in the future".into()));
    }
    let when = match until {
        Some(until) => format!("until {}", until.format("%Y-%m-%d %H:%M UTC")),
        None => "until they enable it again".to_owned(),
    };
    let mailer = ctx.mailer();
    change(ctx, (actor, "user.disable"), user_id, move |conn, user, now| {
        users::disable(conn, user.id, (reason.as_deref(), until), now)?;
        let ended = sessions::end_all_disabled(conn, user.id, now)?;
        mfa_challenges::end_all(conn, user.id)?;
        let notice = mailer.notice(Kind::AccountDisabled, user, &[("until", &when)]);
        mail_outbox::enqueue(conn, &notice)?;
        events::user_disabled(conn, user.id, until)?;
        Ok(events::sessions_ended(conn, user.id, &ended, "disabled")?)
    })
    .await
}

/// Lifts a disabling (sessions ended by it stay ended).
pub async fn enable(ctx: &Ctx, actor: &Actor, user_id: i64) -> Result<UserDetail, ApiError> {
    let mailer = ctx.mailer();
    change(ctx, (actor, "user.enable"), user_id, move |conn, user, now| {
        users::enable(conn, user.id, now)?;
        sessions::forget_disabled(conn, user.id)?;
        if user.is_disabled(now) {
            mail_outbox::enqueue(conn, &mailer.notice(Kind::AccountEnabled, user, &[]))?;
            events::user_enabled(conn, user.id)?;
        }
        Ok(())
    })
    .await
}

/// Ends every session of the user and refuses every access token issued before now.
pub async fn logout(ctx: &Ctx, actor: &Actor, user_id: i64) -> Result<UserDetail, ApiError> {
    change(ctx, (actor, "user.logout"), user_id, |conn, user, now| {
        Ok(sign_in::end_everywhere(conn, user.id, now, "operator")?)
    })
    .await
}

/// Marks the address verified, on the operator's word (no mail is sent).
pub async fn verify_email(ctx: &Ctx, actor: &Actor, user_id: i64) -> Result<UserDetail, ApiError> {
    change(ctx, (actor, "user.verify_email"), user_id, |conn, user, now| {
        if users::mark_verified(conn, user.id, now)? {
            events::email_verified(conn, user.id, &user.email, "operator")?;
        }
        Ok(())
    })
    .await
}

/// Turns the TOTP second factor off (its secret, recovery codes and waiting logins go) for a
/// user who lost it, and tells them. 400 `MFA not enabled` when it is off.
pub async fn reset_mfa(ctx: &Ctx, actor: &Actor, user_id: i64) -> Result<UserDetail, ApiError> {
    let mailer = ctx.mailer();
    change(ctx, (actor, "user.reset_mfa"), user_id, move |conn, user, _| {
        if user.totp_enabled_at.is_none() {
            return Err(ApiError::MfaNotEnabled);
        }
        second_factor::remove(conn, user.id, "operator")?;
        Ok(mail_outbox::enqueue(conn, &mailer.notice(Kind::MfaReset, user, &[]))?)
    })
    .await
}

/// An operator's change to one user: `work` in one transaction holding the user's row (404
/// when it is gone), then the audit line naming who acted, then the user as it is now.
async fn change<F>(
    ctx: &Ctx,
    (actor, action): (&Actor, &str),
    user_id: i64,
    work: F,
) -> Result<UserDetail, ApiError>
where
    F: FnOnce(&mut AnyConnection, &User, NaiveDateTime) -> Result<(), ApiError> + Send + 'static,
{
    let now = chrono::Utc::now().naive_utc();
    ctx.db(move |conn| {
        conn.transaction(|conn| {
            // Locked by a write first: on SQLite a transaction that read first could not wait
            // for the write lock later (`users::lock_by_email`).
            if !users::lock(conn, user_id)? {
                return Err(ApiError::UserNotFound);
            }
            let user = users::find_user(conn, user_id)?.ok_or(ApiError::UserNotFound)?;
            work(conn, &user, now)
        })
    })
    .await?;
    audit::admin(action, &actor.name(), Some(user_id), ctx.client);
    show(ctx, user_id).await
}

/// Deletes the account as its owner's deletion does, and tells them.
pub async fn delete(ctx: &Ctx, actor: &Actor, user_id: i64) -> Result<(), ApiError> {
    // A password change between the read and the delete makes the delete miss: read again.
    for _ in 0..3 {
        let user = ctx.db(move |conn| users::find_user(conn, user_id)).await?;
        let user = user.ok_or(ApiError::UserNotFound)?;
        let notice = ctx.mailer().notice(Kind::AccountRemoved, &user, &[]);
        if deletion::delete(ctx, &user, notice, "operator").await? {
            audit::admin("user.delete", &actor.name(), Some(user_id), ctx.client);
            return Ok(());
        }
    }
    Err(ApiError::Busy { retry_after_secs: 1 })
}
