//! The token settings (`auth::keys::TokenSettings`), read from their variables.

use super::source::{SettingsError, Source};
use crate::auth::keys::TokenSettings;

/// `default_issuer` is the `iss` when `JWT_ISSUER` is unset: the service's own URL names it
/// best; without one, a fixed name.
pub(super) fn read(source: &Source, default_issuer: &str) -> Result<TokenSettings, SettingsError> {
    Ok(TokenSettings {
        jwt_secret: source.optional("JWT_SECRET")?,
        jwt_algorithm: source.parsed("JWT_ALGORITHM")?,
        jwt_private_key_file: source.optional("JWT_PRIVATE_KEY_FILE")?,
        jwt_previous_key_files: source.list("JWT_PREVIOUS_KEY_FILES")?,
        jwt_previous_secrets: source.list("JWT_PREVIOUS_SECRETS")?,
        issuer: source.optional("JWT_ISSUER")?.unwrap_or_else(|| default_issuer.to_owned()),
        audience: source.parsed("JWT_AUDIENCE")?,
        access_token_ttl_secs: source.positive("ACCESS_TOKEN_TTL_SECS")?,
        refresh_token_ttl_secs: source.parsed("REFRESH_TOKEN_TTL_SECS")?,
        refresh_reuse_interval_secs: source.parsed("REFRESH_REUSE_INTERVAL_SECS")?,
        session_max_lifetime_secs: source.positive("SESSION_MAX_LIFETIME_SECS")?,
    })
}
