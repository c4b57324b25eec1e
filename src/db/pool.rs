//! The connection pool: checkouts bounded by permits, dead connections found and replaced,
//! and the mapping of a database that is down or too busy to 503 (`run`).

use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc, Mutex,
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
use tokio::sync::Semaphore;

use super::{
    AnyConnection, DatabaseUrl, changes, establish,
    migrations::{MigrationError, run_migrations},
    session_cache::SessionCache,
};
use crate::error::ApiError;

const POOL_SIZE: u32 = 10;
/// A connection used this recently is not pinged before reuse (HikariCP's default window).
const ALIVE_BYPASS_WINDOW: Duration = Duration::from_millis(500);
/// How long requests wait on the database before they answer 503.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseOptions {
    /// For a free connection (r2d2 waits 30 s by default: a dead database must answer fast).
    pub pool_timeout: Duration,
    /// For one statement: PostgreSQL's `statement_timeout`, SQLite's `busy_timeout`.
    pub statement_timeout: Duration,
    /// PostgreSQL: cache named prepared statements per connection.
    pub prepared_statements: bool,
    /// How many users the session cache keeps; `None`: no cache (`SESSION_CACHE=off`).
    pub session_cache: Option<u64>,
}

/// The connection pool, and as many permits as it has connections: a request waits for a
/// permit on its async worker before it takes a blocking thread, so no more threads block in
/// the pool's own queue than there are connections (waking those is most of what a query
/// costs under load).
#[derive(Clone)]
pub struct Pool {
    connections: r2d2::Pool<ConnectionManager>,
    checkouts: Arc<Semaphore>,
    stats: Arc<PoolStats>,
    session_cache: Option<Arc<SessionCache>>,
    url: DatabaseUrl,
}

/// Totals since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub checkouts: AtomicU64,
    /// From asking for a connection to holding one.
    pub wait_nanos: AtomicU64,
}

impl Pool {
    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// Open connections and idle ones.
    pub fn connections(&self) -> (u32, u32) {
        let state = self.connections.state();
        (state.connections, state.idle_connections)
    }

    /// What `AuthUser` reads before the database, if the cache is on.
    pub fn session_cache(&self) -> Option<&Arc<SessionCache>> {
        self.session_cache.as_ref()
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// A connection, waiting for one at most `DATABASE_POOL_TIMEOUT_SECS`.
    pub fn get(&self) -> Result<r2d2::PooledConnection<ConnectionManager>, r2d2::PoolError> {
        self.connections.get()
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
///
/// It also runs pending migrations on the first connection it opens, so a service started while
/// its database was down becomes ready, schema included, as soon as the database answers.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    statement_timeout: Duration,
    prepared_statements: bool,
    dead_found: Arc<AtomicU64>,
    migrated: Arc<Mutex<bool>>,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, options: &DatabaseOptions) -> Self {
        ConnectionManager {
            url,
            statement_timeout: options.statement_timeout,
            prepared_statements: options.prepared_statements,
            dead_found: Arc::default(),
            migrated: Arc::default(),
        }
    }

    /// A connection with its statement timeout, after pending migrations have run (once per
    /// process: connections opened meanwhile wait for them, so none is used before the schema
    /// is in place).
    fn open(&self) -> Result<AnyConnection, OpenError> {
        let mut conn = establish(&self.url).map_err(OpenError::Connect)?;
        if !self.prepared_statements {
            // Unnamed statements, parsed and bound in one message (PQsendQueryParams): nothing
            // outlives the statement on the server connection a pooler lent.
            conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        }
        set_statement_timeout(&mut conn, self.statement_timeout)
            .map_err(|error| OpenError::Connect(r2d2::Error::QueryError(error)))?;
        let mut migrated = self.migrated.lock().unwrap_or_else(|e| e.into_inner());
        if !*migrated {
            run_migrations(&mut conn).map_err(OpenError::Migrate)?;
            *migrated = true;
        }
        Ok(conn)
    }
}

/// Why a connection could not be opened: the database does not answer (it may later), or it
/// answers but its schema cannot be migrated (it will not get better by waiting).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Connect(r2d2::Error),
    #[error("database migrations failed: {0}")]
    Migrate(MigrationError),
}

/// Applies the statement timeout to one of the pool's connections.
fn set_statement_timeout(conn: &mut AnyConnection, timeout: Duration) -> QueryResult<()> {
    let ms = timeout.as_millis();
    match conn {
        AnyConnection::Postgresql(conn) => {
            conn.batch_execute(&format!("SET statement_timeout = {ms}"))
        }
        AnyConnection::Sqlite(conn) => conn.batch_execute(&format!("PRAGMA busy_timeout = {ms}")),
    }
}

