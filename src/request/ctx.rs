//! `Ctx`: the application state, the client's address and the request id of one request, with
//! the verbs every handler shares: throttle, query the database (ringing for the mail it
//! queued), compose mail, record an audit event.

use std::{
    future::{Ready, ready},
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use crate::{
    audit::{self, Event, Outcome},
    client_ip::ClientIp,
    db::{self, AnyConnection, mail_outbox::NewMail, users::User},
    error::ApiError,
    mail::templates::Kind,
    request_id::RequestId,
    state::AppState,
    throttle::Limit,
};

pub struct Ctx {
    state: web::Data<AppState>,
    pub client: ClientIp,
    /// Log lines carry it already; a handler hands it on to work it leaves behind (a queued
    /// message, an event for another service).
    pub request_id: Option<RequestId>,
    /// Set when a message was composed for this request: the delivery worker is told once the
    /// transaction that queued it has committed.
    mail_composed: Arc<AtomicBool>,
}

impl Deref for Ctx {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.state
    }
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return ready(Err(ApiError::internal("AppState is not registered")));
        };
        let client = match ClientIp::from_request(req, payload).into_inner() {
            Ok(client) => client,
            Err(error) => return ready(Err(error)),
        };
        let request_id = req.extensions().get::<RequestId>().cloned();
        ready(Ok(Ctx { state, client, request_id, mail_composed: Arc::default() }))
    }
}

impl Ctx {
    /// The context of an operator's command run on the machine (`auth-service admin …`): the
    /// same verbs as a request's, from the loopback address.
    pub fn operator(state: web::Data<AppState>) -> Ctx {
        let client = ClientIp(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        Ctx { state, client, request_id: None, mail_composed: Arc::default() }
    }

    /// Counts this request against `limits` (before any lookup or bcrypt: a throttled guess
    /// costs one upsert per limit). A refusal is answered 429 and recorded as `event`
    /// `throttled`, for `user_id` when the caller is known.
    pub async fn throttle(
        &self,
        event: Event,
        user_id: Option<i64>,
        limits: &[Limit],
    ) -> Result<(), ApiError> {
        self.rate_limits
            .check(&self.db, self.client, limits)
            .await
            .inspect_err(|error| self.audit_refusal(event, error, user_id))
    }

    /// Runs `work` on a pooled connection, off the async workers.
    pub async fn db<T, E, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        E: Into<ApiError>,
        T: Send + 'static,
    {
        let done = db::run(&self.db, work).await?;
        // After the commit, not in the transaction: woken earlier, the delivery worker would
        // not see the message yet and would wait for its next round.
        if self.mail_composed.swap(false, Ordering::Relaxed) {
            self.mail.wake.notify_one();
        }
        Ok(done)
    }

    /// What a database closure composes messages with. A message composed by it is rung for
    /// after the next `db` call that succeeds: the one whose transaction queued it.
    pub fn mailer(&self) -> Mailer {
        Mailer {
            state: self.state.clone(),
            client: self.client,
            composed: self.mail_composed.clone(),
        }
    }

    /// Records `event` with its outcome: the audit log line and the metric that follows it.
    pub fn audit(&self, event: Event, outcome: Outcome, user_id: Option<i64>) {
        audit::record(&self.metrics, event, outcome, user_id, self.client);
    }

    /// Records `event` as refused when `error` is a refusal worth an operator's eye.
    pub fn audit_refusal(&self, event: Event, error: &ApiError, user_id: Option<i64>) {
        audit::refused(&self.metrics, event, error, user_id, self.client);
    }
}

/// Composes messages inside a database closure (which runs on another thread, so it cannot
/// borrow the request's `Ctx`), to be queued in the transaction of the change they tell of.
#[derive(Clone)]
pub struct Mailer {
    state: web::Data<AppState>,
    client: ClientIp,
    composed: Arc<AtomicBool>,
}

impl Mailer {
    /// The website's base, for links.
    pub fn app_url(&self) -> String {
        self.state.mail.app_url.clone()
    }

    /// A notice of `kind` to `user` about their account, greeting them by name.
    pub fn notice(&self, kind: Kind, user: &User, more: &[(&str, &str)]) -> NewMail {
        let mut facts = vec![("name", user.name.as_str())];
        facts.extend_from_slice(more);
        self.compose(kind, Some(user.id), &user.email, &facts)
    }

    /// A message of `kind` for `to`, rendered now with the request's address and time; the
    /// delivery worker is told of it after the request's next committed transaction.
    pub fn compose(
        &self,
        kind: Kind,
        user_id: Option<i64>,
        to: &str,
        facts: &[(&str, &str)],
    ) -> NewMail {
        let now = chrono::Utc::now();
        let ip = self.client.0.to_string();
        let time = now.format("%Y-%m-%d %H:%M UTC").to_string();
        let mail = &self.state.mail;
        let mut all = vec![("ip", ip.as_str()), ("time", &time), ("app_url", &mail.app_url)];
        all.push(("email", to));
        all.extend_from_slice(facts);
        let message = mail.templates.render(kind, &all);
        self.composed.store(true, Ordering::Relaxed);
        NewMail {
            kind: kind.name(),
            user_id,
            recipient: to.to_owned(),
            subject: message.subject,
            body: message.text,
            created_at: now.naive_utc(),
            attempts: 0,
            next_attempt_at: now.naive_utc(),
            budgeted: self.state.rate_limits.enabled,
        }
    }
}
