//! `GET /metrics`: the Prometheus text format, behind `METRICS_TOKEN` when one is set.

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use sha2::{Digest, Sha256};

use crate::{
    error::ApiError,
    metrics::PoolReadings,
    startup::{AppState, MetricsListener},
};

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
    if !state.metrics_on_main_port && !on_metrics_listener {
        return Err(ApiError::NotFound);
    }
    if let Some(expected) = &state.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Compared as hashes: the time a comparison takes says nothing about the token.
        if Sha256::digest(presented.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    let (db_connections, db_idle) = state.pool.connections();
    let text = state.metrics.render(PoolReadings {
        bcrypt_queued: state.passwords.queued(),
        bcrypt: state.passwords.stats(),
        db_connections,
        db_idle,
        db: state.pool.stats(),
    });
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