/// A statement stopped by the statement timeout, or an SQLite lock that never came: the
/// database is too busy to answer, which is a 503, not a bug.
fn is_busy(error: &diesel::result::Error) -> bool {
    const BUSY: [&str; 4] = [
        "canceling statement due to statement timeout",
        "canceling statement due to lock timeout",
        "database is locked",
        "database table is locked",
    ];
    match error {
        diesel::result::Error::DatabaseError(_, info) => {
            BUSY.iter().any(|message| info.message().starts_with(message))
        }
        _ => false,
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = ManagedConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<ManagedConnection, r2d2::Error> {
        let conn = self.open().map_err(|error| match error {
            OpenError::Connect(error) => error,
            OpenError::Migrate(error) => {
                log::error!("database migrations failed: {error}");
                r2d2::Error::QueryError(diesel::result::Error::QueryBuilderError(error))
            }
        })?;
        Ok(ManagedConnection {
            conn,
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

/// Builds the pool and runs pending migrations (creating the SQLite file's folder first). A
/// database that does not answer yet is not an error: the service starts, answers 503 (and
/// `/readyz` says so) until it does, and the pool migrates on its first connection. A schema
/// that cannot be migrated is an error.
pub fn build_pool(url: &DatabaseUrl, options: &DatabaseOptions) -> Result<Pool, BuildPoolError> {
    if let DatabaseUrl::Sqlite(path) = url {
        owner_only_file(path).map_err(BuildPoolError::Folder)?;
    }
    let manager = ConnectionManager::new(url.clone(), options);
    match manager.open() {
        Ok(_) => {}
        Err(OpenError::Connect(error)) => log::warn!(
            "database not reachable at start, answering 503 until it is: {}",
            one_line(&error)
        ),
        Err(OpenError::Migrate(error)) => return Err(BuildPoolError::Migrations(error)),
    }
    let connections = r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        // One connection stays open; the others open under load and close when idle (each
        // idle SQLite connection keeps its page cache, each PostgreSQL one a backend).
        .min_idle(Some(1))
        .connection_timeout(options.pool_timeout)
        // A checkout ping would double every request's round trips; a dead connection fails
        // its query instead, answers 503 once, and is then discarded by `has_broken`.
        .test_on_check_out(false)
        // r2d2 logs every failed background (re)connection, many a second while the database
        // is down; a request that cannot get a connection logs its cause once, as a 503.
        .error_handler(Box::new(r2d2::NopErrorHandler))
        .build_unchecked(manager);
    // Untrusted until what tells it of changes listens (`cache_listener`).
    let session_cache =
        options.session_cache.map(|capacity| Arc::new(SessionCache::new(capacity, false)));
    Ok(Pool {
        connections,
        checkouts: Arc::new(Semaphore::new(POOL_SIZE as usize)),
        stats: Arc::default(),
        session_cache,
        url: url.clone(),
    })
}

/// The SQLite file holds password and refresh-token hashes: it is created (with its folder)
/// readable by the service's user alone, and an existing one is made so. SQLite gives its
/// `-wal` and `-shm` files the mode of the database file.
fn owner_only_file(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[derive(Debug, thiserror::Error)]
pub enum BuildPoolError {
    #[error("cannot create the database file or its folder: {0}")]
    Folder(std::io::Error),
    #[error("database migrations failed: {0}")]
    Migrations(MigrationError),
}

/// libpq's messages span several lines; a log line stays on one.
pub fn one_line(error: &impl std::fmt::Display) -> String {
    error.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs blocking diesel work on actix's blocking thread pool with a pooled connection, so no
/// query ever runs on an async worker. The work returns any error that has an `ApiError`
/// meaning (a diesel error is `Internal` until the connection tells whether the database is
/// down or busy).
pub async fn run<T, E, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
    E: Into<ApiError>,
    T: Send + 'static,
{
    let asked = Instant::now();
    let timeout = pool.connections.connection_timeout();
    let permit = actix_web::rt::time::timeout(timeout, Arc::clone(&pool.checkouts).acquire_owned())
        .await
        .map_err(|_| ApiError::Unavailable("no database connection came free".into()))?
        .map_err(ApiError::internal)?;
    let pool = pool.clone();
    web::block(move || {
        let _permit = permit;
        let mut conn = checkout_live(&pool)?;
        let waited = u64::try_from(asked.elapsed().as_nanos()).unwrap_or(u64::MAX);
        pool.stats.checkouts.fetch_add(1, Ordering::Relaxed);
        pool.stats.wait_nanos.fetch_add(waited, Ordering::Relaxed);
        let done = work(&mut conn).map_err(Into::into);
        // The users the work changed leave this replica's cache now, before it answers.
        let changed = changes::take_changed();
        if let Some(cache) = &pool.session_cache {
            cache.settle(changed);
        }
        match done {
            Err(ApiError::Internal(source))
                if source.downcast_ref::<diesel::result::Error>().is_some_and(is_busy) =>
            {
                conn.mark_alive();
                Err(ApiError::Unavailable(source))
            }
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
