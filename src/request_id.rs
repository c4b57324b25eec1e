//! A request id on every request: the trusted proxy's `X-Request-Id` when there is one, else a
//! new UUID. It is echoed in the response's `X-Request-Id` and written on every log line the
//! request causes (`current()`, read by the log formatter).

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};

use crate::client_ip::TrustedProxies;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longer ids, or other characters, from a proxy are replaced: they end up in log lines.
const MAX_LEN: usize = 128;

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request whose handler is running on this task, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = from_trusted_proxy(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = CURRENT.scope(id.clone(), next.call(req)).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

/// The proxy's id, believed only from a peer in `TRUSTED_PROXIES` (anyone else could choose
/// the id of another request's log lines).
fn from_trusted_proxy(req: &ServiceRequest) -> Option<String> {
    let proxies = req.app_data::<web::Data<TrustedProxies>>()?;
    let peer = req.peer_addr()?.ip();
    if !proxies.trusts(peer.to_canonical()) {
        return None;
    }
    let value = req.headers().get(HEADER)?.to_str().ok()?;
    is_acceptable(value).then(|| value.to_owned())
}

fn is_acceptable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::is_acceptable;

    #[test]
    fn proxy_ids_are_short_and_plain() {
        assert!(is_acceptable("3f2b9c1e-8d4a-4f7e-9b1a-2c3d4e5f6a7b"));
        // nginx's $request_id.
        assert!(is_acceptable("0a3f6c9be41d2f7f8a6b1c2d3e4f5a6b"));
        for refused in ["", "a b", "id\nforged log line", "\"quoted\"", &"x".repeat(129)] {
            assert!(!is_acceptable(refused), "{refused:?}");
        }
    }

    proptest! {
        #[test]
        fn an_accepted_id_cannot_break_a_log_line(id in "\\PC{0,200}") {
            if is_acceptable(&id) {
                prop_assert!(id.bytes().all(|b| b.is_ascii_graphic()));
                prop_assert!(!id.contains('"') && !id.contains('\\'));
            }
        }
    }
}
