//! A picture's life: received and stored (noted as unsettled first), named in its user's row
//! (settling it), and removed when no row names it — by the upload that replaced it, by the
//! account's deletion, or by the sweeper when a replica died in between.

use actix_multipart::Multipart;
use chrono::NaiveDateTime;
use diesel::Connection;

use crate::{
    db::{
        self, unsettled_pictures,
        users::{self, User},
    },
    error::ApiError,
    state::AppState,
    uploads::receive::{self, UploadPlan, receive_profile_pic},
    webhooks::events,
};

/// How long after its deadline an unfinished upload's picture is left before the sweeper may
/// remove it (clocks of replicas differ a little).
const SETTLE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);
/// Unsettled pictures checked per sweep; more wait for the next one.
const PER_SWEEP: i64 = 100;

/// Receives, re-encodes and stores the user's picture, and returns its name and size. It is
/// noted as unsettled first: should this replica die before a row names it, the sweeper
/// removes it.
pub async fn store(
    state: &AppState,
    user_id: i64,
    payload: Multipart,
) -> Result<(String, u64), ApiError> {
    let uploads = &state.uploads;
    let plan = UploadPlan {
        scratch_dir: &uploads.dir,
        max_bytes: uploads.max_bytes,
        images: &uploads.images,
    };
    let received = receive_profile_pic(payload, user_id, plan).await?;
    let name = received.name.clone();
    // Past this the upload has ended, whatever became of it.
    let settle_after = chrono::Utc::now().naive_utc() + uploads.timeout + SETTLE_MARGIN;
    db::run(&state.db, move |conn| unsettled_pictures::note(conn, &name, settle_after)).await?;
    let bytes = uploads.storage.put(received.clean, &received.name, received.kind).await?;
    Ok((received.name, bytes))
}

/// Points the user's row at the stored picture (settling it) and removes whichever picture no
/// row names: the previous one, or the new one when the row could not be changed.
pub async fn name_in_the_row(state: &AppState, user: &User, stored: &str) -> Result<(), ApiError> {
    let (user_id, name) = (user.id, stored.to_owned());
    let replaced = db::run(&state.db, move |conn| {
        conn.transaction(|conn| {
            let previous = users::replace_profile_pic(conn, user_id, &name)?;
            if let Some(previous) = &previous {
                unsettled_pictures::settle(conn, &name)?;
                events::user_updated(conn, user_id, ("profile_pic", &name))?;
                if let Some(old) = previous.profile_pic.as_deref().filter(|old| *old != name) {
                    unsettled_pictures::note(conn, old, chrono::Utc::now().naive_utc())?;
                }
            }
            Ok::<_, diesel::result::Error>(previous)
        })
    })
    .await
    .and_then(|previous| previous.ok_or(ApiError::UserNotFound));
    let unnamed = match &replaced {
        Ok(previous) => previous.profile_pic.as_deref().filter(|previous| *previous != stored),
        // The account was deleted meanwhile: nothing names the new picture.
        Err(ApiError::UserNotFound) => Some(stored),
        // The row still names the old picture, unless the new one has the same name.
        Err(_) => Some(stored).filter(|stored| user.profile_pic.as_deref() != Some(*stored)),
    };
    if let Some(unnamed) = unnamed {
        remove_unnamed(state, unnamed).await;
    }
    replaced.map(drop)
}

/// Removes a noted picture no row names, then settles it; what fails is left to the sweeper.
pub async fn remove_unnamed(state: &AppState, name: &str) {
    if state.uploads.storage.remove(name).await {
        let name = name.to_owned();
        if let Err(error) =
            db::run(&state.db, move |conn| unsettled_pictures::settle(conn, &name)).await
        {
            log::warn!("removed picture not settled (the sweeper will): {error}");
        }
    }
}

/// Removes the temporary files of uploads a crash cut off, once idle past any upload's deadline
/// and its margin: no upload, of this replica or another sharing the folder, still writes them.
/// (The start removes those idle twice as long, before any upload of its own begins.)
pub async fn sweep_temporary_files(state: &AppState) -> Result<usize, ApiError> {
    let (dir, idle) = (state.uploads.dir.clone(), state.uploads.timeout + SETTLE_MARGIN);
    Ok(actix_web::web::block(move || receive::sweep_abandoned(&dir, idle)).await??)
}

/// Removes the pictures noted as unsettled before `now` that no row names, and settles them;
/// returns how many went. One the store does not remove stays noted for the next sweep.
pub async fn sweep(state: &AppState, now: NaiveDateTime) -> Result<usize, ApiError> {
    let unnamed =
        db::run(&state.db, move |conn| unsettled_pictures::due_and_unnamed(conn, now, PER_SWEEP))
            .await?;
    let mut removed = 0;
    for name in unnamed {
        if state.uploads.storage.remove(&name).await {
            db::run(&state.db, move |conn| unsettled_pictures::settle_if_due(conn, &name, now))
                .await?;
            removed += 1;
        }
    }
    if removed > 0 {
        log::info!("removed {removed} stored pictures that no account names");
    }
    Ok(removed)
}
