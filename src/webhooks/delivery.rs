//! The webhook worker: one task per process (every replica runs one), as the mail worker. It
//! claims due deliveries with a lease (so one replica sends each; `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, the write lock on SQLite), posts each to its endpoint signed with the
//! endpoint's secrets, and records the try: a 2xx is delivered; a 410 disables the endpoint
//! and ends its pending deliveries; anything else (another status, no answer within the
//! timeout, a refused address) is tried again after the schedule's next wait, and given up on
//! past its last. A process that dies between an endpoint's 2xx and the row's update sends that
//! delivery again when the lease ends: at least once, with the same `webhook-id`, which a
//! receiver deduplicates on.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    db::{
        self, Pool,
        webhook_deliveries::{self, Delivery},
        webhook_endpoints::{self, Endpoint},
    },
    metrics::Metrics,
    settings::WebhookSettings,
};

use super::{signature, target};

/// Deliveries claimed at a time.
const BATCH: i64 = 10;
/// How often the outbox is looked at: events of every replica, retries coming due.
const POLL: Duration = Duration::from_millis(500);
/// How often the backlog (`webhook_backlog`) is counted, at most.
const COUNT_EVERY: Duration = Duration::from_secs(5);
/// Finished deliveries are kept this long for operators to look at, then swept.
pub const KEEP_FINISHED: chrono::Duration = chrono::Duration::days(7);

pub struct WebhookWorker {
    pub db: Pool,
    pub settings: WebhookSettings,
    pub metrics: Arc<Metrics>,
}

impl WebhookWorker {
    pub async fn run(self) {
        let mut counted: Option<Instant> = None;
        loop {
            let claimed = self.round().await;
            if claimed > 0 || counted.is_none_or(|at| at.elapsed() >= COUNT_EVERY) {
                if let Ok(backlog) = db::run(&self.db, webhook_deliveries::backlog).await {
                    self.metrics.webhook_backlog.set(backlog);
                }
                counted = Some(Instant::now());
            }
            if claimed < BATCH as usize {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Sends what is due; how many deliveries it claimed.
    async fn round(&self) -> usize {
        let now = chrono::Utc::now().naive_utc();
        // Longer than a batch may take, each try bounded by the timeout.
        let lease = self.settings.timeout * (BATCH as u32 + 1);
        let lease_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(1));
        let claimed = db::run(&self.db, move |conn| {
            webhook_deliveries::claim_due(conn, now, lease_until, BATCH)
        })
        .await;
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                log::warn!("webhook outbox not read this time: {error}");
                return 0;
            }
        };
        let count = claimed.len();
        for delivery in claimed {
            self.deliver(delivery).await;
        }
        count
    }

    async fn deliver(&self, delivery: Delivery) {
        let endpoint_id = delivery.endpoint_id.clone();
        let endpoint =
            db::run(&self.db, move |conn| webhook_endpoints::find(conn, &endpoint_id)).await;
        let Ok(Some(endpoint)) = endpoint else { return };
        let (status, error) = match endpoint.disabled_at {
            Some(_) => (None, Some("endpoint disabled".to_owned())),
            None => match self.post(&endpoint, &delivery).await {
                Ok(status) => (Some(status), None),
                Err(error) => (None, Some(error)),
            },
        };
        let now = chrono::Utc::now().naive_utc();
        let gone = status == Some(410);
        let next = match (status, endpoint.disabled_at) {
            (Some(200..=299), _) | (Some(410), _) | (_, Some(_)) => None,
            _ => self
                .settings
                .retry_schedule
                .get(delivery.attempts as usize)
                .and_then(|wait| chrono::Duration::from_std(*wait).ok())
                .map(|wait| now + wait),
        };
        let (id, disabled) = (delivery.id, endpoint.disabled_at.is_some());
        let outcome = status.map_or_else(|| error.clone().unwrap_or_default(), |s| s.to_string());
        log::info!(
            "webhook {} ({}) to {}: {outcome}",
            delivery.event_id,
            delivery.event_type,
            endpoint.id
        );
        let recorded = db::run(&self.db, move |conn| {
            webhook_deliveries::record(conn, id, (status, error.as_deref()), next, now)?;
            if gone {
                webhook_endpoints::disable(conn, &endpoint.id, "answered 410 Gone", now)?;
                return webhook_deliveries::fail_pending_of(conn, &endpoint.id, now);
            }
            Ok::<_, diesel::result::Error>(0)
        })
        .await;
        let ended_with_the_endpoint = match recorded {
            Ok(ended) => ended as u64,
            Err(error) => {
                log::warn!("webhook delivery {id}: its try not recorded: {error}");
                0
            }
        };
        let given_up = match (status, disabled, next) {
            (Some(200..=299), ..) => None,
            (Some(410), ..) => Some("gone"),
            (_, true, _) => Some("endpoint_disabled"),
            (.., None) => Some("retries_exhausted"),
            _ => None,
        };
        self.count((!disabled).then_some(status), given_up, ended_with_the_endpoint);
    }

    /// Counts the try, if one was made (the endpoint's status, or `None`: no answer), the
    /// delivery given up on, and the deliveries an endpoint's 410 ended with it.
    fn count(
        &self,
        tried: Option<Option<i32>>,
        given_up: Option<&str>,
        ended_with_the_endpoint: u64,
    ) {
        let metrics = &self.metrics;
        if let Some(status) = tried {
            let answer = status.map_or_else(|| "none".to_owned(), |s| format!("{}xx", s / 100));
            metrics.webhook_attempts.with_label_values(&[answer.as_str()]).inc();
        }
        if let Some(reason) = given_up {
            metrics.webhook_failures.with_label_values(&[reason]).inc();
        }
        let ended = metrics.webhook_failures.with_label_values(&["endpoint_disabled"]);
        ended.inc_by(ended_with_the_endpoint);
    }

    /// One try: the endpoint's status, or why there was none.
    async fn post(&self, endpoint: &Endpoint, delivery: &Delivery) -> Result<i32, String> {
        let allow_private = self.settings.allow_private;
        let url = target::check_url(&endpoint.url, allow_private)?;
        let addresses = target::addresses(&url, allow_private).await?;
        let host = url.host_str().unwrap_or_default().to_owned();
        // The connection goes to the addresses checked, not to a second lookup's.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.settings.timeout)
            .user_agent("auth-service-webhooks")
            .resolve_to_addrs(&host, &addresses)
            .build()
            .map_err(|e| e.to_string())?;
        let now = chrono::Utc::now();
        let timestamp = now.timestamp();
        let secrets = endpoint.secrets(now.naive_utc());
        let signature =
            signature::header(&secrets, &delivery.event_id, timestamp, &delivery.payload);
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| without_url(&e))?;
        Ok(i32::from(response.status().as_u16()))
    }
}

/// A request's error without the URL (which may carry a token the site put in its path).
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}
