//! Where stored pictures live: files in `UPLOAD_DIR`, or objects in a bucket. Either way a
//! picture is written whole or not at all, read back streamed, and deleted by its name.

use std::{fs::OpenOptions, os::unix::fs::OpenOptionsExt, path::PathBuf};

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, web};
use tempfile::TempPath;

use super::{
    bucket::{Bucket, BucketError, S3Settings},
    filename::secure_filename,
    sniff::ImageType,
};
use crate::error::ApiError;

/// `STORAGE`: the pictures in `UPLOAD_DIR` (`fs`) or in an S3-compatible bucket (`s3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageSettings {
    Fs,
    S3(S3Settings),
}

pub enum PictureStorage {
    /// `STORAGE=fs`: one file per picture in `UPLOAD_DIR`.
    Disk(PathBuf),
    /// `STORAGE=s3`.
    Bucket(Bucket),
}

impl PictureStorage {
    /// Stores the finished, re-encoded picture as `stored_name` (replacing one of that name)
    /// and returns its size. The temporary file goes when `clean` is dropped, whatever happens.
    pub async fn put(
        &self,
        clean: TempPath,
        stored_name: &str,
        kind: ImageType,
    ) -> Result<u64, ApiError> {
        match self {
            PictureStorage::Disk(dir) => {
                let target = dir.join(stored_name);
                // A rename within UPLOAD_DIR: atomic, so a reader sees the old or the new.
                web::block(move || {
                    let size = std::fs::metadata(&clean)?.len();
                    clean.persist(target).map_err(|error| error.error)?;
                    Ok::<_, std::io::Error>(size)
                })
                .await?
                .map_err(ApiError::internal)
            }
            PictureStorage::Bucket(bucket) => {
                let file = tokio::fs::File::open(&clean).await?;
                let size = file.metadata().await?.len();
                bucket.put(file, size, stored_name, kind).await?;
                Ok(size)
            }
        }
    }

    /// `GET /uploads/{stored_name}`'s picture with its type and validators (ETag,
    /// Last-Modified; 304 for a current copy), streamed.
    pub async fn response(
        &self,
        req: &HttpRequest,
        stored_name: &str,
    ) -> Result<HttpResponse, ApiError> {
        match self {
            PictureStorage::Disk(dir) => {
                let path = dir.join(stored_name);
                let file = web::block(move || open_stored_picture(path))
                    .await?
                    .ok_or(ApiError::NotFound)?;
                Ok(file.into_response(req))
            }
            PictureStorage::Bucket(bucket) => bucket.response(req, stored_name).await,
        }
    }

    /// Deletes a picture that no row names any more (one that is not there is no error); a
    /// failure is logged, and `false`.
    pub async fn remove(&self, stored_name: &str) -> bool {
        // Names come from the database; only ever delete a plain name this service stores.
        if !is_stored_name(stored_name) {
            log::warn!("not removing picture with unsafe name {stored_name:?}");
            return false;
        }
        let removed = match self {
            PictureStorage::Disk(dir) => {
                match tokio::fs::remove_file(dir.join(stored_name)).await {
                    Ok(()) => Ok(()),
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(error) => Err(error.to_string()),
                }
            }
            PictureStorage::Bucket(bucket) => bucket.remove(stored_name).await,
        };
        if let Err(error) = &removed {
            log::warn!("cannot remove picture {stored_name}: {error}");
        }
        removed.is_ok()
    }

    /// Where a browser fetches the picture when not from this service (`S3_PUBLIC_URL`).
    pub fn public_url(&self, stored_name: &str) -> Option<String> {
        match self {
            PictureStorage::Disk(_) => None,
            PictureStorage::Bucket(bucket) => bucket.public_url(stored_name),
        }
    }

    /// Whether pictures can be stored and read: the folder is there, or the bucket answers.
    pub async fn check(&self) -> Result<(), StorageDown> {
        match self {
            PictureStorage::Disk(dir) => {
                let dir = dir.clone();
                match web::block(move || std::fs::metadata(&dir)).await {
                    Ok(Ok(meta)) if meta.is_dir() => Ok(()),
                    _ => Err(StorageDown::Folder),
                }
            }
            PictureStorage::Bucket(bucket) => bucket.check().await.map_err(StorageDown::Bucket),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageDown {
    #[error("UPLOAD_DIR is not a folder")]
    Folder,
    #[error("{0}")]
    Bucket(BucketError),
}

/// The regular file at `path`, never through a symbolic link (one planted in UPLOAD_DIR could
/// point anywhere); `None` for anything else.
fn open_stored_picture(path: PathBuf) -> Option<NamedFile> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    NamedFile::from_file(file, path).ok()
}

/// Whether `name` could be a picture this service stored: `<user id>_<name>.<picture
/// extension>`, with no path parts and no dot files (temporary uploads start with a dot). Only
/// such names are served, copied or removed: `UPLOAD_DIR` or a shared bucket may hold other
/// files (a database, a key, another application's objects).
pub fn is_stored_name(name: &str) -> bool {
    let Some((user_id, rest)) = name.split_once('_') else { return false };
    !user_id.is_empty()
        && user_id.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && ImageType::from_extension(name).is_some()
        && secure_filename(name) == name
}
