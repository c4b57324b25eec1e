//! The `identities` table: outside identities (a provider's subject) linked to accounts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::identities};
use crate::per_backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = identities)]
pub struct Identity {
    pub id: String,
    pub user_id: i64,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

/// The identity (provider, subject), if an account has it.
pub fn find(
    conn: &mut AnyConnection,
    provider: &str,
    subject: &str,
) -> QueryResult<Option<Identity>> {
    identities::table
        .filter(identities::provider.eq(provider))
        .filter(identities::subject.eq(subject))
        .select(Identity::as_select())
        .get_result(conn)
        .optional()
}

/// Links (provider, subject) to the user, its email as the provider gave it.
pub fn link(
    conn: &mut AnyConnection,
    user_id: i64,
    (provider, subject, email): (&str, &str, Option<&str>),
    now: NaiveDateTime,
) -> QueryResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    diesel::insert_into(identities::table)
        .values((
            identities::id.eq(&id),
            identities::user_id.eq(user_id),
            identities::provider.eq(provider),
            identities::subject.eq(subject),
            identities::email.eq(email),
            identities::created_at.eq(now),
            identities::last_used_at.eq(now),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A sign-in with the identity `id`: when, and the email the provider gives now.
pub fn record_use(
    conn: &mut AnyConnection,
    id: &str,
    email: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(identities::table.find(id))
        .set((identities::email.eq(email), identities::last_used_at.eq(now)))
        .execute(conn)
        .map(drop)
}

/// The user's identities, oldest first.
pub fn of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Identity>> {
    identities::table
        .filter(identities::user_id.eq(user_id))
        .order((identities::created_at.asc(), identities::id.asc()))
        .select(Identity::as_select())
        .load(conn)
}

pub fn count_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    identities::table.filter(identities::user_id.eq(user_id)).count().get_result(conn)
}

/// Unlinks the user's identity `id` and returns its provider; `None` when the user has none.
pub fn unlink(conn: &mut AnyConnection, user_id: i64, id: &str) -> QueryResult<Option<String>> {
    let own = identities::table.find(id).filter(identities::user_id.eq(user_id));
    per_backend!(conn => diesel::delete(own)
        .returning(identities::provider)
        .get_result::<String>(conn)
        .optional())
}

/// Unlinks every identity of the user (an address's first proof outranks what came before).
/// Their ids and providers.
pub fn unlink_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<(String, String)>> {
    let all = identities::table.filter(identities::user_id.eq(user_id));
    per_backend!(conn => diesel::delete(all)
        .returning((identities::id, identities::provider))
        .load(conn))
}
