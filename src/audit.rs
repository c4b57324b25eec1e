//! Audit events: one structured log line (target `audit`) per security-relevant action, with the
//! event, its outcome, the user id when known and the client's address; the request id is added
//! by the log formatter. Never a password, token or hash: nothing here takes one.

use crate::{client_ip::ClientIp, error::ApiError, metrics::Metrics};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Register,
    Login,
    Logout,
    LogoutEverywhere,
    LogoutOthers,
    SessionEnd,
    Refresh,
    RefreshReplay,
    RefreshReuse,
    PasswordChange,
    AccountDeletion,
    PictureUpload,
    PasswordResetRequest,
    PasswordReset,
    EmailVerification,
    EmailChange,
    MfaEnrolment,
    MfaEnable,
    MfaDisable,
    MfaLogin,
    RecoveryCodeUse,
    RecoveryCodesRenewal,
    /// A code by mail asked for, or typed back, instead of the password.
    CodeLogin,
    PasskeyRegistration,
    PasskeyLogin,
    PasskeyRename,
    PasskeyRemoval,
    PasswordRemoval,
    FederatedLogin,
    IdentityLink,
    IdentityUnlink,
    /// A call to `/api/admin/*` refused (a bad key, throttled); what keys do is `admin`'s.
    Admin,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::Register => "register",
            Event::Login => "login",
            Event::Logout => "logout",
            Event::LogoutEverywhere => "logout_everywhere",
            Event::LogoutOthers => "logout_others",
            Event::SessionEnd => "session_end",
            Event::Refresh => "refresh",
            Event::RefreshReplay => "refresh_replay",
            Event::RefreshReuse => "refresh_reuse",
            Event::PasswordChange => "password_change",
            Event::AccountDeletion => "account_deletion",
            Event::PictureUpload => "picture_upload",
            Event::PasswordResetRequest => "password_reset_request",
            Event::PasswordReset => "password_reset",
            Event::EmailVerification => "email_verification",
            Event::EmailChange => "email_change",
            Event::MfaEnrolment => "mfa_enrolment",
            Event::MfaEnable => "mfa_enable",
            Event::MfaDisable => "mfa_disable",
            Event::MfaLogin => "mfa_login",
            Event::RecoveryCodeUse => "recovery_code_use",
            Event::RecoveryCodesRenewal => "recovery_codes_renewal",
            Event::CodeLogin => "code_login",
            Event::PasskeyRegistration => "passkey_registration",
            Event::PasskeyLogin => "passkey_login",
            Event::PasskeyRename => "passkey_rename",
            Event::PasskeyRemoval => "passkey_removal",
            Event::PasswordRemoval => "password_removal",
            Event::FederatedLogin => "federated_login",
            Event::IdentityLink => "identity_link",
            Event::IdentityUnlink => "identity_unlink",
            Event::Admin => "admin",
        }
    }
}

/// How it ended: `ok`, or the reason it did not (`bad_credentials`, `bad_code`, `throttled`,
/// `session_ended`, `wrong_password`).
pub type Outcome = &'static str;

/// Writes the event's line and counts it in the metric that follows it (refresh outcomes are
/// counted by the refresh handler, which sees them all; only a reuse is an audit event).
pub fn record(
    metrics: &Metrics,
    event: Event,
    outcome: Outcome,
    user_id: Option<i64>,
    client: ClientIp,
) {
    match event {
        Event::Login => metrics.logins.with_label_values(&[outcome]).inc(),
        Event::Register => metrics.registrations.with_label_values(&[outcome]).inc(),
        Event::PictureUpload if outcome == "ok" => metrics.uploads.inc(),
        Event::Refresh => metrics.refreshes.with_label_values(&[outcome]).inc(),
        _ if outcome == "bad_code" => {
            metrics.code_failures.with_label_values(&[event.name()]).inc()
        }
        _ => {}
    }
    let event = event.name();
    let client_ip = client.0;
    match user_id {
        Some(user_id) => log::info!(
            target: "audit",
            event, outcome, user_id, client_ip:%;
            "{event} {outcome}"
        ),
        None => log::info!(target: "audit", event, outcome, client_ip:%; "{event} {outcome}"),
    }
}

/// An operator's action (`/api/admin/*` with a key, or `auth-service admin …`): what was done,
/// by whom (`key:<id>` or `cli`), to which user, from where.
pub fn admin(action: &str, actor: &str, user_id: Option<i64>, client: ClientIp) {
    let (event, client_ip) = ("admin", client.0);
    match user_id {
        Some(user_id) => log::info!(
            target: "audit",
            event, action, actor, user_id, client_ip:%;
            "admin {action} by {actor}"
        ),
        None => log::info!(
            target: "audit",
            event, action, actor, client_ip:%;
            "admin {action} by {actor}"
        ),
    }
}

/// A message the delivery worker sent (`sent`) or gave up on (the reason): no client, and
/// never the message's text (it may hold a code).
pub fn mail(kind: &str, outcome: &str, user_id: Option<i64>) {
    let event = "mail";
    match user_id {
        Some(user_id) => {
            log::info!(target: "audit", event, kind, outcome, user_id; "mail {kind} {outcome}")
        }
        None => log::info!(target: "audit", event, kind, outcome; "mail {kind} {outcome}"),
    }
}

/// Records `event` as refused when `error` is a refusal worth an operator's eye (a throttled
/// attempt, wrong credentials, a taken address: guessing and enumeration look like many of
/// these); other errors are not audit events.
pub fn refused(
    metrics: &Metrics,
    event: Event,
    error: &ApiError,
    user_id: Option<i64>,
    client: ClientIp,
) {
    let outcome = match error {
        ApiError::TooManyRequests { .. } => "throttled",
        ApiError::InvalidCredentials | ApiError::PasskeyRefused => "bad_credentials",
        ApiError::WrongPassword => "wrong_password",
        ApiError::EmailAlreadyRegistered => "email_taken",
        // A wrong mailed, enrolment or second-factor code: guessing leaves a trace.
        ApiError::InvalidCode | ApiError::WrongTotpCode | ApiError::InvalidMfaCode => "bad_code",
        _ => return,
    };
    record(metrics, event, outcome, user_id, client);
}
