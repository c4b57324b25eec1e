//! The database: one diesel code base over PostgreSQL or SQLite, chosen once by `DATABASE_URL`.

pub mod revoked_tokens;
pub mod schema;
pub mod users;

use std::time::Duration;

use actix_web::web;
use diesel::{
    connection::SimpleConnection,
    prelude::*,
    r2d2::{self, ManageConnection, R2D2Connection},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{error::ApiError, settings::DatabaseUrl};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// r2d2 waits 30 s for a connection by default; a dead database must answer 503 quickly.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
const POOL_SIZE: u32 = 10;
/// How long an SQLite writer waits for another's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// Opens connections of the backend the URL names. diesel's own `ConnectionManager` over a
/// `MultiConnection` tries each backend in turn, and SQLite accepts any string as a file name,
/// so a PostgreSQL URL whose server is down would quietly open an SQLite file instead.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        ConnectionManager { url }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => diesel::PgConnection::establish(url)
                .map(AnyConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; busy_timeout makes concurrent writers
                // queue instead of failing with SQLITE_BUSY.
                conn.batch_execute(&format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};"
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        conn.is_broken()
    }
}

/// Builds the pool without connecting, so the service starts (and `/readyz` says 503) while
/// the database is still coming up; creates the SQLite file's folder.
pub fn build_pool(url: &DatabaseUrl) -> std::io::Result<Pool> {
    if let DatabaseUrl::Sqlite(path) = url
        && let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    Ok(r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(CONNECTION_TIMEOUT)
        // A checkout ping would double every request's round trips; a dead connection fails
        // its query instead, answers 503 once, and is then discarded by `has_broken`.
        .test_on_check_out(false)
        .build_unchecked(ConnectionManager::new(url.clone())))
}

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), MigrationError> {
    match conn {
        AnyConnection::Postgresql(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS)?,
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS)?,
    };
    Ok(())
}

/// Runs blocking diesel work on actix's blocking thread pool with a pooled connection, so no
/// query ever runs on an async worker.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
}

/// One round trip that proves the database answers.
pub fn ping(conn: &mut AnyConnection) -> QueryResult<()> {
    conn.ping()
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, fs};

    fn steps(backend: &str) -> BTreeSet<String> {
        fs::read_dir(format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_steps() {
        let postgres = steps("postgres");
        assert!(!postgres.is_empty());
        assert_eq!(postgres, steps("sqlite"));
    }
}
