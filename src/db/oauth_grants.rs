//! The `oauth_grants` table: what a provider's callback hands the website through its
//! redirect's fragment, a one-time code for `POST /api/oauth/exchange`, and the link tokens an
//! account's owner confirms. Only the SHA-256 of each is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::oauth_grants};
use crate::per_backend;

/// What a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A sign-in: the exchange answers the login body.
    SignIn,
    /// An identity whose email matched an account it may not join by itself: the exchange
    /// answers 409 with a link token.
    LinkRequired,
    /// The link token: the account's owner, signed in, confirms it.
    LinkToken,
    /// An identity added from a signed-in session: the exchange says so.
    Linked,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::LinkRequired => "link_required",
            Kind::LinkToken => "link_token",
            Kind::Linked => "linked",
        }
    }

    fn of(name: &str) -> Option<Kind> {
        [Kind::SignIn, Kind::LinkRequired, Kind::LinkToken, Kind::Linked]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = oauth_grants)]
pub struct Grant {
    pub kind: String,
    pub user_id: i64,
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    /// The provider asserted a second factor, and the operator trusts it for that.
    pub mfa: bool,
}

impl Grant {
    pub fn kind(&self) -> Option<Kind> {
        Kind::of(&self.kind)
    }
}

pub fn issue(
    conn: &mut AnyConnection,
    code_hash: &str,
    kind: Kind,
    grant: &Grant,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(oauth_grants::table)
        .values((
            oauth_grants::code_hash.eq(code_hash),
            oauth_grants::kind.eq(kind.name()),
            oauth_grants::user_id.eq(grant.user_id),
            oauth_grants::provider.eq(&grant.provider),
            oauth_grants::subject.eq(&grant.subject),
            oauth_grants::email.eq(&grant.email),
            oauth_grants::mfa.eq(grant.mfa),
            oauth_grants::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(drop)
}

/// Spends the grant `code_hash` of one of `kinds`, if it is live: single use, on any replica.
pub fn take(
    conn: &mut AnyConnection,
    code_hash: &str,
    kinds: &[Kind],
    now: NaiveDateTime,
) -> QueryResult<Option<Grant>> {
    let names: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
    let row = oauth_grants::table
        .filter(oauth_grants::code_hash.eq(code_hash))
        .filter(oauth_grants::kind.eq_any(names))
        .filter(oauth_grants::expires_at.gt(now));
    per_backend!(conn => diesel::delete(row)
        .returning(Grant::as_returning())
        .get_result(conn)
        .optional())
}

pub fn prune_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(oauth_grants::table.filter(oauth_grants::expires_at.le(now)))
        .execute(conn)
        .map(drop)
}
