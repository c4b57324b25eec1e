//! `STORAGE=s3`: pictures as objects in an S3-compatible bucket, through Apache Arrow's
//! `object_store`. Its HTTP connections live on a runtime of their own: actix's workers are
//! one runtime each, and a connection opened on one would be woken by that worker alone.

use std::{fmt, sync::Arc, time::Duration};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, HeaderValue},
    },
};
use futures_util::{StreamExt, TryStreamExt};
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, MultipartUpload, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
    aws::{AmazonS3, AmazonS3Builder},
    client::SpawnedReqwestConnector,
    path::Path,
};
use tokio::io::AsyncReadExt;

use super::sniff::ImageType;
use crate::error::ApiError;

/// The bucket of `STORAGE=s3`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// Any S3-compatible server; unset, AWS's endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Prepended to every object's key (`pictures/` gives `pictures/7_a.png`).
    pub prefix: String,
    /// `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (most
    /// self-hosted servers want it).
    pub force_path_style: bool,
    /// Unset, the instance's or container's role (AWS's metadata endpoint) is asked.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Where browsers fetch pictures straight from the store or a CDN in front of it:
    /// `profile_pic_url` is this followed by the object's key.
    pub public_url: Option<String>,
}

/// Keys stay out of logs and error messages.
impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("force_path_style", &self.force_path_style)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// S3's smallest part but the last: an upload holds at most one part in memory.
pub const PART_BYTES: usize = 5 * 1024 * 1024;
/// A store that does not answer fails the request quickly (503) instead of holding it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The object every readiness probe asks for; that it does not exist is the answer wanted.
const PROBE_KEY: &str = ".readyz";

#[derive(Debug, thiserror::Error)]
#[error("S3 storage: {0}")]
pub struct BucketError(#[from] object_store::Error);

pub struct Bucket {
    store: Arc<AmazonS3>,
    prefix: Option<Path>,
    public_url: Option<String>,
    io: IoRuntime,
}

impl Bucket {
    /// The bucket of the settings, on a runtime of its own; nothing is sent until it is used.
    pub fn new(settings: &S3Settings) -> Result<Self, BucketError> {
        install_tls_provider();
        let io = IoRuntime::start().map_err(|error| {
            BucketError(object_store::Error::Generic { store: "S3", source: error.into() })
        })?;
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_virtual_hosted_style_request(!settings.force_path_style)
            .with_http_connector(SpawnedReqwestConnector::new(io.handle()))
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(REQUEST_TIMEOUT),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(1),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: Duration::from_secs(5),
            });
        if let Some(endpoint) = &settings.endpoint {
            builder =
                builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        let prefix = settings.prefix.trim_matches('/');
        Ok(Bucket {
            store: Arc::new(builder.build()?),
            prefix: (!prefix.is_empty()).then(|| Path::from(prefix)),
            public_url: settings.public_url.clone(),
            io,
        })
    }

    /// The object's key: the prefix, then the stored name.
    pub fn key(&self, stored_name: &str) -> Path {
        match &self.prefix {
            Some(prefix) => prefix.clone().join(stored_name),
            None => Path::from(stored_name),
        }
    }

    /// `S3_PUBLIC_URL` followed by the object's key, when set.
    pub fn public_url(&self, stored_name: &str) -> Option<String> {
        self.public_url.as_ref().map(|base| format!("{base}/{}", self.key(stored_name)))
    }

    /// Uploads `file` as `stored_name`: in one request when it fits in a part, else part by
    /// part. A multipart upload that fails, or whose future is dropped (the client went away,
    /// the deadline passed), is aborted, so the bucket keeps no parts of it.
    pub async fn put(
        &self,
        file: tokio::fs::File,
        size: u64,
        stored_name: &str,
        kind: ImageType,
    ) -> Result<(), ApiError> {
        let key = self.key(stored_name);
        let attributes = object_attributes(kind);
        let mut file = file.take(size);
        if size <= PART_BYTES as u64 {
            let part = read_part(&mut file).await?;
            let options = PutOptions { attributes, ..PutOptions::default() };
            self.store.put_opts(&key, part, options).await.map_err(unavailable)?;
            return Ok(());
        }
        let options = PutMultipartOptions { attributes, ..PutMultipartOptions::default() };
        let upload = self.store.put_multipart_opts(&key, options).await.map_err(unavailable)?;
        let mut upload = AbortOnDrop { upload: Some(upload), io: self.io.handle() };
        loop {
            let part = read_part(&mut file).await?;
            if part.content_length() == 0 {
                break;
            }
            upload.part().put_part(part).await.map_err(unavailable)?;
        }
        upload.part().complete().await.map_err(unavailable)?;
        upload.upload = None;
        Ok(())
    }

    /// The stored picture, streamed, with its type, ETag and Last-Modified; 304 when the
    /// client's copy is current.
    pub async fn response(
        &self,
        req: &HttpRequest,
        stored_name: &str,
    ) -> Result<HttpResponse, ApiError> {
        let if_none_match = header_text(req, header::IF_NONE_MATCH);
        let options = GetOptions {
            // RFC 9110 §13.1.3: If-Modified-Since counts only without If-None-Match.
            if_modified_since: if if_none_match.is_none() {
                header_text(req, header::IF_MODIFIED_SINCE)
                    .and_then(|date| chrono::DateTime::parse_from_rfc2822(&date).ok())
                    .map(|date| date.to_utc())
            } else {
                None
            },
            if_none_match: if_none_match.clone(),
            ..GetOptions::default()
        };
        let object = match self.store.get_opts(&self.key(stored_name), options).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => return Err(ApiError::NotFound),
            Err(object_store::Error::NotModified { .. }) => {
                let mut response = HttpResponse::build(StatusCode::NOT_MODIFIED);
                if let Some(tag) = if_none_match.filter(|tags| !tags.contains(',')) {
                    response.insert_header((header::ETAG, tag));
                }
                return Ok(response.finish());
            }
            Err(error) => return Err(unavailable(error)),
        };
        let mut response = HttpResponse::Ok();
        // From the name, never from the object: whoever else writes to the bucket chooses its
        // attributes.
        let content_type = ImageType::from_extension(stored_name)
            .map_or("application/octet-stream", ImageType::mime);
        response.insert_header((header::CONTENT_TYPE, content_type));
        if let Some(tag) = &object.meta.e_tag {
            response.insert_header((header::ETAG, tag.as_str()));
        }
        let modified = std::time::SystemTime::from(object.meta.last_modified);
        response.insert_header((header::LAST_MODIFIED, header::HttpDate::from(modified)));
        let size = object.meta.size;
        let body = object.into_stream().map_err(|error| {
            log::warn!("S3 storage: reading a picture: {error}");
            std::io::Error::other("storage")
        });
        Ok(response.no_chunking(size).streaming(body.boxed()))
    }

    /// Deletes the object (a missing one is no error).
    pub async fn remove(&self, stored_name: &str) -> Result<(), String> {
        match self.store.delete(&self.key(stored_name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(BucketError(error).to_string()),
        }
    }

    /// Whether the store answers: a request for an object that does not exist.
    pub async fn check(&self) -> Result<(), BucketError> {
        match self.store.head(&self.key(PROBE_KEY)).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(BucketError(error)),
        }
    }

    /// The object's size, when it exists (`storage migrate` skips what is there).
    pub async fn size_of(&self, stored_name: &str) -> Result<Option<u64>, BucketError> {
        match self.store.head(&self.key(stored_name)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(BucketError(error)),
        }
    }
}

