//! `GET /healthz` (the process serves) and `GET /readyz` (what it depends on answers).

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{db, request::Ctx};

/// A store that has not answered by then counts as down: a probe must not hang.
const STORAGE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process serves", body = HealthResponse))
)]
pub async fn healthz() -> actix_web::web::Json<HealthResponse> {
    actix_web::web::Json(HealthResponse { status: "ok" })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessResponse {
    /// `ok`; `degraded` when only the picture store is down (everything but uploads and
    /// picture reads works, and every replica shares the store, so the replica stays in
    /// rotation); `error` when the database is down (503).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// With `error`: which dependency the replica cannot serve without.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub message: Option<&'static str>,
    pub checks: Checks,
}

/// Each dependency: `ok` or `down`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    #[schema(example = "ok")]
    pub database: &'static str,
    #[schema(example = "ok")]
    pub storage: &'static str,
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers (`status` is `degraded` when the picture store does not)", body = ReadinessResponse),
        (status = 503, description = "The database does not answer", body = ReadinessResponse),
    )
)]
pub async fn readyz(ctx: Ctx) -> HttpResponse {
    let storage_check =
        actix_web::rt::time::timeout(STORAGE_CHECK_TIMEOUT, ctx.uploads.storage.check());
    let (database, storage) = futures_util::future::join(ctx.db(db::ping), storage_check).await;
    let database_up = database.is_ok();
    let storage_up = match storage {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            log::warn!("readiness: picture storage is down: {error}");
            false
        }
        Err(_) => {
            log::warn!(
                "readiness: picture storage did not answer within {STORAGE_CHECK_TIMEOUT:?}"
            );
            false
        }
    };
    let word = |up: bool| if up { "ok" } else { "down" };
    let checks = Checks { database: word(database_up), storage: word(storage_up) };
    let (status, body) = match (database_up, storage_up) {
        (true, true) => (StatusCode::OK, ReadinessResponse { status: "ok", message: None, checks }),
        (true, false) => {
            (StatusCode::OK, ReadinessResponse { status: "degraded", message: None, checks })
        }
        (false, _) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ReadinessResponse { status: "error", message: Some("Database unavailable"), checks },
        ),
    };
    HttpResponse::build(status).json(body)
}
