//! `GET /uploads/{filename}`: the stored pictures.

use actix_files::NamedFile;
use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{HeaderValue, X_CONTENT_TYPE_OPTIONS},
    web,
};

use crate::{
    error::{ApiError, ErrorBody},
    startup::AppState,
    uploads::filename::secure_filename,
};

#[utoipa::path(
    get,
    path = "/uploads/{filename}",
    tag = "user",
    params(("filename" = String, Path, description = "Stored name, `<user id>_<safe filename>`")),
    responses(
        (status = 200, description = "The image, with its own Content-Type", content_type = "image/*"),
        (status = 404, description = "Not found", body = ErrorBody),
    )
)]
pub async fn serve_upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    filename: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    // Only names this service could have stored: no path parts, no dot files (temporary
    // uploads start with a dot), so nothing outside UPLOAD_DIR or half-written is served.
    let filename = filename.into_inner();
    if filename.is_empty() || secure_filename(&filename) != filename {
        return Err(ApiError::NotFound);
    }
    let path = state.upload_dir.join(&filename);
    let file = web::block(move || NamedFile::open(path))
        .await?
        .map_err(|_| ApiError::NotFound)?;
    let mut response = file.into_response(&req);
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}
