//! Profile pictures: safe names, type sniffing, an upload received and re-encoded (`receive`),
//! and where stored pictures live (`storage`: the folder or a bucket).

pub mod bucket;
pub mod filename;
pub mod migrate;
pub mod receive;
pub mod reencode;
pub mod sniff;
pub mod storage;

use actix_web::{HttpRequest, http::header, web};

use crate::client_ip::TrustedProxies;

/// The absolute URL of a stored picture: `PUBLIC_URL` when set, else the scheme and host the
/// request was made to (as Flask's `url_for(..., _external=True)` did). Forwarded headers
/// (`X-Forwarded-Host`, `X-Forwarded-Proto`, `Forwarded`) are believed only from a peer in
/// `TRUSTED_PROXIES`, and the scheme only when it is http or https: anyone else could make the
/// service hand out `javascript://evil.example/…`.
pub fn picture_url(req: &HttpRequest, public_base_url: Option<&str>, stored_name: &str) -> String {
    if let Some(base) = public_base_url {
        return format!("{base}/uploads/{stored_name}");
    }
    let via_trusted_proxy = req.app_data::<web::Data<TrustedProxies>>().is_some_and(|proxies| {
        req.peer_addr().is_some_and(|peer| proxies.trusts(peer.ip().to_canonical()))
    });
    let (scheme, host) = if via_trusted_proxy {
        let info = req.connection_info();
        let scheme = if info.scheme() == "https" { "https" } else { "http" };
        (scheme, info.host().to_owned())
    } else {
        let host = req.headers().get(header::HOST).and_then(|value| value.to_str().ok());
        ("http", host.unwrap_or_else(|| req.app_config().host()).to_owned())
    };
    let host = if is_plain_authority(&host) { host } else { req.app_config().host().to_owned() };
    format!("{scheme}://{host}/uploads/{stored_name}")
}

/// A host name or address with an optional port, nothing that could end the authority early.
fn is_plain_authority(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}
