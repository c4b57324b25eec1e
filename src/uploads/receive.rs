//! Streams the `profile_pic` part of a multipart body to a temporary file inside `UPLOAD_DIR`,
//! enforcing `MAX_UPLOAD_BYTES` and the type check as bytes arrive, re-encodes it into a second
//! temporary file on the picture threads, and hands that over to be stored (see `storage`).
//! Both temporary files belong to the request's future, never to the re-encoding: when
//! anything fails, the client goes away or the deadline passes (the future is dropped), they
//! are removed at once, and the re-encoding is told to stop.

use std::{os::unix::fs::PermissionsExt, path::Path};

use actix_multipart::{Field, Multipart};
use actix_web::web;
use futures_util::TryStreamExt;
use tempfile::{NamedTempFile, TempPath};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::{
    filename::{secure_filename, stored_name},
    reencode::{Abandoned, reencode},
    sniff::{ImageType, SNIFF_LEN},
};
use crate::{cpu_pool::CpuPool, error::ApiError};

/// The multipart field the website's form sends.
pub const FIELD_NAME: &str = "profile_pic";
/// Temporary names start with a dot: `secure_filename` never produces one, so they can neither
/// collide with a stored picture nor be served.
const TEMP_PREFIX: &str = ".upload-";
const STORED_FILE_MODE: u32 = 0o644;
/// Per upload in flight: large enough that a 5 MiB picture takes a handful of disk writes.
const WRITE_BUFFER_BYTES: usize = 512 * 1024;
/// The website's form sends one part; a body of thousands of tiny parts is refused early.
const MAX_PARTS: usize = 16;

/// An upload's limits and where its temporary files are written.
pub struct UploadPlan<'a> {
    pub scratch_dir: &'a Path,
    pub max_bytes: u64,
    pub images: &'a CpuPool,
}

/// A picture received and re-encoded, to be stored under `name`; its temporary file goes
/// when `clean` is dropped.
pub struct Received {
    pub name: String,
    pub kind: ImageType,
    pub clean: TempPath,
}

/// Receives the first `profile_pic` part, to be stored as `<user id>_<safe filename>`,
/// re-encoded on the picture threads.
pub async fn receive_profile_pic(
    mut payload: Multipart,
    user_id: i64,
    plan: UploadPlan<'_>,
) -> Result<Received, ApiError> {
    let upload_dir = plan.scratch_dir;
    let mut budget = ByteBudget::new(plan.max_bytes);
    let mut parts = 0;
    while let Some(mut field) = payload.try_next().await? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::MalformedMultipart);
        }
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
        let stored_name = stored_name(user_id, &safe);

        // Held to the end of this scope: its drop removes the streamed file.
        let (raw, _raw_path) =
            stream_to_temp_file(&mut field, upload_dir, claimed, &mut budget).await?;
        let clean = reencode_to_temp_file(raw, upload_dir, claimed, plan.images).await?;
        return Ok(Received { name: stored_name, kind: claimed, clean });
    }
    Err(ApiError::NoFileUploaded)
}

async fn stream_to_temp_file(
    field: &mut Field,
    upload_dir: &Path,
    claimed: ImageType,
    budget: &mut ByteBudget,
) -> Result<(std::fs::File, TempPath), ApiError> {
    let dir = upload_dir.to_owned();
    let temp = web::block(move || new_temp_file(&dir)).await??;
    let (file, temp_path) = temp.into_parts();
    // Each write to a tokio file is a hop to the blocking pool; multipart chunks are a few KiB,
    // so they are gathered into writes of WRITE_BUFFER_BYTES.
    let mut file = BufWriter::with_capacity(WRITE_BUFFER_BYTES, tokio::fs::File::from_std(file));

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
    Ok((file.into_inner().into_std().await, temp_path))
}

/// A temporary file in `dir`, named so that it is never served and never collides.
fn new_temp_file(dir: &Path) -> std::io::Result<NamedTempFile> {
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        // tempfile's 0600 would hide pictures from a web server or sidecar reading the
        // volume under another user.
        .permissions(std::fs::Permissions::from_mode(STORED_FILE_MODE))
        .tempfile_in(dir)
}

