//! `MFA_*`: the TOTP second factor.

use super::source::{SettingsError, Source};

/// The TOTP second factor.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// `MFA_ENCRYPTION_KEY`: 32 bytes, base64, sealing TOTP secrets at rest. Unset outside
    /// production on SQLite, a key file beside the database is made and kept.
    pub encryption_key: Option<String>,
    /// The name authenticator apps show the account under.
    pub issuer: String,
    /// How long the `mfa_token` of a login waiting for its second factor lives.
    pub challenge_ttl_secs: u64,
}

impl MfaSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(MfaSettings {
            // Its form is checked where it is read (`account::second_factor::rules`).
            encryption_key: source.optional("MFA_ENCRYPTION_KEY")?,
            issuer: source.parsed("MFA_ISSUER")?,
            challenge_ttl_secs: source.positive("MFA_CHALLENGE_TTL_SECS")?,
        })
    }
}
