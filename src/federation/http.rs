//! The HTTP client every provider is reached with: the service's reqwest over rustls, no
//! redirect followed, bounded in time and in the size of an answer.

use std::time::Duration;

use openidconnect::{HttpRequest, HttpResponse};

/// A provider's answer (a discovery document, keys, tokens, an API's JSON) is small.
const MAX_ANSWER_BYTES: usize = 1 << 20;

pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent("auth-service")
        .build()
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Request(#[from] reqwest::Error),
    #[error("{0}")]
    Response(#[from] openidconnect::http::Error),
    #[error("the answer is over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
}

/// Sends `request` as openidconnect builds it, and reads its answer.
pub async fn send(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let response = http.execute(request.try_into()?).await?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = limited(response).await?;
    Ok(answer.body(body)?)
}

/// A response's body, refused past `MAX_ANSWER_BYTES`.
pub async fn limited(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
