//! Granting a session: what login, the login's second step, a password change or reset and an
//! email change end with. A `SessionGrant` is made before the transaction (its refresh token
//! drawn, the device read), started in it, and becomes `Granted`, which `LoginResponse`
//! answers with; a refresh, which keeps its session, makes a `Granted` of its own.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::{
    auth::{
        opaque_token,
        token::{SignIn, Subject},
    },
    db::{
        AnyConnection,
        known_devices::{self, Sighting},
        mail_outbox, service_keys,
        sessions::{self, NewRefreshToken, NewSession, PasswordCheck},
        users::User,
    },
    error::ApiError,
    mail::templates::Kind,
    request::{Ctx, Device},
    webhooks::events,
};

/// The name of the key refresh-token successors are derived under, in `service_keys`.
const SUCCESSOR_KEY: &str = "refresh_successor";

/// The key a spent refresh token's successor is derived under (`opaque_token::successor`):
/// made once and kept in the database, so every replica has the same one and no rotation of
/// the signing key changes it (two replicas mid-rotation would otherwise hand one replayed
/// token two successors, two live chains). Read once per process.
pub async fn successor_key(ctx: &Ctx) -> Result<[u8; 32], ApiError> {
    let key = ctx
        .successor_key
        .get_or_try_init(|| async {
            let (candidate, _) = opaque_token::generate().map_err(ApiError::internal)?;
            let stored = ctx
                .db(move |conn| service_keys::get_or_create(conn, SUCCESSOR_KEY, &candidate))
                .await?;
            let bytes = URL_SAFE_NO_PAD.decode(&stored).map_err(ApiError::internal)?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| ApiError::internal("service_keys.refresh_successor is not 32 bytes"))
        })
        .await?;
    Ok(*key)
}

/// Ends every session of the user and refuses every access token issued before `now`: logout
/// everywhere (`reason` `user`), and an operator's logout (`operator`).
pub fn end_everywhere(
    conn: &mut AnyConnection,
    user_id: i64,
    now: NaiveDateTime,
    reason: &str,
) -> QueryResult<()> {
    use diesel::Connection;
    conn.transaction(|conn| {
        crate::db::users::refuse_tokens_before(conn, user_id, now)?;
        let ended = sessions::end_all(conn, user_id)?;
        events::sessions_ended(conn, user_id, &ended, reason)
    })
}

/// A session about to start.
pub struct SessionGrant {
    refresh_token: String,
    first: NewRefreshToken,
    device: Device,
    sign_in: SignIn,
    /// The session's start, and the time the change that grants it is written at.
    pub now: NaiveDateTime,
    /// When it ends for good, whatever refreshes it.
    ends_at: NaiveDateTime,
}

/// A session that started (or a refresh continued): what its access token says, and the
/// refresh token that goes with it.
#[derive(Debug)]
pub struct Granted {
    pub subject: Subject,
    pub refresh_token: String,
}

impl SessionGrant {
    pub fn new(ctx: &Ctx, device: &Device, sign_in: SignIn) -> Result<Self, ApiError> {
        let now = chrono::Utc::now().naive_utc();
        let (refresh_token, token_hash) = opaque_token::generate().map_err(ApiError::internal)?;
        let first =
            NewRefreshToken { token_hash, expires_at: now + ctx.sessions.refresh_token_ttl };
        Ok(SessionGrant {
            refresh_token,
            first,
            device: device.clone(),
            sign_in,
            now,
            ends_at: now + ctx.sessions.max_lifetime,
        })
    }

    /// Starts the session in `conn`'s transaction and returns its id; `None` when `check` no
    /// longer holds (the password changed, every session was ended since, or the account went).
    pub fn start_in(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        check: PasswordCheck,
    ) -> QueryResult<Option<String>> {
        let seen = self.device.seen();
        let new = NewSession { first: &self.first, seen: &seen, amr: self.sign_in.stored() };
        let Some((session_id, ended)) = sessions::start(conn, user_id, check, new, self.now)?
        else {
            return Ok(None);
        };
        let amr = self.sign_in.amr();
        events::session_created(conn, user_id, &session_id, amr, self.ends_at)?;
        events::sessions_ended(conn, user_id, &ended, "session_limit")?;
        Ok(Some(session_id))
    }

    /// What the client is given for the session `session_id` of the user `user_id`, whose
    /// address is (now) `email`, verified or not.
    pub fn granted(
        self,
        user_id: i64,
        (email, email_verified): (String, bool),
        session_id: String,
    ) -> Granted {
        let subject = Subject {
            user_id,
            email,
            email_verified,
            session_id,
            sign_in: self.sign_in,
            session_ends_at: self.ends_at.and_utc().timestamp(),
        };
        Granted { subject, refresh_token: self.refresh_token }
    }

    /// Starts the session of a sign-in (login, its second step) in a transaction of its own, if
    /// the password checked at `checked_at` against `hash` is still the account's and nothing
    /// has ended its sessions since. A device the user has not signed in from lately is told to
    /// them (not the account's first).
    pub async fn start(
        self,
        ctx: &Ctx,
        user: &User,
        (hash, checked_at): (String, NaiveDateTime),
    ) -> Result<Option<Granted>, ApiError> {
        let (user_id, key) = (user.id, self.device.key());
        let family = self.device.family();
        let (owner, mailer) = (user.clone(), ctx.mailer());
        let (grant, started) = ctx
            .db(move |conn| {
                let check = PasswordCheck { hash: &hash, at: checked_at };
                let Some(session_id) = self.start_in(conn, user_id, check)? else {
                    return Ok((self, None));
                };
                // After the session's transaction, which holds the user's row: the device is
                // the notice's business, not the session's. Not to an address no one proved:
                // registering a stranger's address must not mail the stranger at each login.
                let sighting = known_devices::remember(conn, user_id, &key, self.now)?;
                if sighting == Sighting::New && owner.email_verified_at.is_some() {
                    let notice = mailer.notice(Kind::NewSignIn, &owner, &[("device", &family)]);
                    mail_outbox::enqueue(conn, &notice)?;
                }
                Ok::<_, diesel::result::Error>((self, Some(session_id)))
            })
            .await?;
        let address = (user.email.clone(), user.email_verified_at.is_some());
        Ok(started.map(|session_id| grant.granted(user.id, address, session_id)))
    }
}
