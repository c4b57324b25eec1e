//! Deletes what has expired, once a minute, off the request path: sessions and refresh tokens
//! past their expiry, logins' second steps never taken, rate-limit counters of ended windows,
//! and stored pictures no row names (left by a replica that died in the middle of an upload
//! or before removing a replaced picture).
//! Requests used to do it (each login, each window's first hit): on PostgreSQL the deletes'
//! cached plan turns into a sequential scan (the plan is made generic while the tables are
//! small), and every login then read every session.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use actix_web::web;

use crate::{
    db::{self, AnyConnection, mfa_challenges, rate_limits, sessions, unsettled_pictures},
    error::ApiError,
    state::AppState,
};

const EVERY: Duration = Duration::from_secs(60);
/// Unsettled pictures checked per sweep; more wait for the next one.
const PICTURES_PER_SWEEP: i64 = 100;

pub struct Sweeper {
    pub state: web::Data<AppState>,
}

impl Sweeper {
    /// Sweeps at once, then every minute, until aborted (at stop). A database that is down
    /// is tried again at the next tick.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = chrono::Utc::now().naive_utc();
            if let Err(error) = db::run(&self.state.db, move |conn| sweep(conn, now)).await {
                log::warn!("expired sessions not swept this time: {error}");
            }
            if let Err(error) = sweep_pictures(&self.state, now).await {
                log::warn!("unsettled pictures not swept this time: {error}");
            }
        }
    }
}

/// One sweep: everything that expired before `now`.
pub fn sweep(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    sessions::prune_expired(conn, now)?;
    mfa_challenges::prune_expired(conn, now)?;
    rate_limits::prune_expired(conn, now)
}

/// Removes the pictures noted as unsettled before `now` that no row names, and settles them;
/// returns how many went. One the store does not remove stays noted for the next sweep.
pub async fn sweep_pictures(state: &AppState, now: NaiveDateTime) -> Result<usize, ApiError> {
    let unnamed = db::run(&state.db, move |conn| {
        unsettled_pictures::due_and_unnamed(conn, now, PICTURES_PER_SWEEP)
    })
    .await?;
    let mut removed = 0;
    for name in unnamed {
        if state.uploads.storage.remove(&name).await {
            db::run(&state.db, move |conn| unsettled_pictures::settle_if_due(conn, &name, now))
                .await?;
            removed += 1;
        }
    }
    if removed > 0 {
        log::info!("removed {removed} stored pictures that no account names");
    }
    Ok(removed)
}
