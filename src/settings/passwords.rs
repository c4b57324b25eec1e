//! `BCRYPT_*` and `PASSWORD_REJECT_COMMON`: what a password costs and which are refused.

use super::source::{SettingsError, Source};

/// OWASP's floor for bcrypt's work factor; lower costs are for tests and development.
pub(super) const MIN_PRODUCTION_BCRYPT_COST: u32 = 10;

/// bcrypt's own bounds; 4 is for tests only (the default, 12, is the production cost).
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub bcrypt_cost: u32,
    /// bcrypt jobs that may wait for a thread; one more is answered 503 at once.
    pub bcrypt_queue_capacity: usize,
    /// How long a bcrypt job may wait for a thread before it is dropped with 503.
    pub bcrypt_max_wait_ms: u64,
    /// Refuse the 10,000 most common passwords at registration and password change.
    pub reject_common: bool,
}

impl PasswordSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(PasswordSettings {
            bcrypt_cost: source.checked("BCRYPT_COST", bcrypt_cost)?,
            bcrypt_queue_capacity: source.positive("BCRYPT_QUEUE_CAPACITY")?,
            bcrypt_max_wait_ms: source.positive("BCRYPT_MAX_WAIT_MS")?,
            reject_common: source.parsed("PASSWORD_REJECT_COMMON")?,
        })
    }
}

fn bcrypt_cost(cost: &u32) -> Result<(), String> {
    BCRYPT_COSTS.contains(cost).then_some(()).ok_or_else(|| "must be between 4 and 31".into())
}
