//! `UPLOAD_DIR`, `MAX_UPLOAD_BYTES`, `IMAGE_*` and `STORAGE`/`S3_*`: what an upload may cost,
//! and where pictures live.

use std::path::PathBuf;

use super::source::{SettingsError, Source, http_url, invalid};
use crate::uploads::{bucket::S3Settings, storage::StorageSettings};

#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// How long an upload may take from its first byte to its last (slow clients hold a
    /// connection and a temporary file).
    pub timeout_secs: u64,
    /// Threads pictures are decoded on; unset, one per core.
    pub image_threads: Option<usize>,
    /// Pictures that may wait for a thread; one more is answered 503 at once.
    pub image_queue_capacity: usize,
    /// How long a picture may wait for a thread before it is dropped with 503.
    pub image_max_wait_ms: u64,
}

impl UploadSettings {
    pub(super) fn read(source: &Source) -> Result<Self, SettingsError> {
        Ok(UploadSettings {
            dir: source.parsed("UPLOAD_DIR")?,
            max_bytes: source.positive("MAX_UPLOAD_BYTES")?,
            timeout_secs: source.positive("UPLOAD_TIMEOUT_SECS")?,
            image_threads: source.optional_positive("IMAGE_THREADS")?,
            image_queue_capacity: source.positive("IMAGE_QUEUE_CAPACITY")?,
            image_max_wait_ms: source.positive("IMAGE_MAX_WAIT_MS")?,
        })
    }
}

pub(super) fn storage(source: &Source) -> Result<StorageSettings, SettingsError> {
    let kind: String = source.parsed("STORAGE")?;
    match kind.trim() {
        "fs" => Ok(StorageSettings::Fs),
        "s3" => {
            let bucket: String = source.parsed("S3_BUCKET")?;
            if bucket.trim().is_empty() {
                return Err(invalid("S3_BUCKET", "is required when STORAGE=s3"));
            }
            let access_key_id = source.optional("AWS_ACCESS_KEY_ID")?;
            let secret_access_key = source.optional("AWS_SECRET_ACCESS_KEY")?;
            if access_key_id.is_some() != secret_access_key.is_some() {
                return Err(invalid(
                    "AWS_SECRET_ACCESS_KEY",
                    "and AWS_ACCESS_KEY_ID must be set together",
                ));
            }
            Ok(StorageSettings::S3(S3Settings {
                bucket,
                endpoint: source.optional_checked("S3_ENDPOINT", |url: &String| http_url(url))?,
                region: source.parsed("S3_REGION")?,
                prefix: source.optional("S3_PREFIX")?.unwrap_or_default(),
                force_path_style: source.parsed("S3_FORCE_PATH_STYLE")?,
                access_key_id,
                secret_access_key,
                public_url: source
                    .optional_checked("S3_PUBLIC_URL", |url: &String| http_url(url))?
                    .map(|url| url.trim_end_matches('/').to_owned()),
            }))
        }
        other => Err(invalid("STORAGE", format!("{other:?} is neither fs nor s3"))),
    }
}
