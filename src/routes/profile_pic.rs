//! `POST /api/upload_profile_pic`, also served at its seed-era path `/upload_profile_pic` (the
//! seed's curl test posts there).

use actix_multipart::Multipart;
use actix_web::{HttpRequest, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    account::pictures,
    audit::Event,
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    throttle::Limit,
};

/// The path the seed's curl test posts to: served by the same handler, and documented as a
/// copy of the main path's operation.
pub const SEED_PATH: &str = "/upload_profile_pic";

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    #[schema(example = "success")]
    pub status: &'static str,
    #[schema(example = "Profile picture updated")]
    pub message: &'static str,
    #[schema(example = "http://localhost:5000/uploads/2_test.png")]
    pub profile_pic_url: String,
}

/// The multipart form: one file part named `profile_pic` (PNG, JPEG, GIF or WebP).
#[derive(ToSchema)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub profile_pic: Vec<u8>,
}

#[utoipa::path(
    post,
    path = "/api/upload_profile_pic",
    tag = "user",
    security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Profile picture updated", body = UploadResponse),
        (status = 400, description = "No file uploaded, invalid file type, image over 4096x4096 or 12 megapixels, or malformed multipart", body = ErrorBody),
        (status = 401, description = "Unauthorized", body = ErrorBody),
        (status = 404, description = "User not found", body = ErrorBody),
        (status = 408, description = "Upload took longer than UPLOAD_TIMEOUT_SECS", body = ErrorBody),
        (status = 413, description = "File too large", body = ErrorBody),
        (status = 429, description = "Too many uploads from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Every picture thread busy and IMAGE_QUEUE_CAPACITY waiting; see Retry-After", body = ErrorBody),
    )
)]
pub async fn upload_profile_pic(
    req: HttpRequest,
    ctx: Ctx,
    auth: AuthUser,
    payload: Multipart,
) -> Result<web::Json<UploadResponse>, ApiError> {
    let user_id = auth.user.id;
    // Before a byte of the body is read.
    ctx.throttle(Event::PictureUpload, Some(user_id), &[Limit::UploadPerIp]).await?;
    // On timeout the future is dropped: its temporary files go at once, its re-encoding stops,
    // and a multipart upload to the bucket is aborted.
    let (stored, bytes) =
        actix_web::rt::time::timeout(ctx.uploads.timeout, pictures::store(&ctx, user_id, payload))
            .await
            .map_err(|_| ApiError::UploadTimeout)??;

    pictures::name_in_the_row(&ctx, &auth.user, &stored).await?;
    ctx.audit(Event::PictureUpload, "ok", Some(user_id));
    ctx.metrics.upload_bytes.inc_by(bytes);
    Ok(web::Json(UploadResponse {
        status: "success",
        message: "Profile picture updated",
        profile_pic_url: ctx.uploads.url_of(&req, &stored),
    }))
}
