//! The `admin_keys` table: the keys `/api/admin/*` is called with, by the SHA-256 of the key.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::admin_keys};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_keys)]
pub struct AdminKeyRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut AnyConnection, key: &AdminKeyRow) -> QueryResult<()> {
    diesel::insert_into(admin_keys::table).values(key).execute(conn).map(drop)
}

/// Every key, revoked ones too, oldest first.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<AdminKeyRow>> {
    admin_keys::table.order(admin_keys::created_at).select(AdminKeyRow::as_select()).load(conn)
}

/// The live key whose SHA-256 is `key_hash`, its use noted (at most once a minute: a key that
/// calls often does not write on every call).
pub fn use_key(
    conn: &mut AnyConnection,
    key_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<AdminKeyRow>> {
    let key = admin_keys::table
        .filter(admin_keys::key_hash.eq(key_hash))
        .filter(admin_keys::revoked_at.is_null())
        .select(AdminKeyRow::as_select())
        .get_result(conn)
        .optional()?;
    if let Some(key) = &key
        && key.last_used_at.is_none_or(|at| at < now - chrono::Duration::minutes(1))
    {
        diesel::update(admin_keys::table.find(&key.id))
            .set(admin_keys::last_used_at.eq(now))
            .execute(conn)?;
    }
    Ok(key)
}

/// Revokes the key `id`; false when no live key has it.
pub fn revoke(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        admin_keys::table.filter(admin_keys::id.eq(id)).filter(admin_keys::revoked_at.is_null()),
    )
    .set(admin_keys::revoked_at.eq(now))
    .execute(conn)
    .map(|revoked| revoked == 1)
}
