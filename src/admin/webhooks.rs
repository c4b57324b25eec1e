//! The site's webhook endpoints, as operators manage them (`webhooks:write`): added with the
//! event types they take and a secret shown once, listed, their secret rotated (the old one
//! signs too for a day, so the receiver can switch), removed; an event sent again; each
//! delivery's tries.

use serde::Serialize;
use utoipa::ToSchema;

use super::Actor;
use crate::{
    audit,
    db::{
        webhook_deliveries::{self, Delivery},
        webhook_endpoints::{self, Endpoint},
    },
    error::ApiError,
    request::Ctx,
    timestamps::rfc3339,
    webhooks::{EVENT_TYPES, signature, target},
};

/// How long a rotated secret still signs beside the new one.
const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// At most this many endpoints: each event is a row per endpoint.
const MAX_ENDPOINTS: usize = 20;
/// The deliveries listed for an endpoint, newest first.
const LISTED_DELIVERIES: i64 = 50;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The event types it takes, or `["*"]`.
    pub events: Vec<String>,
    pub created_at: String,
    /// When a 410 from it (or nothing else yet) disabled it.
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
    /// Until then the secret before the last rotation signs too.
    pub previous_secret_until: Option<String>,
}

impl From<Endpoint> for WebhookView {
    fn from(endpoint: Endpoint) -> Self {
        WebhookView {
            id: endpoint.id,
            url: endpoint.url,
            events: endpoint.events.split(',').map(str::to_owned).collect(),
            created_at: rfc3339(endpoint.created_at),
            disabled_at: endpoint.disabled_at.map(rfc3339),
            disabled_reason: endpoint.disabled_reason,
            previous_secret_until: endpoint.previous_secret_until.map(rfc3339),
        }
    }
}

/// A new endpoint, or a rotated secret: the only time `secret` is seen.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    #[schema(example = "success")]
    pub status: &'static str,
    pub webhook: WebhookView,
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    #[schema(example = "success")]
    pub status: &'static str,
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The `webhook-id`: the same on every try and every endpoint.
    pub event_id: String,
    pub event_type: String,
    pub created_at: String,
    /// `pending`, `delivered` or `failed`.
    pub status: &'static str,
    /// The status each try got, in order (`null`: no answer).
    pub attempts: Vec<Option<i32>>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    #[schema(example = "success")]
    pub status: &'static str,
    pub deliveries: Vec<DeliveryView>,
}

/// The event types of a comma-separated list: known ones, or `*` alone.
pub fn parse_events(text: &str) -> Result<Vec<String>, ApiError> {
    let events: Vec<String> =
        text.split(',').map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect();
    if events == ["*"] {
        return Ok(events);
    }
    if events.is_empty() {
        return Err(ApiError::InvalidAdminInput("events must name at least one type, or *".into()));
    }
    if let Some(unknown) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(ApiError::InvalidAdminInput(format!(
            "Unknown event type {unknown:?} (known: {}, or *)",
            EVENT_TYPES.join(", ")
        )));
    }
    Ok(events)
}

