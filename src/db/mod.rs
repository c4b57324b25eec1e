//! The database: one diesel code base over PostgreSQL or SQLite, chosen once by `DATABASE_URL`.
//! The pool (and why a request answers 503) is in `pool.rs`, the schema's migrations in
//! `migrations.rs`, each table's queries in a file named after it.

pub mod admin_keys;
pub mod cache_listener;
pub mod changes;
pub mod email_codes;
pub mod identities;
pub mod known_devices;
pub mod mail_outbox;
pub mod mfa_challenges;
pub mod migrations;
pub mod oauth_flows;
pub mod oauth_grants;
pub mod passkeys;
pub mod pool;
pub mod rate_limits;
pub mod recovery_codes;
pub mod schema;
pub mod service_keys;
pub mod session_cache;
pub mod sessions;
pub mod unsettled_pictures;
pub mod users;
pub mod webauthn_ceremonies;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

use std::{path::PathBuf, str::FromStr};

use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::{self, R2D2Connection},
};

pub use pool::{BuildPoolError, DatabaseOptions, Pool, PoolStats, build_pool, one_line, run};

/// How long an SQLite writer waits for another's lock before giving up; the pool's connections
/// use `DatabaseOptions::statement_timeout` instead.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Where the data lives: the scheme of `DATABASE_URL` picks the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl FromStr for DatabaseUrl {
    type Err = &'static str;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path");
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else {
            Err("unknown scheme; expected postgres://… or sqlite://PATH")
        }
    }
}

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs one expression on the concrete connection of either backend, for the queries diesel
/// cannot build over `AnyConnection` (`RETURNING`, `ON CONFLICT`, `EXISTS` in a select) and the
/// hot ones that should skip its per-execution dispatch: `per_backend!(conn => query.get_result(conn))`.
/// The expression is compiled once per backend, with `conn` of that backend's type.
#[macro_export]
macro_rules! per_backend {
    ($conn:ident => $body:expr) => {
        match $conn {
            $crate::db::AnyConnection::Postgresql($conn) => $body,
            $crate::db::AnyConnection::Sqlite($conn) => $body,
        }
    };
}

/// Opens one connection of the backend the URL names; SQLite connections get their pragmas.
pub fn establish(url: &DatabaseUrl) -> Result<AnyConnection, r2d2::Error> {
    match url {
        DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
            .map(AnyConnection::Postgresql)
            .map_err(r2d2::Error::ConnectionError),
        DatabaseUrl::Sqlite(path) => {
            let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                .map_err(r2d2::Error::ConnectionError)?;
            // busy_timeout makes concurrent writers queue instead of failing with SQLITE_BUSY;
            // it comes first because switching to WAL takes a lock too. WAL lets readers run
            // beside the writer.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
            ))
            .map_err(r2d2::Error::QueryError)?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

/// One round trip that proves the database answers.
pub fn ping(conn: &mut AnyConnection) -> QueryResult<()> {
    conn.ping()
}
