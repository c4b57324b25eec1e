//! The `passkeys` table: each user's WebAuthn credentials, by the random id the API names them
//! with. `credential` is webauthn-rs-core's `Credential` as JSON.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::passkeys};
use crate::per_backend;

/// The passkeys one account holds at most.
pub const MAX_PER_USER: i64 = 10;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = passkeys)]
pub struct Passkey {
    pub id: String,
    pub user_id: i64,
    pub name: String,
    pub credential: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = passkeys)]
pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: NaiveDateTime,
}

/// The user's passkeys, oldest first.
pub fn of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<Passkey>> {
    passkeys::table
        .filter(passkeys::user_id.eq(user_id))
        .order((passkeys::created_at.asc(), passkeys::id.asc()))
        .select(Passkey::as_select())
        .load(conn)
}

pub fn count_of_user(conn: &mut AnyConnection, user_id: i64) -> QueryResult<i64> {
    passkeys::table.filter(passkeys::user_id.eq(user_id)).count().get_result(conn)
}

pub fn add(conn: &mut AnyConnection, new: &NewPasskey) -> QueryResult<()> {
    diesel::insert_into(passkeys::table).values(new).execute(conn).map(drop)
}

/// Whether any account holds the credential `credential_id` (base64url).
pub fn credential_exists(conn: &mut AnyConnection, credential_id: &str) -> QueryResult<bool> {
    let found = passkeys::table.filter(passkeys::credential_id.eq(credential_id));
    per_backend!(conn => diesel::select(diesel::dsl::exists(found)).get_result::<bool>(conn))
}

pub fn find_by_credential_id(
    conn: &mut AnyConnection,
    credential_id: &str,
) -> QueryResult<Option<Passkey>> {
    passkeys::table
        .filter(passkeys::credential_id.eq(credential_id))
        .select(Passkey::as_select())
        .get_result(conn)
        .optional()
}

/// Keeps what a sign-in with the passkey `id` changed (its counter and flags, inside
/// `credential`) and when it was used.
pub fn record_use(
    conn: &mut AnyConnection,
    id: &str,
    credential: &str,
    backed_up: bool,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(passkeys::table.find(id))
        .set((
            passkeys::credential.eq(credential),
            passkeys::backed_up.eq(backed_up),
            passkeys::last_used_at.eq(now),
        ))
        .execute(conn)
        .map(drop)
}

/// Renames the user's passkey `id`; false when the user has none of that id.
pub fn rename(conn: &mut AnyConnection, user_id: i64, id: &str, name: &str) -> QueryResult<bool> {
    diesel::update(passkeys::table.find(id).filter(passkeys::user_id.eq(user_id)))
        .set(passkeys::name.eq(name))
        .execute(conn)
        .map(|n| n == 1)
}

/// Removes the user's passkey `id` and returns its name; `None` when the user has none of it.
pub fn remove(conn: &mut AnyConnection, user_id: i64, id: &str) -> QueryResult<Option<String>> {
    let own = passkeys::table.find(id).filter(passkeys::user_id.eq(user_id));
    per_backend!(conn => diesel::delete(own)
        .returning(passkeys::name)
        .get_result::<String>(conn)
        .optional())
}

/// Removes every passkey of the user (an address's first proof outranks what came before).
/// Their ids and names.
pub fn delete_all(conn: &mut AnyConnection, user_id: i64) -> QueryResult<Vec<(String, String)>> {
    let all = passkeys::table.filter(passkeys::user_id.eq(user_id));
    per_backend!(conn => diesel::delete(all).returning((passkeys::id, passkeys::name)).load(conn))
}
