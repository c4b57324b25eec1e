//! What an outside identity does to accounts: the linking policy (docs/SECURITY.md).
//!
//! - An identity is (provider, subject), never the email: a known one signs in as its user,
//!   whatever address the provider gives now.
//! - A new one whose email is an account's joins that account by itself only when the provider
//!   proves the address and the account proved it too; otherwise the account's owner confirms
//!   the link after signing in the usual way (a link token, no session).
//! - An account that never proved its address, matched by a provider that proves it: whoever
//!   registered it loses it (its password, ways in and sessions end) and the address's owner
//!   gets it, told by mail.
//! - No account: a new one without a password, its address verified if the provider proved it.

use chrono::NaiveDateTime;
use diesel::{Connection, QueryResult};

use crate::{
    account::second_factor,
    auth::password::no_password,
    db::{
        AnyConnection, email_codes, identities, mail_outbox,
        oauth_grants::{Grant, Kind},
        passkeys, sessions,
        users::{self, NewUser, User},
    },
    error::ApiError,
    federation::Proved,
    mail::templates::Kind as Mail,
    request::{Ctx, ctx::Mailer},
    validation::valid_email,
    webhooks::events,
};

/// Why an identity signs no one in: told to the website in the redirect's fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// The provider gives no usable address, and no account has the identity.
    NoEmail,
    /// A link asked for from a session, of an identity another account has.
    IdentityTaken,
}

impl Unlinked {
    pub fn code(self) -> &'static str {
        match self {
            Unlinked::NoEmail => "email_required",
            Unlinked::IdentityTaken => "identity_taken",
        }
    }
}

/// Applies the linking policy to the identity `proved` of `provider`; `linking` is the user
/// adding it from a signed-in session. The answer is the grant the website exchanges.
pub async fn resolve(
    ctx: &Ctx,
    provider: &str,
    linking: Option<i64>,
    proved: Proved,
) -> Result<Result<(Kind, Grant), Unlinked>, ApiError> {
    let unusable = no_password().map_err(ApiError::internal)?;
    let (provider, mailer) = (provider.to_owned(), ctx.mailer());
    ctx.db(move |conn| {
        conn.transaction(|conn| -> Result<Result<(Kind, Grant), Unlinked>, ApiError> {
            let now = chrono::Utc::now().naive_utc();
            let grant = |user_id, mfa| Grant {
                kind: String::new(),
                user_id,
                provider: provider.clone(),
                subject: proved.subject.clone(),
                email: proved.email.clone(),
                mfa,
            };
            let known = identities::find(conn, &provider, &proved.subject)?;
            if let Some(user_id) = linking {
                return match known {
                    Some(identity) if identity.user_id != user_id => {
                        Ok(Err(Unlinked::IdentityTaken))
                    }
                    Some(_) => Ok(Ok((Kind::Linked, grant(user_id, false)))),
                    None => {
                        let Some(user) = users::find_user(conn, user_id)? else {
                            return Ok(Err(Unlinked::IdentityTaken));
                        };
                        link(conn, &user, &provider, &proved, now, &mailer)?;
                        Ok(Ok((Kind::Linked, grant(user_id, false))))
                    }
                };
            }
            if let Some(identity) = known {
                identities::record_use(conn, &identity.id, proved.email.as_deref(), now)?;
                return Ok(Ok((Kind::SignIn, grant(identity.user_id, proved.mfa))));
            }
            let Some(email) = proved.email.as_deref().and_then(|email| valid_email(email).ok())
            else {
                return Ok(Err(Unlinked::NoEmail));
            };
            let Some(user) = users::lock_by_email(conn, &email)? else {
                let user = create(conn, (&email, &provider), &proved, &unusable, now)?;
                linked(conn, user.id, &provider, &proved.subject, Some(&email), now)?;
                return Ok(Ok((Kind::SignIn, grant(user.id, proved.mfa))));
            };
            match (proved.email_proved, user.email_verified_at.is_some()) {
                (true, true) => {
                    link(conn, &user, &provider, &proved, now, &mailer)?;
                    Ok(Ok((Kind::SignIn, grant(user.id, proved.mfa))))
                }
                (true, false) => {
                    claim(conn, &user, &provider, &unusable, now, &mailer)?;
                    linked(conn, user.id, &provider, &proved.subject, Some(&email), now)?;
                    Ok(Ok((Kind::SignIn, grant(user.id, proved.mfa))))
                }
                (false, _) => Ok(Ok((Kind::LinkRequired, grant(user.id, false)))),
            }
        })
    })
    .await
}

