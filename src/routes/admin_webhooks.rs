//! `/api/admin/webhooks…`: the site's webhook endpoints, with an admin key holding
//! `webhooks:write`. The same calls as `auth-service admin webhooks …` (`admin::webhooks`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::responses::MessageResponse;
use crate::{
    admin::{
        Scope,
        keys::AdminKey,
        webhooks::{self, DeliveryList, WebhookList, WebhookSecret},
    },
    error::{ApiError, ErrorBody},
    request::Ctx,
    validation::{required, string_or_none},
};

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddWebhookRequest {
    #[serde(default, deserialize_with = "string_or_none")]
    #[schema(value_type = String, example = "https://api.example.com/hooks/auth")]
    pub url: Option<String>,
    /// Event types (`user.created`, `session.ended`, …), or `["*"]` for every one.
    #[serde(default)]
    pub events: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/admin/webhooks",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    request_body = AddWebhookRequest,
    responses(
        (status = 201, description = "Added; the secret (whsec_…) is shown this once", body = WebhookSecret),
        (status = 400, description = "A URL that is not http(s), or on a private or loopback address without WEBHOOK_ALLOW_PRIVATE; an unknown event type; more than 20 endpoints", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
    )
)]
pub async fn admin_add_webhook(
    ctx: Ctx,
    key: AdminKey,
    body: web::Json<AddWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = key.require(Scope::WebhooksWrite)?;
    let url = required(&body.url).ok_or(ApiError::AllFieldsRequired)?;
    let added = webhooks::add(&ctx, &actor, url, &body.events).await?;
    Ok(HttpResponse::Created().json(added))
}

#[utoipa::path(
    get,
    path = "/api/admin/webhooks",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    responses(
        (status = 200, description = "Every endpoint (never a secret)", body = WebhookList),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
    )
)]
pub async fn admin_list_webhooks(
    ctx: Ctx,
    key: AdminKey,
) -> Result<web::Json<WebhookList>, ApiError> {
    key.require(Scope::WebhooksWrite)?;
    webhooks::list(&ctx).await.map(web::Json)
}

#[utoipa::path(
    post,
    path = "/api/admin/webhooks/{id}/rotate-secret",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "A new secret, shown this once; for 24 hours deliveries carry a signature with each", body = WebhookSecret),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "Webhook not found", body = ErrorBody),
    )
)]
pub async fn admin_rotate_webhook_secret(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
) -> Result<web::Json<WebhookSecret>, ApiError> {
    let actor = key.require(Scope::WebhooksWrite)?;
    webhooks::rotate_secret(&ctx, &actor, &id).await.map(web::Json)
}

#[utoipa::path(
    delete,
    path = "/api/admin/webhooks/{id}",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Webhook removed, with its deliveries", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "Webhook not found", body = ErrorBody),
    )
)]
pub async fn admin_remove_webhook(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let actor = key.require(Scope::WebhooksWrite)?;
    webhooks::remove(&ctx, &actor, &id).await?;
    Ok(web::Json(MessageResponse::success("Webhook removed")))
}

#[utoipa::path(
    get,
    path = "/api/admin/webhooks/{id}/deliveries",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The latest 50 deliveries, newest first, each with the status of every try", body = DeliveryList),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "Webhook not found", body = ErrorBody),
    )
)]
pub async fn admin_webhook_deliveries(
    ctx: Ctx,
    key: AdminKey,
    id: web::Path<String>,
) -> Result<web::Json<DeliveryList>, ApiError> {
    key.require(Scope::WebhooksWrite)?;
    webhooks::deliveries(&ctx, &id).await.map(web::Json)
}

#[utoipa::path(
    post,
    path = "/api/admin/webhooks/events/{event_id}/replay",
    tag = "admin",
    security(("admin_key" = ["webhooks:write"])),
    params(("event_id" = String, Path)),
    responses(
        (status = 200, description = "Sent again to every endpoint it went to, with the same webhook-id", body = MessageResponse),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 403, description = "Admin key lacks the scope this needs", body = ErrorBody),
        (status = 404, description = "Event not found (never sent, or swept 7 days after)", body = ErrorBody),
    )
)]
pub async fn admin_replay_webhook_event(
    ctx: Ctx,
    key: AdminKey,
    event_id: web::Path<String>,
) -> Result<web::Json<MessageResponse>, ApiError> {
    let actor = key.require(Scope::WebhooksWrite)?;
    webhooks::replay(&ctx, &actor, &event_id).await?;
    Ok(web::Json(MessageResponse::success("Event queued again")))
}
