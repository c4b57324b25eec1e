//! What tells a replica's session cache of changes other processes make. On PostgreSQL, the
//! replica's `LISTEN` connection: it hears every user change committed by any replica (or the
//! CLI) and drops the user from this replica's cache. The cache is trusted only while the
//! connection is up and listening; when it fails (the server ended it, the network went), the
//! cache is emptied and left unused until a new connection listens. A thread of its own, since
//! libpq's notifications are read by polling the connection; it ends when the cache it serves
//! is gone. On SQLite, where the service is one process, the rows other processes (the CLI)
//! write to `user_changes`, read every 100 ms.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::{
    DatabaseUrl, Pool,
    changes::{self, CHANNEL, Pending},
    session_cache::SessionCache,
};

/// How often the connection is read for notifications: the most a change waits here.
const POLL: Duration = Duration::from_millis(2);
/// How often the connection is asked to answer, so that one the network lost is noticed.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The longest wait between attempts to connect again.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// The listener connection's `application_name`.
pub const APPLICATION_NAME: &str = "auth-service session cache";
/// How often SQLite's `user_changes` is read.
const SQLITE_POLL: Duration = Duration::from_millis(100);
/// Changes older than this are pruned (every process read them long ago).
const KEEP_CHANGES: chrono::Duration = chrono::Duration::seconds(60);

/// Starts what tells the pool's session cache of other processes' changes, if it has one: a
/// thread on PostgreSQL, a task on SQLite (returned, to be stopped with the server).
pub fn start(pool: &Pool) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(cache) = pool.session_cache() else { return Ok(None) };
    match pool.url() {
        DatabaseUrl::Postgres(url) => spawn(url.clone(), cache).map(|()| None),
        DatabaseUrl::Sqlite(_) => {
            let (pool, cache) = (pool.clone(), Arc::downgrade(cache));
            Ok(Some(tokio::spawn(poll_sqlite(pool, cache))))
        }
    }
}

/// Reads the changes other processes wrote, from the newest at start on, and drops their
/// users; the cache is used while this keeps up.
async fn poll_sqlite(pool: Pool, cache: Weak<SessionCache>) {
    let mut read_up_to = None;
    let mut pruned = Instant::now();
    loop {
        let Some(cache) = cache.upgrade() else { return };
        let after = read_up_to;
        let read = super::run(&pool, move |conn| match after {
            None => changes::latest(conn).map(|latest| (latest, Vec::new())),
            Some(after) => changes::since(conn, after, 1000).map(|found| {
                let newest = found.last().map_or(after, |(id, _)| *id);
                (newest, found.into_iter().map(|(_, user_id)| user_id).collect())
            }),
        })
        .await;
        match read {
            Ok((newest, users)) => {
                users.into_iter().for_each(|user_id| cache.drop_user(user_id));
                if !cache.is_trusted() {
                    cache.trust();
                }
                read_up_to = Some(newest);
            }
            Err(error) => {
                if cache.is_trusted() {
                    cache.distrust();
                    log::warn!("session cache off until user_changes can be read: {error}");
                }
            }
        }
        if pruned.elapsed() >= Duration::from_secs(60) {
            let before = chrono::Utc::now().naive_utc() - KEEP_CHANGES;
            let _ = super::run(&pool, move |conn| changes::prune(conn, before)).await;
            pruned = Instant::now();
        }
        drop(cache);
        tokio::time::sleep(SQLITE_POLL).await;
    }
}

/// Starts the listener of `cache` on the PostgreSQL database at `url`.
fn spawn(url: String, cache: &Arc<SessionCache>) -> std::io::Result<()> {
    let cache = Arc::downgrade(cache);
    std::thread::Builder::new()
        .name("session-cache-listener".into())
        .spawn(move || listen(&url, &cache))
        .map(drop)
}

fn listen(url: &str, cache: &Weak<SessionCache>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        match connect(url) {
            Ok(conn) => {
                backoff = Duration::from_millis(50);
                let Some(trusted) = cache.upgrade() else { return };
                trusted.trust();
                drop(trusted);
                let failure = hear(conn, cache);
                let Some(cache) = cache.upgrade() else { return };
                cache.distrust();
                log::warn!(
                    "session cache off until its LISTEN connection is back: {}",
                    super::one_line(&failure)
                );
            }
            Err(error) => {
                if cache.upgrade().is_none() {
                    return;
                }
                log::warn!("session cache LISTEN connection not made: {}", super::one_line(&error));
            }
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MOST_BACKOFF);
    }
}

fn connect(url: &str) -> Result<PgConnection, Box<dyn std::error::Error>> {
    let mut conn = PgConnection::establish(url)?;
    // Named, so an operator (or a test) finds it in pg_stat_activity.
    diesel::sql_query(format!("SET application_name = '{APPLICATION_NAME}'")).execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    Ok(conn)
}

/// Drops each user a notification names until the connection fails (its error), or the cache
/// is gone.
fn hear(mut conn: PgConnection, cache: &Weak<SessionCache>) -> diesel::result::Error {
    let mut checked = Instant::now();
    loop {
        let Some(cache) = cache.upgrade() else {
            return diesel::result::Error::BrokenTransactionManager;
        };
        for notification in conn.notifications_iter() {
            match notification {
                Ok(notification) => match notification.payload.parse::<i64>() {
                    Ok(user_id) => cache.drop_user(user_id),
                    Err(_) => cache.settle(Pending::Everyone),
                },
                Err(error) => return error,
            }
        }
        drop(cache);
        if checked.elapsed() >= CHECK_EVERY {
            if let Err(error) = diesel::sql_query("SELECT 1").execute(&mut conn) {
                return error;
            }
            checked = Instant::now();
        }
        std::thread::sleep(POLL);
    }
}
