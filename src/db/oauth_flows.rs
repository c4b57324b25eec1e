//! The `oauth_flows` table: a sign-in with a provider between its redirect and its callback.
//! The provider holds the `state`; only its SHA-256 is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::oauth_flows};
use crate::per_backend;

/// The flows open at once at most: they are started without an account, so past this many
/// (each lives minutes) new ones wait (503) rather than grow the table.
pub const MAX_OPEN: i64 = 10_000;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oauth_flows)]
pub struct Flow {
    pub state_hash: String,
    pub provider: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_to: String,
    /// The redirect URI the provider was given, which the code's exchange names again.
    pub callback_url: String,
    /// The signed-in user adding an identity; `None`: a sign-in.
    pub user_id: Option<i64>,
    pub expires_at: NaiveDateTime,
}

pub fn open(conn: &mut AnyConnection, flow: &Flow) -> QueryResult<()> {
    diesel::insert_into(oauth_flows::table).values(flow).execute(conn).map(drop)
}

pub fn count_open(conn: &mut AnyConnection) -> QueryResult<i64> {
    oauth_flows::table.count().get_result(conn)
}

/// Spends the flow `state_hash` of `provider` and returns it, if it was open and live: the one
/// DELETE that reads it, so a replayed state finds nothing, on any replica.
pub fn take(
    conn: &mut AnyConnection,
    state_hash: &str,
    provider: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<Flow>> {
    let row = oauth_flows::table
        .filter(oauth_flows::state_hash.eq(state_hash))
        .filter(oauth_flows::provider.eq(provider))
        .filter(oauth_flows::expires_at.gt(now));
    per_backend!(conn => diesel::delete(row)
        .returning(Flow::as_returning())
        .get_result(conn)
        .optional())
}

pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(oauth_flows::table.filter(oauth_flows::expires_at.le(now)))
        .execute(conn)
        .map(drop)
}
