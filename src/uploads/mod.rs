//! Profile pictures: safe names, type sniffing, and streaming storage.

pub mod filename;
pub mod reencode;
pub mod sniff;
pub mod store;

use actix_web::HttpRequest;

/// The absolute URL of a stored picture: `PUBLIC_URL` when set, else the request's own scheme
/// and host (as Flask's `url_for(..., _external=True)` did).
pub fn picture_url(req: &HttpRequest, public_base_url: Option<&str>, stored_name: &str) -> String {
    match public_base_url {
        Some(base) => format!("{base}/uploads/{stored_name}"),
        None => {
            let info = req.connection_info();
            format!("{}://{}/uploads/{stored_name}", info.scheme(), info.host())
        }
    }
}
