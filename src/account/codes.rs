//! The codes the service mails (address verification, password reset, email change), as the
//! handlers issue and check them: a code is written and its message queued in one transaction,
//! and a check spends a try whether it is right or not.
//!
//! Each message carries two codes: six digits to type, which wrong tries end and which draw on
//! the account's attempt budget; and in its link a long one no one guesses, which costs nothing
//! to check, so a stranger's wrong guesses never end the owner's link.

/// The website's page a verification link opens.
pub const VERIFY_PAGE: &str = "verify-email";

use chrono::NaiveDateTime;
use diesel::{Connection, QueryResult};

use crate::{
    account::attempts::{Attempt, Secret},
    audit::Event,
    auth::{email_code, opaque_token},
    db::{
        AnyConnection,
        email_codes::{self, Purpose, StoredCode},
        mail_outbox,
        users::{self, User},
    },
    error::ApiError,
    mail::templates::Kind,
    request::{Ctx, ctx::Mailer},
};

/// A new code and what its message needs, made before the transaction that issues it.
pub struct CodeMail {
    mailer: Mailer,
    kind: Kind,
    purpose: Purpose,
    /// The website's page the link opens: `APP_URL/<page>#email=…&code=…`.
    page: &'static str,
    code: String,
    code_hash: String,
    link_code: String,
    link_hash: String,
    ttl: chrono::Duration,
    tries: i32,
    /// Counted against the recipient's mail budget when queued (and dropped past it), for a
    /// code whose request the mail limits did not count: the one registration sends.
    counted_when_queued: bool,
}

impl CodeMail {
    pub fn new(
        ctx: &Ctx,
        kind: Kind,
        purpose: Purpose,
        page: &'static str,
    ) -> Result<Self, ApiError> {
        let (code, code_hash) = email_code::generate().map_err(ApiError::internal)?;
        let (link_code, link_hash) = opaque_token::generate().map_err(ApiError::internal)?;
        Ok(CodeMail {
            link_code,
            link_hash,
            mailer: ctx.mailer(),
            kind,
            purpose,
            page,
            code,
            code_hash,
            ttl: ctx.mail.code_ttl,
            tries: ctx.mail.code_max_tries,
            counted_when_queued: false,
        })
    }

    /// The code of a request that was not counted against the address's mail limits (a
    /// registration): it draws on the recipient's budget when queued, and past it the message
    /// is dropped (a new code can be asked for).
    pub fn counted_when_queued(mut self) -> Self {
        self.counted_when_queued = true;
        self
    }

    /// Issues the code to the user (ending the one before it) and queues its message to `to`
    /// (the account's address, or for an email change the new one, which `new_email` records),
    /// with `more` facts for its template.
    pub fn send_in(
        &self,
        conn: &mut AnyConnection,
        user_id: i64,
        name: &str,
        to: &str,
        new_email: Option<&str>,
        more: &[(&str, &str)],
    ) -> QueryResult<()> {
        let now = chrono::Utc::now().naive_utc();
        let (purpose, tries) = (self.purpose, self.tries);
        email_codes::issue(
            conn,
            user_id,
            purpose,
            (&self.code_hash, &self.link_hash),
            new_email,
            tries,
            now + self.ttl,
        )?;
        let app_url = &self.mailer.app_url();
        let (page, to_fragment) = (self.page, fragment(to));
        let link = format!("{app_url}/{page}#email={to_fragment}&code={}", self.link_code);
        let minutes = self.ttl.num_minutes().to_string();
        let mut facts = vec![("name", name), ("code", &self.code), ("link", &link)];
        facts.push(("minutes", &minutes));
        facts.extend_from_slice(more);
        let mut mail = self.mailer.compose(self.kind, Some(user_id), to, &facts);
        mail.budgeted &= self.counted_when_queued;
        mail_outbox::enqueue(conn, &mail)
    }
}

impl CodeMail {
    /// Issues the code to the account of `email` and queues its message to it, if there is such
    /// an account and `wanted` says so (an unknown address writes nothing, and the caller answers
    /// alike). The account's id, when a code went.
    pub async fn send_to_address(
        self,
        ctx: &Ctx,
        email: String,
        wanted: fn(&User) -> bool,
    ) -> Result<Option<i64>, ApiError> {
        ctx.db(move |conn| {
            conn.transaction(|conn| {
                let user = users::lock_by_email(conn, &email)?.filter(wanted);
                let Some(user) = user else {
                    return Ok::<_, diesel::result::Error>(None);
                };
                self.send_in(conn, user.id, &user.name, &user.email, None, &[])?;
                Ok(Some(user.id))
            })
        })
        .await
    }
}

/// Reserves the try of `code`, sent for the account of `email`, on the account's budget: six
/// typed digits draw on it; a link's code costs nothing.
pub async fn reserve(
    ctx: &Ctx,
    email: &str,
    code: &str,
    event: Event,
    user_id: Option<i64>,
) -> Result<Attempt, ApiError> {
    if is_link_code(code) {
        return Ok(Attempt::unmetered());
    }
    Attempt::reserve(ctx, Secret::MailedCode, email, event, user_id).await
}

/// Checks `code` against the user's live code for `purpose`. Six digits spend one of its tries;
/// the link's code spends none. A right code is spent whole. `None` for a wrong, expired,
/// spent or superseded code, or one out of tries: the caller commits either way, so a wrong try
/// stays spent.
pub fn spend(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: Purpose,
    code: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<StoredCode>> {
    if is_link_code(code) {
        let link_hash = opaque_token::hash(code.trim());
        let stored = email_codes::find_by_link(conn, user_id, purpose, &link_hash, now)?;
        let won = stored.is_some() && email_codes::end(conn, user_id, Some(purpose))? == 1;
        return Ok(stored.filter(|_| won));
    }
    let stored = email_codes::take_try(conn, user_id, purpose, now)?;
    match stored {
        Some(stored) if email_code::matches(&stored.code_hash, code) => {
            email_codes::end(conn, user_id, Some(purpose))?;
            Ok(Some(stored))
        }
        _ => Ok(None),
    }
}

fn is_link_code(code: &str) -> bool {
    code.trim().len() == opaque_token::TOKEN_CHARS
}

/// A value for a URL fragment: everything but unreserved characters escaped.
fn fragment(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
