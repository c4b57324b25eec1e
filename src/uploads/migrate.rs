//! `auth-service storage migrate`: copies the pictures in `UPLOAD_DIR` into the bucket of
//! `STORAGE=s3`, under the keys the service reads them by. Safe to run again (and while the
//! service runs): a picture already in the bucket with the same size is left alone.

use std::{io::Write, path::Path};

use super::{
    bucket::Bucket,
    sniff::ImageType,
    storage::{StorageSettings, is_stored_name},
};

/// What a run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    pub copied: usize,
    /// In the bucket already, with the same size.
    pub present: usize,
    /// Named like no picture this service stores (temporary files, anything else).
    pub ignored: usize,
}

/// Copies every stored picture of `UPLOAD_DIR` (`dir`) the bucket of `storage` lacks, writing
/// a progress line to `out` after every `every` pictures and a last one at the end.
pub async fn migrate(
    dir: &Path,
    storage: &StorageSettings,
    every: usize,
    out: &mut impl Write,
) -> Result<Migrated, String> {
    let StorageSettings::S3(s3) = storage else {
        return Err("STORAGE is not s3: there is no bucket to copy the pictures to".into());
    };
    let bucket = Bucket::new(s3).map_err(|error| error.to_string())?;
    let (names, ignored) = stored_pictures(dir)
        .map_err(|error| format!("cannot read UPLOAD_DIR {}: {error}", dir.display()))?;
    let mut done = Migrated { ignored, ..Migrated::default() };
    let total = names.len();
    for (at, name) in names.iter().enumerate() {
        copy(&bucket, dir, name, &mut done).await.map_err(|error| format!("{name}: {error}"))?;
        if (at + 1) % every.max(1) == 0 && at + 1 < total {
            progress(out, at + 1, total, &done);
        }
    }
    progress(out, total, total, &done);
    Ok(done)
}

async fn copy(bucket: &Bucket, dir: &Path, name: &str, done: &mut Migrated) -> Result<(), String> {
    let file = tokio::fs::File::open(dir.join(name)).await.map_err(|error| error.to_string())?;
    let size = file.metadata().await.map_err(|error| error.to_string())?.len();
    if bucket.size_of(name).await.map_err(|error| error.to_string())? == Some(size) {
        done.present += 1;
        return Ok(());
    }
    let kind = ImageType::from_extension(name).ok_or("not a picture's name")?;
    bucket.put(file, size, name, kind).await.map_err(|error| error.to_string())?;
    done.copied += 1;
    Ok(())
}

/// The regular files of `dir` named as stored pictures, sorted, and how many others there are.
fn stored_pictures(dir: &Path) -> std::io::Result<(Vec<String>, usize)> {
    let mut names = Vec::new();
    let mut ignored = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let picture = entry.file_type()?.is_file()
            && is_stored_name(&name)
            && ImageType::from_extension(&name).is_some();
        if picture {
            names.push(name);
        } else {
            ignored += 1;
        }
    }
    names.sort();
    Ok((names, ignored))
}

fn progress(out: &mut impl Write, at: usize, total: usize, done: &Migrated) {
    let _ = writeln!(
        out,
        "storage migrate: {at}/{total} pictures: {} copied, {} already in the bucket, {} other files ignored",
        done.copied, done.present, done.ignored
    );
}
