//! `POST /api/upload_profile_pic`, also served at its seed-era path `/upload_profile_pic` (the
//! seed's curl test posts there).

use actix_multipart::Multipart;
use actix_web::{HttpRequest, web};
use diesel::Connection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    audit::Event,
    db::{unsettled_pictures, users},
    error::{ApiError, ErrorBody},
    request::{AuthUser, Ctx},
    throttle::Limit,
    uploads::store::{UploadPlan, receive_profile_pic},
};

/// The path the seed's curl test posts to: served by the same handler, and documented as a
/// copy of the main path's operation.
pub const SEED_PATH: &str = "/upload_profile_pic";

/// How long after its deadline an unfinished upload's picture is left before the sweeper may
/// remove it (clocks of replicas differ a little).
const SETTLE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

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
        actix_web::rt::time::timeout(ctx.uploads.timeout, store(&ctx, user_id, payload))
            .await
            .map_err(|_| ApiError::UploadTimeout)??;

    name_in_the_row(&ctx, &auth, &stored).await?;
    ctx.audit(Event::PictureUpload, "ok", Some(user_id));
    ctx.metrics.upload_bytes.inc_by(bytes);
    Ok(web::Json(UploadResponse {
        status: "success",
        message: "Profile picture updated",
        profile_pic_url: ctx.uploads.url_of(&req, &stored),
    }))
}

/// Receives, re-encodes and stores the picture, and returns its name and size. It is noted as
/// unsettled first: should this replica die before a row names it, the sweeper removes it.
async fn store(ctx: &Ctx, user_id: i64, payload: Multipart) -> Result<(String, u64), ApiError> {
    let uploads = &ctx.uploads;
    let plan = UploadPlan {
        scratch_dir: &uploads.dir,
        max_bytes: uploads.max_bytes,
        images: &uploads.images,
    };
    let received = receive_profile_pic(payload, user_id, plan).await?;
    let name = received.name.clone();
    // Past this the upload has ended, whatever became of it.
    let settle_after = chrono::Utc::now().naive_utc() + uploads.timeout + SETTLE_MARGIN;
    ctx.db(move |conn| unsettled_pictures::note(conn, &name, settle_after)).await?;
    let bytes = uploads.storage.put(received.clean, &received.name, received.kind).await?;
    Ok((received.name, bytes))
}

/// Points the user's row at the stored picture (settling it) and removes whichever picture no
/// row names: the previous one, or the new one when the row could not be changed.
async fn name_in_the_row(ctx: &Ctx, auth: &AuthUser, stored: &str) -> Result<(), ApiError> {
    let (user_id, name) = (auth.user.id, stored.to_owned());
    let replaced = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let previous = users::replace_profile_pic(conn, user_id, &name)?;
                if let Some(previous) = &previous {
                    unsettled_pictures::settle(conn, &name)?;
                    if let Some(old) = previous.as_deref().filter(|old| *old != name) {
                        unsettled_pictures::note(conn, old, chrono::Utc::now().naive_utc())?;
                    }
                }
                Ok::<_, diesel::result::Error>(previous)
            })
        })
        .await
        .and_then(|previous| previous.ok_or(ApiError::UserNotFound));
    let unnamed = match &replaced {
        Ok(previous) => previous.as_deref().filter(|previous| *previous != stored),
        // The account was deleted meanwhile: nothing names the new picture.
        Err(ApiError::UserNotFound) => Some(stored),
        // The row still names the old picture, unless the new one has the same name.
        Err(_) => Some(stored).filter(|stored| auth.user.profile_pic.as_deref() != Some(*stored)),
    };
    if let Some(unnamed) = unnamed {
        remove_unnamed_picture(ctx, unnamed).await;
    }
    replaced.map(drop)
}

/// Removes a noted picture no row names, then settles it; what fails is left to the sweeper.
pub async fn remove_unnamed_picture(ctx: &Ctx, name: &str) {
    if ctx.uploads.storage.remove(name).await {
        let name = name.to_owned();
        if let Err(error) = ctx.db(move |conn| unsettled_pictures::settle(conn, &name)).await {
            log::warn!("removed picture not settled (the sweeper will): {error}");
        }
    }
}
