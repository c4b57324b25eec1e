//! `WEBHOOK_*`: how events are delivered to the site's endpoints.

use std::time::Duration;

use super::source::{SettingsError, Source, invalid};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The waits between a delivery's tries: after the first fails, the first wait, and so on;
    /// past the last, it is given up on (the Standard Webhooks schedule by default).
    pub retry_schedule: Vec<Duration>,
    /// Endpoints on loopback, private, link-local or other non-public addresses are refused
    /// unless this is set (a site whose backend is on the same network).
    pub allow_private: bool,
    /// How long one try may take, connecting and answering.
    pub timeout: Duration,
}

impl WebhookSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        let schedule: Vec<String> = source.list("WEBHOOK_RETRY_SCHEDULE")?;
        let retry_schedule = schedule
            .iter()
            .map(|wait| span(wait))
            .collect::<Option<Vec<_>>>()
            .filter(|waits| !waits.is_empty() && waits.len() <= 20)
            .ok_or_else(|| {
                invalid(
                    "WEBHOOK_RETRY_SCHEDULE",
                    "must list 1 to 20 waits like 5s,5m,30m,2h,5h,10h,10h",
                )
            })?;
        Ok(WebhookSettings {
            retry_schedule,
            allow_private: source.parsed("WEBHOOK_ALLOW_PRIVATE")?,
            timeout: Duration::from_secs(source.positive("WEBHOOK_TIMEOUT_SECS")?),
        })
    }
}

/// `5s`, `5m`, `2h`, `1d`.
fn span(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}
