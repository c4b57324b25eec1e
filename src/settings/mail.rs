//! `SMTP_URL`, `MAIL_*`, `APP_URL`, `EMAIL_CODE_*`, `REQUIRE_EMAIL_VERIFICATION` and
//! `PASSWORDLESS_EMAIL`.

use std::path::PathBuf;

use super::source::{SettingsError, Source, http_url, invalid};
use crate::mail::transport::MailTransport;

/// Where mail goes, what it says, and the codes it carries.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `SMTP_URL`, in lettre's form (`smtp://user:pass@host:587?tls=required`).
    pub smtp_url: Option<String>,
    /// `smtp` with `SMTP_URL`, else `file` (`.eml` files in `dir`).
    pub transport: MailTransport,
    pub from: String,
    pub dir: PathBuf,
    /// An operator's templates, replacing the built-in ones of the same name.
    pub template_dir: Option<PathBuf>,
    /// The website's base, for the links in messages; `PUBLIC_URL` unless set.
    pub app_url: Option<String>,
    pub code_ttl_secs: u64,
    pub code_max_tries: u32,
    /// The wait before a failed delivery's first retry; each next one doubles it.
    pub retry_first_ms: u64,
    /// Logins of accounts whose address is unverified are refused (403).
    pub require_verification: bool,
    /// `PASSWORDLESS_EMAIL`: sign-in with a code by mail instead of the password.
    pub passwordless: bool,
}

impl MailSettings {
    /// `public_base_url` is where links point when `APP_URL` is unset.
    pub(super) fn read(
        source: &Source,
        public_base_url: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let smtp_url: Option<String> = source.optional("SMTP_URL")?;
        let transport = source.optional("MAIL_TRANSPORT")?.unwrap_or(if smtp_url.is_some() {
            MailTransport::Smtp
        } else {
            MailTransport::File
        });
        if transport == MailTransport::Smtp && smtp_url.is_none() {
            return Err(invalid("SMTP_URL", "is required when MAIL_TRANSPORT=smtp"));
        }
        Ok(MailSettings {
            smtp_url,
            transport,
            from: source.parsed("MAIL_FROM")?,
            dir: source.parsed("MAIL_DIR")?,
            template_dir: source.optional("MAIL_TEMPLATE_DIR")?,
            app_url: source
                .optional_checked("APP_URL", |url: &String| http_url(url))?
                .or_else(|| public_base_url.map(str::to_owned)),
            code_ttl_secs: source.positive("EMAIL_CODE_TTL_SECS")?,
            code_max_tries: source.positive("EMAIL_CODE_MAX_TRIES")?,
            retry_first_ms: source.positive("MAIL_RETRY_FIRST_MS")?,
            require_verification: source.parsed("REQUIRE_EMAIL_VERIFICATION")?,
            passwordless: source.parsed("PASSWORDLESS_EMAIL")?,
        })
    }
}