/// The first proof of an account's mailbox (a reset, a sign-in or verification code) outranks
/// every way in set up before it, a squatter's for all anyone knows: its second factor,
/// passkeys and outside identities go. Nothing happens to an account that proved it already.
pub fn first_proof(conn: &mut AnyConnection, user: &User) -> QueryResult<()> {
    if user.email_verified_at.is_some() {
        return Ok(());
    }
    end_ways_in(conn, user.id)
}

/// The address proved by a code mailed to it (`via` says which): what came before its first
/// proof goes (`first_proof`), and it is verified from now.
pub fn prove_address(
    conn: &mut AnyConnection,
    user: &User,
    now: NaiveDateTime,
    via: &str,
) -> QueryResult<()> {
    first_proof(conn, user)?;
    if users::mark_verified(conn, user.id, now)? {
        events::email_verified(conn, user.id, &user.email, via)?;
    }
    Ok(())
}

/// The second factor, passkeys and identities of an account the address's owner proved
/// theirs, each removal reported.
fn end_ways_in(conn: &mut AnyConnection, user_id: i64) -> QueryResult<()> {
    const REASON: &str = "address_proved";
    second_factor::remove(conn, user_id, REASON)?;
    for (id, name) in passkeys::delete_all(conn, user_id)? {
        events::passkey_removed(conn, user_id, (&id, &name), REASON)?;
    }
    for (id, provider) in identities::unlink_all(conn, user_id)? {
        events::identity_unlinked(conn, user_id, (&id, &provider), REASON)?;
    }
    Ok(())
}

/// Links the identity to `user` and tells them.
pub fn link(
    conn: &mut AnyConnection,
    user: &User,
    provider: &str,
    proved: &Proved,
    now: NaiveDateTime,
    mailer: &Mailer,
) -> Result<(), ApiError> {
    linked(conn, user.id, provider, &proved.subject, proved.email.as_deref(), now)?;
    let notice = mailer.notice(Mail::IdentityLinked, user, &[("provider", provider)]);
    mail_outbox::enqueue(conn, &notice)?;
    Ok(())
}

/// Links the identity (`subject` at `provider`, which gave `email`) to the user.
fn linked(
    conn: &mut AnyConnection,
    user_id: i64,
    provider: &str,
    subject: &str,
    email: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let id = identities::link(conn, user_id, (provider, subject, email), now)?;
    events::identity_linked(conn, user_id, &id, provider)
}

/// A new account for the identity: no password, its address verified if the provider proved it.
fn create(
    conn: &mut AnyConnection,
    (email, provider): (&str, &str),
    proved: &Proved,
    unusable: &str,
    now: NaiveDateTime,
) -> Result<User, ApiError> {
    let given = proved.name.as_deref().map(str::trim).filter(|name| {
        !name.is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control)
    });
    let name = given.unwrap_or_else(|| email.split('@').next().unwrap_or(email));
    let new = NewUser { name, email, password_hash: unusable, created_at: now, updated_at: now };
    let user_id = users::insert_user(conn, &new).map_err(ApiError::on_email_write)?;
    events::user_created(conn, user_id, (email, name), provider)?;
    if proved.email_proved {
        users::mark_verified(conn, user_id, now)?;
        events::email_verified(conn, user_id, email, "provider")?;
    }
    users::find_user(conn, user_id)?.ok_or(ApiError::UserNotFound)
}

/// An account that never proved its address, now proved by a provider: whoever registered it
/// loses it. Its password, second factor, passkeys, identities, codes and sessions end; the
/// address is verified; the owner is told.
fn claim(
    conn: &mut AnyConnection,
    user: &User,
    provider: &str,
    unusable: &str,
    now: NaiveDateTime,
    mailer: &Mailer,
) -> Result<(), ApiError> {
    if users::reset_password(conn, user.id, unusable, now)? {
        events::email_verified(conn, user.id, &user.email, "provider")?;
    }
    events::password_changed(conn, user.id, "address_proved")?;
    end_ways_in(conn, user.id)?;
    email_codes::end(conn, user.id, None)?;
    let ended = sessions::end_all(conn, user.id)?;
    events::sessions_ended(conn, user.id, &ended, "address_proved")?;
    let notice = mailer.notice(Mail::AccountClaimed, user, &[("provider", provider)]);
    mail_outbox::enqueue(conn, &notice)?;
    Ok(())
}
