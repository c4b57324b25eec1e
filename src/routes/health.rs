//! `GET /healthz` (the process serves) and `GET /readyz` (the database answers).

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    db,
    error::{ApiError, ErrorBody},
    request::Ctx,
};

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
pub async fn healthz() -> web::Json<HealthResponse> {
    web::Json(HealthResponse { status: "ok" })
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    )
)]
pub async fn readyz(ctx: Ctx) -> Result<web::Json<HealthResponse>, ApiError> {
    ctx.db(db::ping).await?;
    Ok(web::Json(HealthResponse { status: "ok" }))
}
