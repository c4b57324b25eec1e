//! The `users` table.

use chrono::NaiveDateTime;
use diesel::{dsl::exists, prelude::*};

use super::{
    AnyConnection,
    schema::{revoked_tokens, users},
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub profile_pic: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Fails with `UniqueViolation` when the (normalised) email is taken: the unique index, not a
/// prior lookup, decides between two concurrent registrations.
pub fn insert_user(conn: &mut AnyConnection, user: &NewUser) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(drop)
}

pub fn find_user_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The user a token names and whether the token was revoked, in one round trip.
pub fn find_user_and_revocation(
    conn: &mut AnyConnection,
    user_id: i64,
    jti: &str,
) -> QueryResult<Option<(User, bool)>> {
    users::table
        .filter(users::id.eq(user_id))
        .select((
            User::as_select(),
            exists(revoked_tokens::table.filter(revoked_tokens::jti.eq(jti))),
        ))
        .first(conn)
        .optional()
}

/// Sets the user's picture and returns the one it replaces.
pub fn replace_profile_pic(
    conn: &mut AnyConnection,
    user_id: i64,
    profile_pic: &str,
) -> QueryResult<Option<String>> {
    conn.transaction(|conn| {
        let previous = users::table
            .find(user_id)
            .select(users::profile_pic)
            .first::<Option<String>>(conn)?;
        diesel::update(users::table.find(user_id))
            .set((
                users::profile_pic.eq(profile_pic),
                users::updated_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(conn)?;
        Ok(previous)
    })
}
