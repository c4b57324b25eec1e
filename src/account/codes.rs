//! The codes the service mails (address verification, password reset, email change), as the
//! handlers issue and check them: a code is written and its message queued in one transaction,
//! and a check spends a try whether it is right or not.

/// The website's page a verification link opens.
pub const VERIFY_PAGE: &str = "verify-email";

use chrono::NaiveDateTime;
use diesel::QueryResult;

use crate::{
    auth::email_code,
    db::{
        AnyConnection,
        email_codes::{self, Purpose, StoredCode},
        mail_outbox,
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
    ttl: chrono::Duration,
    tries: i32,
}

impl CodeMail {
    pub fn new(
        ctx: &Ctx,
        kind: Kind,
        purpose: Purpose,
        page: &'static str,
    ) -> Result<Self, ApiError> {
        let (code, code_hash) = email_code::generate().map_err(ApiError::internal)?;
        Ok(CodeMail {
            mailer: ctx.mailer(),
            kind,
            purpose,
            page,
            code,
            code_hash,
            ttl: ctx.mail.code_ttl,
            tries: ctx.mail.code_max_tries,
        })
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
            &self.code_hash,
            new_email,
            tries,
            now + self.ttl,
        )?;
        let app_url = &self.mailer.app_url();
        let link = format!("{app_url}/{}#email={}&code={}", self.page, fragment(to), self.code);
        let minutes = self.ttl.num_minutes().to_string();
        let mut facts = vec![("name", name), ("code", &self.code), ("link", &link)];
        facts.push(("minutes", &minutes));
        facts.extend_from_slice(more);
        mail_outbox::enqueue(conn, &self.mailer.compose(self.kind, Some(user_id), to, &facts))
    }
}

/// Checks `code` against the user's live code for `purpose`, spending one of its tries; a
/// right code is spent whole. `None` for a wrong, expired, spent or superseded code, or one
/// out of tries: the caller commits either way, so a wrong try stays spent.
pub fn spend(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: Purpose,
    code: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<StoredCode>> {
    let stored = email_codes::take_try(conn, user_id, purpose, now)?;
    match stored {
        Some(stored) if email_code::matches(&stored.code_hash, code) => {
            email_codes::end(conn, user_id, Some(purpose))?;
            Ok(Some(stored))
        }
        _ => Ok(None),
    }
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
