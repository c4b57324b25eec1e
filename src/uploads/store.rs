//! Streams the `profile_pic` part of a multipart body to a temporary file inside `UPLOAD_DIR`,
//! enforcing `MAX_UPLOAD_BYTES` and the type check as bytes arrive, then renames it into place.
//! The temporary file is deleted when anything fails, including the client going away (the
//! handler's future is dropped, and the file with it).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use actix_multipart::{Field, Multipart};
use actix_web::web;
use futures_util::TryStreamExt;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use super::{
    filename::secure_filename,
    sniff::{ImageType, SNIFF_LEN},
};
use crate::error::ApiError;

/// The multipart field the website's form sends.
pub const FIELD_NAME: &str = "profile_pic";
/// Temporary names start with a dot: `secure_filename` never produces one, so they can neither
/// collide with a stored picture nor be served.
const TEMP_PREFIX: &str = ".upload-";
const STORED_FILE_MODE: u32 = 0o644;

/// Stores the first `profile_pic` part as `<user id>_<safe filename>` and returns that name.
pub async fn store_profile_pic(
    mut payload: Multipart,
    user_id: i64,
    upload_dir: &Path,
    max_upload_bytes: u64,
) -> Result<String, ApiError> {
    let mut budget = ByteBudget::new(max_upload_bytes);
    while let Some(mut field) = payload.try_next().await? {
        if field.name() != Some(FIELD_NAME) {
            while let Some(chunk) = field.try_next().await? {
                budget.spend(chunk.len())?;
            }
            continue;
        }
        let original = field
            .content_disposition()
            .and_then(|disposition| disposition.get_filename())
            .unwrap_or_default();
        if original.is_empty() {
            return Err(ApiError::NoFileUploaded);
        }
        let safe = secure_filename(original);
        let claimed = ImageType::from_extension(&safe).ok_or(ApiError::InvalidFileType)?;
        let stored_name = format!("{user_id}_{safe}");

        let temp = stream_to_temp_file(&mut field, upload_dir, claimed, &mut budget).await?;
        let target = upload_dir.join(&stored_name);
        persist(temp, target).await?;
        return Ok(stored_name);
    }
    Err(ApiError::NoFileUploaded)
}

async fn stream_to_temp_file(
    field: &mut Field,
    upload_dir: &Path,
    claimed: ImageType,
    budget: &mut ByteBudget,
) -> Result<TempPath, ApiError> {
    let dir = upload_dir.to_owned();
    let temp = web::block(move || {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            // tempfile's 0600 would hide pictures from a web server or sidecar reading the
            // volume under another user.
            .permissions(std::fs::Permissions::from_mode(STORED_FILE_MODE))
            .tempfile_in(dir)
    })
    .await??;
    let (file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(file);

    // The magic bytes may arrive split over several chunks.
    let mut head = Vec::with_capacity(SNIFF_LEN);
    while let Some(chunk) = field.try_next().await? {
        budget.spend(chunk.len())?;
        if head.len() < SNIFF_LEN {
            let wanted = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
            if head.len() == SNIFF_LEN {
                check_type(&head, claimed)?;
            }
        }
        file.write_all(&chunk).await?;
    }
    if head.len() < SNIFF_LEN {
        check_type(&head, claimed)?;
    }
    file.flush().await?;
    Ok(temp_path)
}

fn check_type(head: &[u8], claimed: ImageType) -> Result<(), ApiError> {
    match ImageType::from_magic(head) {
        Some(found) if found == claimed => Ok(()),
        _ => Err(ApiError::InvalidFileType),
    }
}

/// Renames the finished file into place (atomic within `UPLOAD_DIR`, replacing a picture of
/// the same name).
async fn persist(temp: TempPath, target: PathBuf) -> Result<(), ApiError> {
    web::block(move || temp.persist(target))
        .await?
        .map_err(|e| ApiError::internal(e.error))
}

/// Every byte of the body counts against `MAX_UPLOAD_BYTES`, other parts included, so a client
/// cannot make the service read an unbounded body.
struct ByteBudget {
    left: u64,
}

impl ByteBudget {
    fn new(max: u64) -> Self {
        ByteBudget { left: max }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), ApiError> {
        self.left = self
            .left
            .checked_sub(bytes as u64)
            .ok_or(ApiError::FileTooLarge)?;
        Ok(())
    }
}

/// Deletes a picture that no row names any more. A failure is logged, not answered: the
/// upload it follows has succeeded.
pub async fn remove_stored_picture(upload_dir: &Path, stored_name: &str) {
    // Names come from the database; only ever delete a plain file name inside UPLOAD_DIR.
    if stored_name.is_empty() || secure_filename(stored_name) != stored_name {
        log::warn!("not removing picture with unsafe name {stored_name:?}");
        return;
    }
    match tokio::fs::remove_file(upload_dir.join(stored_name)).await {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => log::warn!("cannot remove old picture {stored_name}: {error}"),
    }
}