/// Decodes the streamed file and writes it anew (see `reencode`) into a second temporary file,
/// on the picture threads. The re-encoding gets open files, not paths: the caller's dropped
/// `TempPath`s remove both files at once, whatever the re-encoding is doing, and the guard
/// tells it to stop.
async fn reencode_to_temp_file(
    raw: std::fs::File,
    upload_dir: &Path,
    kind: ImageType,
    images: &CpuPool,
) -> Result<TempPath, ApiError> {
    let dir = upload_dir.to_owned();
    let (clean, clean_path) = web::block(move || new_temp_file(&dir)).await??.into_parts();
    let guard = AbandonOnDrop(Abandoned::default());
    let abandoned = guard.0.clone();
    images.run(move || reencode(raw, kind, clean, &abandoned)).await??;
    Ok(clean_path)
}

/// Marks the re-encoding abandoned when the future waiting for it is dropped (or is done).
struct AbandonOnDrop(Abandoned);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

fn check_type(head: &[u8], claimed: ImageType) -> Result<(), ApiError> {
    match ImageType::from_magic(head) {
        Some(found) if found == claimed => Ok(()),
        _ => Err(ApiError::InvalidFileType),
    }
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
        self.left = self.left.checked_sub(bytes as u64).ok_or(ApiError::FileTooLarge)?;
        Ok(())
    }
}

/// Removes the temporary files of uploads that can no longer finish (their process was killed:
/// a dropped upload removes its own): those untouched for `older_than`, which is longer than
/// any upload may take, so a replica sharing the folder never loses one in flight. Returns
/// how many went.
pub fn sweep_abandoned(
    upload_dir: &Path,
    older_than: std::time::Duration,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(upload_dir)? {
        let entry = entry?;
        let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        let idle = entry.metadata()?.modified()?.elapsed().unwrap_or_default();
        if is_temp && idle > older_than {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use actix_web::{
        http::header::{self, HeaderMap, HeaderValue},
        web::Bytes,
    };
    use futures_util::{StreamExt, stream};

    use super::*;
    use crate::uploads::storage::PictureStorage;

    /// A multipart body holding one `profile_pic` part, delivered `chunk` bytes at a time.
    fn multipart(filename: &str, picture: &[u8], chunk: usize) -> Multipart {
        let mut body = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"profile_pic\"; filename=\"{filename}\"\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(picture);
        body.extend_from_slice(b"\r\n--XX--\r\n");
        let chunks: Vec<Result<Bytes, actix_web::error::PayloadError>> =
            body.chunks(chunk).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=XX"),
        );
        // Each chunk after a yield: the parser cannot gather several into one read.
        let trickle = stream::iter(chunks).then(|chunk| async {
            actix_web::rt::task::yield_now().await;
            chunk
        });
        Multipart::new(&headers, Box::pin(trickle))
    }

    /// One picture thread and the folder as scratch space; leaked, as a test's plan lives
    /// as long as the test.
    fn plan(dir: &Path) -> UploadPlan<'static> {
        let limits = crate::cpu_pool::QueueLimits {
            capacity: 1,
            max_wait: std::time::Duration::from_secs(10),
        };
        let images = Box::leak(Box::new(CpuPool::new("image", 1, limits).unwrap()));
        let scratch_dir = Box::leak(dir.to_owned().into_boxed_path());
        UploadPlan { scratch_dir, max_bytes: 1 << 20, images }
    }

    fn png() -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(3, 2, image::Rgb([200, 10, 10]))
            .write_to(&mut bytes, image::ImageFormat::Png)
            .unwrap();
        bytes.into_inner()
    }

    #[actix_web::test]
    async fn png_sent_one_byte_per_chunk_is_sniffed_and_stored() {
        let dir = tempfile::TempDir::new().unwrap();
        let received =
            receive_profile_pic(multipart("a.png", &png(), 1), 7, plan(dir.path())).await.unwrap();
        assert_eq!(received.name, "7_a.png");
        let storage = PictureStorage::Disk(dir.path().to_owned());
        storage.put(received.clean, "7_a.png", ImageType::Png).await.unwrap();
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["7_a.png"]);
    }

    #[actix_web::test]
    async fn wrong_magic_split_over_chunks_is_refused_leaving_nothing() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut fake = b"GIF89a".to_vec();
        fake.extend_from_slice(&png()[6..]);
        let result = receive_profile_pic(multipart("a.png", &fake, 1), 7, plan(dir.path())).await;
        assert!(matches!(result, Err(ApiError::InvalidFileType)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
