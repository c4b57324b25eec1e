//! Deletes what has expired, once a minute, off the request path: sessions and refresh tokens
//! past their expiry, logins' second steps never taken, rate-limit counters of ended windows,
//! mailed codes past their expiry, devices forgotten after 90 days, messages sent or given up
//! on 30 days ago, stored pictures no row names (left by a replica that died in the middle of
//! an upload or before removing a replaced picture), and the temporary files of such an upload.
//! Requests used to do it (each login, each window's first hit): on PostgreSQL the deletes'
//! cached plan turns into a sequential scan (the plan is made generic while the tables are
//! small), and every login then read every session.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::QueryResult;

use actix_web::web;

use crate::{
    account::pictures,
    db::{
        self, AnyConnection, email_codes, known_devices, mail_outbox, mfa_challenges, oauth_flows,
        oauth_grants, rate_limits, sessions, webauthn_ceremonies, webhook_deliveries,
    },
    state::AppState,
    webhooks::delivery::KEEP_FINISHED,
};

const EVERY: Duration = Duration::from_secs(60);

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
            sweep_all(&self.state, chrono::Utc::now().naive_utc()).await;
        }
    }
}

/// One round: what expired before `now` in the database, unsettled pictures, and temporary
/// files of uploads cut off by a crash. What fails is logged and tried again next round.
pub async fn sweep_all(state: &AppState, now: NaiveDateTime) {
    if let Err(error) = db::run(&state.db, move |conn| sweep(conn, now)).await {
        log::warn!("expired sessions not swept this time: {error}");
    }
    if let Err(error) = pictures::sweep(state, now).await {
        log::warn!("unsettled pictures not swept this time: {error}");
    }
    match pictures::sweep_temporary_files(state).await {
        Ok(0) => {}
        Ok(swept) => log::info!("removed {swept} temporary files of uploads cut off by a crash"),
        Err(error) => log::warn!("temporary upload files not swept this time: {error}"),
    }
}

/// One sweep: everything that expired before `now`.
pub fn sweep(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    sessions::prune_expired(conn, now)?;
    mfa_challenges::prune_expired(conn, now)?;
    rate_limits::prune_expired(conn, now)?;
    email_codes::prune_expired(conn, now)?;
    webauthn_ceremonies::prune_expired(conn, now)?;
    oauth_flows::prune_expired(conn, now)?;
    oauth_grants::prune_expired(conn, now)?;
    known_devices::prune_forgotten(conn, now)?;
    webhook_deliveries::prune_finished(conn, now - KEEP_FINISHED)?;
    mail_outbox::prune_finished(conn, now)
}
