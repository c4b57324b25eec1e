//! A deadline for every request body but an upload's (which has `UPLOAD_TIMEOUT_SECS` and its
//! own size limit): the body is read, at most `MAX_BYTES`, within `REQUEST_BODY_TIMEOUT_SECS`,
//! before the request goes on; a client sending one byte every few seconds is answered 408 and
//! holds nothing. The handlers then read the body from memory.

use std::{
    future::{Ready, ready},
    rc::Rc,
    time::Duration,
};

use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready},
    http::header,
    web::{self, BytesMut},
};
use futures_util::{
    StreamExt, TryFutureExt,
    future::{Either, LocalBoxFuture, MapOk},
};

use crate::error::ApiError;

/// JSON bodies are small (three strings at most); anything larger is refused early.
pub const MAX_BYTES: usize = 16 * 1024;

/// The middleware: how long a body may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

impl<S, B> Transform<S, ServiceRequest> for BodyDeadline
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = BodyDeadlineService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BodyDeadlineService { service: Rc::new(service), deadline: self.0 }))
    }
}

pub struct BodyDeadlineService<S> {
    service: Rc<S>,
    deadline: Duration,
}

type Passed<S, B> = MapOk<
    <S as Service<ServiceRequest>>::Future,
    fn(ServiceResponse<B>) -> ServiceResponse<EitherBody<B>>,
>;

impl<S, B> Service<ServiceRequest> for BodyDeadlineService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    // A hand-written middleware rather than `from_fn`: a request without a body (every GET)
    // goes straight on, with no boxed future of its own.
    type Future = Either<Passed<S, B>, LocalBoxFuture<'static, Result<Self::Response, Error>>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        if !has_body(&req) || is_multipart(&req) {
            let pass: fn(ServiceResponse<B>) -> _ = ServiceResponse::map_into_left_body;
            return Either::Left(self.service.call(req).map_ok(pass));
        }
        let (service, deadline) = (Rc::clone(&self.service), self.deadline);
        Either::Right(Box::pin(async move {
            let payload = req.take_payload();
            match actix_web::rt::time::timeout(deadline, read_body(payload)).await {
                Ok(Ok(body)) => req.set_payload(Payload::from(body)),
                Ok(Err(error)) => return Ok(refuse(req, error)),
                Err(_) => return Ok(refuse(req, ApiError::BodyTimeout)),
            }
            Ok(service.call(req).await?.map_into_left_body())
        }))
    }
}

/// The whole body, or the error its reading ends with.
async fn read_body(mut payload: Payload) -> Result<web::Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::MalformedJson)?;
        if body.len() + chunk.len() > MAX_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// An HTTP/1.1 request without `Content-Length` (or with 0) and without `Transfer-Encoding` has
/// no body (RFC 9112 §6.3): nothing to wait for, and `GET /` pays nothing.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok());
    headers.contains_key(header::TRANSFER_ENCODING)
        || length.is_some_and(|length| length.trim() != "0")
}

fn is_multipart(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("multipart/"))
}

fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response()).map_into_right_body()
}