/// reqwest's rustls is built without a crypto provider (and panics building a client without
/// one): ring, as lettre's, for the whole process. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// What the store sends back with the object: its type, and the cache policy of
/// `GET /uploads/…` for a browser or CDN fetching it from the store itself.
fn object_attributes(kind: ImageType) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, kind.mime().into());
    attributes.insert(Attribute::CacheControl, "public, no-cache".into());
    attributes
}

/// Up to a part's bytes of `file`.
async fn read_part(file: &mut tokio::io::Take<tokio::fs::File>) -> Result<PutPayload, ApiError> {
    let mut part = Vec::with_capacity(PART_BYTES.min(file.limit() as usize));
    (&mut *file).take(PART_BYTES as u64).read_to_end(&mut part).await?;
    Ok(PutPayload::from(part))
}

fn header_text(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    req.headers().get(name).and_then(|value: &HeaderValue| value.to_str().ok()).map(str::to_owned)
}

/// A store that fails or does not answer: the upload or read is answered 503.
fn unavailable(error: object_store::Error) -> ApiError {
    ApiError::StorageUnavailable(Box::new(BucketError(error)))
}

/// A multipart upload that is aborted unless it completed.
struct AbortOnDrop {
    upload: Option<Box<dyn MultipartUpload>>,
    io: tokio::runtime::Handle,
}

impl AbortOnDrop {
    fn part(&mut self) -> &mut Box<dyn MultipartUpload> {
        self.upload.as_mut().expect("an upload in progress")
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(mut upload) = self.upload.take() {
            // The request's future is gone: the abort runs on the storage runtime.
            self.io.spawn(async move {
                if let Err(error) = upload.abort().await {
                    log::warn!("S3 storage: cannot abort a multipart upload: {error}");
                }
            });
        }
    }
}

/// The runtime the store's connections live on: one thread, shut down without waiting when
/// the application goes (dropping a runtime inside another would panic).
struct IoRuntime(Option<tokio::runtime::Runtime>);

impl IoRuntime {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("storage-io")
            .enable_all()
            .build()?;
        Ok(IoRuntime(Some(runtime)))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0.as_ref().expect("a running runtime").handle().clone()
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
