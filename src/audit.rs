//! Audit events: one structured log line (target `audit`) per security-relevant action, with the
//! event, its outcome, the user id when known and the client's address; the request id is added
//! by the log formatter. Never a password, token or hash: nothing here takes one.

use crate::{metrics::Metrics, throttle::ClientIp};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Register,
    Login,
    Logout,
    LogoutEverywhere,
    RefreshReuse,
    PasswordChange,
    AccountDeletion,
    PictureUpload,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Register => "register",
            Event::Login => "login",
            Event::Logout => "logout",
            Event::LogoutEverywhere => "logout_everywhere",
            Event::RefreshReuse => "refresh_reuse",
            Event::PasswordChange => "password_change",
            Event::AccountDeletion => "account_deletion",
            Event::PictureUpload => "picture_upload",
        }
    }
}

/// How it ended: `ok`, or the reason it did not (`bad_credentials`, `throttled`,
/// `session_ended`, `wrong_password`).
pub type Outcome = &'static str;

/// Writes the event's line and counts it in the metrics that follow it.
pub fn record(
    metrics: &Metrics,
    event: Event,
    outcome: Outcome,
    user_id: Option<i64>,
    client: Option<ClientIp>,
) {
    match event {
        Event::Login => metrics.logins.with_label_values(&[outcome]).inc(),
        Event::Register => metrics.registrations.with_label_values(&[outcome]).inc(),
        Event::RefreshReuse => metrics.refreshes.with_label_values(&["reused"]).inc(),
        _ => {}
    }
    let event = event.name();
    let client_ip = client
        .map(|client| client.0.to_string())
        .unwrap_or_default();
    match user_id {
        Some(user_id) => log::info!(
            target: "audit",
            event, outcome, user_id, client_ip:%;
            "{event} {outcome}"
        ),
        None => log::info!(target: "audit", event, outcome, client_ip:%; "{event} {outcome}"),
    }
}
