//! `DATABASE_*`: which database, and how long a request waits for it.

use super::source::{SettingsError, Source};
use crate::db::{DatabaseOptions, DatabaseUrl};

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    /// How long a request waits for a database connection before answering 503.
    pub pool_timeout_secs: u64,
    /// How long one statement may run (PostgreSQL) or wait for a lock (SQLite) before the
    /// request answers 503.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: named prepared statements, cached per connection. Off for a pooler that
    /// does not keep them per client (PgBouncer before 1.21 in transaction mode).
    pub prepared_statements: bool,
    /// Each replica keeps what an authenticated request reads (`SESSION_CACHE`), for this many
    /// users at most (`SESSION_CACHE_CAPACITY`); `None`: every request asks the database.
    pub session_cache: Option<u64>,
}

impl DatabaseSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(DatabaseSettings {
            url: source.parsed("DATABASE_URL")?,
            pool_timeout_secs: source.positive("DATABASE_POOL_TIMEOUT_SECS")?,
            statement_timeout_ms: source.positive("DATABASE_STATEMENT_TIMEOUT_MS")?,
            prepared_statements: source.parsed("DATABASE_PREPARED_STATEMENTS")?,
            session_cache: match source.parsed::<bool>("SESSION_CACHE")? {
                true => Some(source.positive("SESSION_CACHE_CAPACITY")?),
                false => None,
            },
        })
    }

    pub fn options(&self) -> DatabaseOptions {
        DatabaseOptions {
            pool_timeout: std::time::Duration::from_secs(self.pool_timeout_secs),
            statement_timeout: std::time::Duration::from_millis(self.statement_timeout_ms),
            prepared_statements: self.prepared_statements,
            session_cache: self.session_cache,
        }
    }
}
