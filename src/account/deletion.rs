//! Deleting an account: its row (sessions, refresh tokens, factors and identities go with it by
//! cascade), a notice that outlives it, and its picture. The user's own `DELETE /api/user` and
//! an operator's deletion both end here.

use diesel::Connection;

use super::pictures;
use crate::{
    db::{
        mail_outbox::{self, NewMail},
        unsettled_pictures,
        users::{self, User},
    },
    error::ApiError,
    request::Ctx,
    webhooks::events,
};

/// Deletes `user` if its password hash is still the one read (a change since wins), queueing
/// `notice` in the same transaction; `reason` says who asked (`user` or `operator`). False when
/// nothing was deleted.
pub async fn delete(
    ctx: &Ctx,
    user: &User,
    notice: NewMail,
    reason: &'static str,
) -> Result<bool, ApiError> {
    let (user_id, password_hash) = (user.id, user.password_hash.clone());
    let deleted = ctx
        .db(move |conn| {
            conn.transaction(|conn| {
                let Some(before) = users::delete_user(conn, user_id, &password_hash)? else {
                    return Ok(None);
                };
                // The outbox keeps no tie to the user: the notice outlives the account.
                mail_outbox::enqueue(conn, &notice)?;
                events::user_deleted(conn, user_id, reason)?;
                // No row names it now: should the removal below not happen, the sweeper's.
                if let Some(picture) = &before.profile_pic {
                    unsettled_pictures::note(conn, picture, chrono::Utc::now().naive_utc())?;
                }
                Ok::<_, diesel::result::Error>(Some(before))
            })
        })
        .await?;
    let Some(before) = deleted else { return Ok(false) };
    if let Some(picture) = before.profile_pic {
        pictures::remove_unnamed(ctx, &picture).await;
    }
    Ok(true)
}
