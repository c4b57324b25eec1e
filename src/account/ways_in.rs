//! The ways an account signs in: its password, its passkeys and its outside identities. None is
//! removed when it is the last (409), whichever kind it is; a caller holds the user's row lock,
//! so two removals of an account's last two ways in cannot both pass.

use diesel::QueryResult;

use crate::{
    auth::password::is_set,
    db::{AnyConnection, identities, passkeys, users},
};

pub struct WaysIn {
    pub password: bool,
    pub passkeys: i64,
    pub identities: i64,
}

impl WaysIn {
    pub fn of(conn: &mut AnyConnection, user_id: i64) -> QueryResult<WaysIn> {
        let hash = users::find_user(conn, user_id)?.map(|user| user.password_hash);
        Ok(WaysIn {
            password: hash.as_deref().is_some_and(is_set),
            passkeys: passkeys::count_of_user(conn, user_id)?,
            identities: identities::count_of_user(conn, user_id)?,
        })
    }

    /// Whether removing one of them would leave the account none.
    pub fn only_one(&self) -> bool {
        i64::from(self.password) + self.passkeys + self.identities <= 1
    }
}