pub async fn add(
    ctx: &Ctx,
    actor: &Actor,
    url: &str,
    events: &[String],
) -> Result<WebhookSecret, ApiError> {
    let url =
        target::check_url(url, ctx.webhooks.allow_private).map_err(ApiError::InvalidAdminInput)?;
    let events = parse_events(&events.join(","))?;
    let secret = signature::new_secret().map_err(ApiError::internal)?;
    let endpoint = Endpoint {
        id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
        url: url.to_string(),
        events: events.join(","),
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: chrono::Utc::now().naive_utc(),
        disabled_at: None,
        disabled_reason: None,
    };
    let stored = endpoint.clone();
    ctx.db(move |conn| {
        if webhook_endpoints::all(conn)?.len() >= MAX_ENDPOINTS {
            return Err(ApiError::InvalidAdminInput(format!(
                "At most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        Ok(webhook_endpoints::insert(conn, &stored)?)
    })
    .await?;
    audit::admin(&format!("webhook.add {}", endpoint.id), &actor.name(), None, ctx.client);
    Ok(WebhookSecret { status: "success", webhook: endpoint.into(), secret })
}

pub async fn list(ctx: &Ctx) -> Result<WebhookList, ApiError> {
    let endpoints = ctx.db(webhook_endpoints::all).await?;
    Ok(WebhookList { status: "success", webhooks: endpoints.into_iter().map(Into::into).collect() })
}

/// A new secret; the old one signs too for a day.
pub async fn rotate_secret(ctx: &Ctx, actor: &Actor, id: &str) -> Result<WebhookSecret, ApiError> {
    let secret = signature::new_secret().map_err(ApiError::internal)?;
    let (lookup, new) = (id.to_owned(), secret.clone());
    let until = chrono::Utc::now().naive_utc() + ROTATION_OVERLAP;
    let endpoint = ctx
        .db(move |conn| {
            if !webhook_endpoints::rotate(conn, &lookup, &new, until)? {
                return Ok(None);
            }
            webhook_endpoints::find(conn, &lookup)
        })
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    audit::admin(&format!("webhook.rotate_secret {id}"), &actor.name(), None, ctx.client);
    Ok(WebhookSecret { status: "success", webhook: endpoint.into(), secret })
}

/// Removes the endpoint and its deliveries.
pub async fn remove(ctx: &Ctx, actor: &Actor, id: &str) -> Result<(), ApiError> {
    let lookup = id.to_owned();
    if !ctx.db(move |conn| webhook_endpoints::remove(conn, &lookup)).await? {
        return Err(ApiError::WebhookNotFound);
    }
    audit::admin(&format!("webhook.remove {id}"), &actor.name(), None, ctx.client);
    Ok(())
}

/// Sends `event_id` again to each endpoint it went to, with the same `webhook-id`; how many.
pub async fn replay(ctx: &Ctx, actor: &Actor, event_id: &str) -> Result<usize, ApiError> {
    let (lookup, now) = (event_id.to_owned(), chrono::Utc::now().naive_utc());
    let queued = ctx.db(move |conn| webhook_deliveries::replay(conn, &lookup, now)).await?;
    if queued == 0 {
        return Err(ApiError::EventNotFound);
    }
    audit::admin(&format!("webhook.replay {event_id}"), &actor.name(), None, ctx.client);
    Ok(queued)
}

/// The endpoint's latest deliveries, each with its tries' statuses.
pub async fn deliveries(ctx: &Ctx, id: &str) -> Result<DeliveryList, ApiError> {
    let lookup = id.to_owned();
    let found = ctx
        .db(move |conn| {
            if webhook_endpoints::find(conn, &lookup)?.is_none() {
                return Ok(None);
            }
            let deliveries = webhook_deliveries::of_endpoint(conn, &lookup, LISTED_DELIVERIES)?;
            let mut listed = Vec::with_capacity(deliveries.len());
            for delivery in deliveries {
                let attempts = webhook_deliveries::attempts_of(conn, delivery.id)?;
                listed.push(view(delivery, attempts));
            }
            Ok::<_, diesel::result::Error>(Some(listed))
        })
        .await?;
    let deliveries = found.ok_or(ApiError::WebhookNotFound)?;
    Ok(DeliveryList { status: "success", deliveries })
}

fn view(delivery: Delivery, attempts: Vec<Option<i32>>) -> DeliveryView {
    let status = match (delivery.delivered_at, delivery.failed_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "failed",
        (None, None) => "pending",
    };
    DeliveryView {
        id: delivery.id,
        event_id: delivery.event_id,
        event_type: delivery.event_type,
        created_at: rfc3339(delivery.created_at),
        status,
        attempts,
        last_error: delivery.last_error,
    }
}
