//! The database: one diesel code base over PostgreSQL or SQLite, chosen once by `DATABASE_URL`.

pub mod rate_limits;
pub mod revoked_tokens;
pub mod schema;
pub mod users;

use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

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
/// A connection used this recently is not pinged before reuse (HikariCP's default window).
const ALIVE_BYPASS_WINDOW: Duration = Duration::from_millis(500);
/// How long an SQLite writer waits for another's lock before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;

/// Opens one connection of the backend the URL names; SQLite connections get their pragmas.
pub fn establish(url: &DatabaseUrl) -> Result<AnyConnection, r2d2::Error> {
    match url {
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

/// A pooled connection that knows whether it may have died unseen. diesel's `is_broken` for
/// PostgreSQL looks only at the transaction state, so without this a connection the server has
/// closed would go back to the pool and fail later requests even after the database is back.
pub struct ManagedConnection {
    conn: AnyConnection,
    broken: bool,
    last_used: Instant,
    /// The pool's count of dead connections found when this one was last known alive.
    generation: u64,
    dead_found: Arc<AtomicU64>,
}

impl ManagedConnection {
    /// As HikariCP does: a connection used moments ago is trusted without a ping (so a busy
    /// service makes one round trip per query); one idle for longer, or older than the last dead
    /// connection found (a database restart kills them all), is pinged before use.
    fn needs_check(&self) -> bool {
        self.last_used.elapsed() > ALIVE_BYPASS_WINDOW
            || self.generation < self.dead_found.load(Ordering::Relaxed)
    }

    fn mark_alive(&mut self) {
        self.last_used = Instant::now();
        self.generation = self.dead_found.load(Ordering::Relaxed);
    }

    /// r2d2 discards it when it is returned (`has_broken`).
    fn mark_dead(&mut self) {
        self.broken = true;
        self.dead_found.fetch_add(1, Ordering::Relaxed);
    }
}

impl Deref for ManagedConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for ManagedConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// Opens connections of the backend the URL names. diesel's own `ConnectionManager` over a
/// `MultiConnection` tries each backend in turn, and SQLite accepts any string as a file name,
/// so a PostgreSQL URL whose server is down would quietly open an SQLite file instead.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    dead_found: Arc<AtomicU64>,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        ConnectionManager {
            url,
            dead_found: Arc::default(),
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = ManagedConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<ManagedConnection, r2d2::Error> {
        Ok(ManagedConnection {
            conn: establish(&self.url)?,
            broken: false,
            last_used: Instant::now(),
            generation: self.dead_found.load(Ordering::Relaxed),
            dead_found: Arc::clone(&self.dead_found),
        })
    }

    fn is_valid(&self, conn: &mut ManagedConnection) -> Result<(), r2d2::Error> {
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut ManagedConnection) -> bool {
        conn.broken || conn.conn.is_broken()
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
        // r2d2 logs every failed background (re)connection, many a second while the database
        // is down; a request that cannot get a connection logs its cause once, as a 503.
        .error_handler(Box::new(r2d2::NopErrorHandler))
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
        let mut conn = checkout_live(&pool)?;
        match work(&mut conn) {
            // A failed query on a connection that no longer answers means the database is
            // gone, not that the request was wrong: 503, and the connection is not reused.
            Err(ApiError::Internal(source)) if conn.conn.ping().is_err() => {
                conn.mark_dead();
                Err(ApiError::Unavailable(source))
            }
            result => {
                conn.mark_alive();
                result
            }
        }
    })
    .await?
}

/// A connection that is alive as far as can be known without a round trip; dead ones found
/// on the way are discarded (r2d2 opens replacements).
fn checkout_live(pool: &Pool) -> Result<r2d2::PooledConnection<ConnectionManager>, ApiError> {
    for _ in 0..=POOL_SIZE {
        let mut conn = pool.get()?;
        if !conn.needs_check() {
            return Ok(conn);
        }
        if conn.conn.ping().is_ok() {
            conn.mark_alive();
            return Ok(conn);
        }
        conn.mark_dead();
    }
    Err(ApiError::Unavailable("no live database connection".into()))
}

/// One round trip that proves the database answers.
pub fn ping(conn: &mut AnyConnection) -> QueryResult<()> {
    conn.ping()
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, fs};

    fn steps(backend: &str) -> BTreeSet<String> {
        fs::read_dir(format!(
            "{}/migrations/{backend}",
            env!("CARGO_MANIFEST_DIR")
        ))
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
