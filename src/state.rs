//! `AppState`: the application-wide components every request can reach, built once at start
//! and grouped by area. The request plumbing below it (client addresses, request ids, the
//! metrics middleware) reads its own `web::Data` and never this.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::{
    auth::{
        password::Passwords, password_policy::PasswordPolicy, secret_box::SecretBox,
        token::TokenKeys,
    },
    cpu_pool::CpuPool,
    db::{Pool, sessions::SessionRules},
    mail::templates::Templates,
    metrics::Metrics,
    throttle::Limits,
    uploads::{picture_url, storage::PictureStorage},
};

pub struct AppState {
    pub db: Pool,
    pub tokens: TokenKeys,
    pub sessions: SessionRules,
    /// The key refresh-token successors are derived under, read from the database on first use
    /// (`account::sign_in::successor_key`).
    pub successor_key: tokio::sync::OnceCell<[u8; 32]>,
    pub passwords: Passwords,
    pub password_policy: PasswordPolicy,
    pub uploads: UploadRules,
    pub mail: MailRules,
    pub mfa: MfaRules,
    /// The relying party passkeys belong to (`WEBAUTHN_*`).
    pub passkeys: Arc<PasskeyRules>,
    /// Where webhooks may go, and how they are tried (`WEBHOOK_*`).
    pub webhooks: crate::settings::WebhookSettings,
    /// Outside providers (`OIDC_*`, `OAUTH_*`).
    pub federation: Arc<FederationRules>,
    pub rate_limits: Limits,
    pub metrics: Arc<Metrics>,
    pub metrics_access: MetricsAccess,
}

/// What a request needs to queue a message: the texts, the codes' rules, and the delivery
/// worker's bell (rung once the message's transaction has committed).
pub struct MailRules {
    pub templates: Templates,
    pub wake: Arc<Notify>,
    /// The website's base, for links: `APP_URL`, else `PUBLIC_URL`, else this server.
    pub app_url: String,
    pub code_ttl: chrono::Duration,
    pub code_max_tries: i32,
    /// `REQUIRE_EMAIL_VERIFICATION`.
    pub require_verification: bool,
    /// `PASSWORDLESS_EMAIL`.
    pub passwordless: bool,
}

/// The TOTP second factor: the key its secrets are sealed with, and its texts.
pub struct MfaRules {
    /// `None` only in production without `MFA_ENCRYPTION_KEY`, no account having MFA yet:
    /// enrolment then answers 503.
    pub key: Option<SecretBox>,
    /// `MFA_ISSUER`: the name authenticator apps show.
    pub issuer: String,
    /// How long a login's `mfa_token` lives.
    pub challenge_ttl: chrono::Duration,
}

/// Passkeys: the relying party (`WEBAUTHN_*`) and how long a ceremony lives.
pub struct PasskeyRules {
    pub webauthn: webauthn_rs_core::WebauthnCore,
    pub ceremony_ttl: chrono::Duration,
}

/// Signing in with outside providers.
pub struct FederationRules {
    pub providers: crate::federation::Providers,
    /// Where a sign-in may send the user back, matched exactly.
    pub redirect_allowlist: Vec<String>,
    /// `PUBLIC_URL` without its trailing slash: the callback URL's base.
    pub public_base_url: Option<String>,
    /// How long a sign-in may stay at the provider.
    pub flow_ttl: chrono::Duration,
}

/// Where pictures go and what an upload may cost.
pub struct UploadRules {
    /// `UPLOAD_DIR`: the pictures with `STORAGE=fs`, and uploads' temporary files always.
    pub dir: PathBuf,
    pub storage: PictureStorage,
    pub max_bytes: u64,
    pub timeout: Duration,
    /// `PUBLIC_URL` without its trailing slash.
    pub public_base_url: Option<String>,
    /// The threads pictures are decoded and re-encoded on.
    pub images: CpuPool,
}

impl UploadRules {
    /// The absolute URL `profile_pic_url` gives for a stored picture.
    pub fn url_of(&self, req: &actix_web::HttpRequest, stored_name: &str) -> String {
        self.storage
            .public_url(stored_name)
            .unwrap_or_else(|| picture_url(req, self.public_base_url.as_deref(), stored_name))
    }
}

/// Who may read `GET /metrics`.
pub struct MetricsAccess {
    /// When set, `GET /metrics` wants `Authorization: Bearer <it>`.
    pub token: Option<String>,
    /// False when `METRICS_ADDR` is set: the main port then answers `/metrics` with 404.
    pub on_main_port: bool,
}
