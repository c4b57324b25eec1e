//! The delivery worker: one task per process (every replica runs one), sending what the outbox
//! holds. It claims due rows with a lease, sends them one by one, and records each outcome; a
//! message that fails is tried again later (doubling waits, up to an hour), and given up on when
//! the server refuses it for good or it is still undelivered after a day. A row whose worker
//! died mid-send is claimed again when its lease ends: a message is sent at least once, and
//! twice only when a process dies between the server's "250 OK" and the row's update.

use std::{sync::Arc, time::Duration};

use lettre::message::Mailbox;
use tokio::sync::Notify;

use super::{templates::Rendered, transport::Transport};
use crate::{
    audit,
    db::{self, Pool, mail_outbox},
    metrics::Metrics,
};

/// Messages claimed at a time: a short lease's worth of sending.
const BATCH: i64 = 10;
/// Longer than any one batch may take to send (SMTP_TIMEOUT per message).
const LEASE: Duration = Duration::from_secs(300);
/// How often the outbox is looked at when nothing wakes the worker (rows of other replicas,
/// retries coming due).
const POLL: Duration = Duration::from_secs(1);
/// Undelivered for this long: given up on.
const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

pub struct Delivery {
    pub db: Pool,
    pub transport: Transport,
    pub from: Mailbox,
    pub metrics: Arc<Metrics>,
    /// Notified when a request has queued a message, so it goes out at once.
    pub wake: Arc<Notify>,
    /// The wait before the first retry; each next one doubles it.
    pub first_retry: Duration,
}

impl Delivery {
    pub async fn run(self) {
        loop {
            let claimed = self.round().await;
            if claimed < BATCH as usize {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
        }
    }

    /// Sends what is due; returns how many messages it claimed.
    async fn round(&self) -> usize {
        let now = chrono::Utc::now().naive_utc();
        let lease_until = now + LEASE;
        let claimed =
            db::run(&self.db, move |conn| mail_outbox::claim_due(conn, now, lease_until, BATCH))
                .await;
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(error) => {
                log::warn!("mail outbox unreachable: {error:?}");
                return 0;
            }
        };
        let count = claimed.len();
        for mail in claimed {
            self.deliver(mail).await;
        }
        if let Ok(pending) = db::run(&self.db, mail_outbox::pending).await {
            self.metrics.mail_outbox_pending.set(pending);
        }
        count
    }

    async fn deliver(&self, mail: mail_outbox::Mail) {
        let message = Rendered { subject: mail.subject.clone(), text: mail.body.clone() };
        let key = format!("outbox-{}-{}", mail.id, mail.created_at.and_utc().timestamp_millis());
        let outcome = self.transport.send(&self.from, &mail.recipient, &message, &key).await;
        let now = chrono::Utc::now().naive_utc();
        let (id, attempts) = (mail.id, mail.attempts);
        let recorded = match outcome {
            Ok(()) => {
                self.metrics.mail_sent.inc();
                audit::mail(mail.kind.as_str(), "sent", mail.user_id);
                db::run(&self.db, move |conn| mail_outbox::delivered(conn, id, now)).await
            }
            Err(error) => {
                let age = (now - mail.created_at).to_std().unwrap_or_default();
                if error.permanent || age >= GIVE_UP_AFTER {
                    log::warn!("mail {id} ({}) given up: {}", mail.kind, error.detail);
                    self.metrics.mail_failed.with_label_values(&[error.reason]).inc();
                    audit::mail(mail.kind.as_str(), error.reason, mail.user_id);
                    db::run(&self.db, move |conn| {
                        mail_outbox::give_up(conn, id, now, &error.detail)
                    })
                    .await
                } else {
                    log::info!(
                        "mail {id} ({}) not delivered, will retry: {}",
                        mail.kind,
                        error.detail
                    );
                    let next = now + self.wait_after(attempts);
                    db::run(&self.db, move |conn| {
                        mail_outbox::retry_later(conn, id, next, &error.detail)
                    })
                    .await
                }
            }
        };
        if let Err(error) = recorded {
            // The lease runs out and the row is claimed again: sent twice rather than never.
            log::warn!("mail {id}: outcome not recorded: {error:?}");
        }
    }

    /// first_retry, doubled for each earlier attempt, at most an hour.
    fn wait_after(&self, attempts: i32) -> Duration {
        let doublings = u32::try_from(attempts).unwrap_or(0).min(20);
        self.first_retry.saturating_mul(1 << doublings).min(LONGEST_WAIT)
    }
}
