//! `GET /uploads/{filename}`: the stored pictures.

use actix_web::{
    HttpRequest, HttpResponse,
    http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue, X_CONTENT_TYPE_OPTIONS},
    web,
};

use crate::{
    error::{ApiError, ErrorBody},
    state::AppState,
    uploads::storage::is_stored_name,
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
    if !is_stored_name(&filename) {
        return Err(ApiError::NotFound);
    }
    let mut response = state.uploads.storage.response(&req, &filename).await?;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // An image needs no script, style or frame; should a browser ever render one as a
    // document, it is sandboxed (OWASP File Upload cheat sheet).
    headers
        .insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    // A re-upload under the same name keeps the URL: caches revalidate (ETag, Last-Modified)
    // instead of showing the old picture.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, no-cache"));
    Ok(response)
}
