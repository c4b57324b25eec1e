//! The `email_codes` table: one live code per user and purpose, stored as a salted hash with
//! the wrong tries it has left.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::email_codes};

/// What a code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    SignIn,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
            Purpose::SignIn => "sign_in",
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_codes)]
pub struct StoredCode {
    pub code_hash: String,
    pub new_email: Option<String>,
    pub tries_left: i32,
    pub expires_at: NaiveDateTime,
}

/// Issues the user's code for `purpose`, ending the one before it.
pub fn issue(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: Purpose,
    (code_hash, link_hash): (&str, &str),
    new_email: Option<&str>,
    tries: i32,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    end(conn, user_id, Some(purpose))?;
    diesel::insert_into(email_codes::table)
        .values((
            email_codes::user_id.eq(user_id),
            email_codes::purpose.eq(purpose.name()),
            email_codes::code_hash.eq(code_hash),
            email_codes::link_hash.eq(link_hash),
            email_codes::new_email.eq(new_email),
            email_codes::tries_left.eq(tries),
            email_codes::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// The user's live code for `purpose`, with one try spent on reading it: a check that answers
/// wrong has used its try, and a right one deletes the code. `None` when there is none, it has
/// expired or it has no try left.
pub fn take_try(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: Purpose,
    now: NaiveDateTime,
) -> QueryResult<Option<StoredCode>> {
    let row = email_codes::table.find((user_id, purpose.name()));
    // The update comes first: it locks the row, so two checks of one code take turns.
    let spent = diesel::update(
        row.filter(email_codes::tries_left.gt(0)).filter(email_codes::expires_at.gt(now)),
    )
    .set(email_codes::tries_left.eq(email_codes::tries_left - 1))
    .execute(conn)?;
    if spent == 0 {
        return Ok(None);
    }
    row.select(StoredCode::as_select()).get_result(conn).optional()
}

/// The user's live code for `purpose` whose link code hashes to `link_hash`, spending no try.
pub fn find_by_link(
    conn: &mut AnyConnection,
    user_id: i64,
    purpose: Purpose,
    link_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<StoredCode>> {
    email_codes::table
        .find((user_id, purpose.name()))
        .filter(email_codes::link_hash.eq(link_hash))
        .filter(email_codes::expires_at.gt(now))
        .select(StoredCode::as_select())
        .get_result(conn)
        .optional()
}

/// Ends the user's codes: of one purpose, or all (a password change ends every one). Returns
/// how many ended: of two concurrent uses of one code, the one that ends it wins.
pub fn end(conn: &mut AnyConnection, user_id: i64, purpose: Option<Purpose>) -> QueryResult<usize> {
    let codes = email_codes::table.filter(email_codes::user_id.eq(user_id));
    match purpose {
        Some(purpose) => {
            diesel::delete(codes.filter(email_codes::purpose.eq(purpose.name()))).execute(conn)
        }
        None => diesel::delete(codes).execute(conn),
    }
}

/// Deletes the codes that expired before `now` (a spent or superseded one is deleted at once).
pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(email_codes::table.filter(email_codes::expires_at.lt(now)))
        .execute(conn)
        .map(drop)
}
