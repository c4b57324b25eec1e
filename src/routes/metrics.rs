//! `GET /metrics`: the Prometheus text format, behind `METRICS_TOKEN` when one is set.

use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::{auth::bearer::bearer_token, error::ApiError, metrics::PoolReadings, state::AppState};

/// Marks the `METRICS_ADDR` listener's application, the only one that serves `/metrics` when
/// that address is set.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListener;

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain"),
        (status = 401, description = "METRICS_TOKEN is set and was not presented", body = crate::error::ErrorBody),
    )
)]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let on_metrics_listener = req.app_data::<web::Data<MetricsListener>>().is_some();
    if !state.metrics_access.on_main_port && !on_metrics_listener {
        return Err(ApiError::NotFound);
    }
    if let Some(expected) = &state.metrics_access.token {
        let presented = bearer_token(&req).unwrap_or_default();
        // Compared as hashes: the time a comparison takes says nothing about the token.
        if Sha256::digest(presented.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    let (db_connections, db_idle) = state.db.connections();
    let text = state.metrics.render(PoolReadings {
        bcrypt: state.passwords.pool(),
        images: &state.uploads.images,
        db_connections,
        db_idle,
        db: state.db.stats(),
        session_cache: state.db.session_cache().map(|cache| (cache.len(), cache.is_trusted())),
    });
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
