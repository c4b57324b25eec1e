//! The `webhook_endpoints` table: where events are sent, and with which secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, schema::webhook_endpoints};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// Comma-separated event types, or `*`.
    pub events: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
}

impl Endpoint {
    /// The secrets a delivery at `now` is signed with: the current one, and the one before a
    /// rotation until it lapses.
    pub fn secrets(&self, now: NaiveDateTime) -> Vec<&str> {
        let previous = self
            .previous_secret
            .as_deref()
            .filter(|_| self.previous_secret_until.is_some_and(|until| until > now));
        std::iter::once(self.secret.as_str()).chain(previous).collect()
    }
}

pub fn insert(conn: &mut AnyConnection, endpoint: &Endpoint) -> QueryResult<()> {
    diesel::insert_into(webhook_endpoints::table).values(endpoint).execute(conn).map(drop)
}

/// Every endpoint, oldest first.
pub fn all(conn: &mut AnyConnection) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table
        .order((webhook_endpoints::created_at, webhook_endpoints::id))
        .select(Endpoint::as_select())
        .load(conn)
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table.find(id).select(Endpoint::as_select()).get_result(conn).optional()
}

/// Removes the endpoint and its deliveries; false when there is none of that id.
pub fn remove(conn: &mut AnyConnection, id: &str) -> QueryResult<bool> {
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn).map(|n| n == 1)
}

/// A new secret; the old one is signed with too until `previous_until`.
pub fn rotate(
    conn: &mut AnyConnection,
    id: &str,
    secret: &str,
    previous_until: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(webhook_endpoints::table.find(id))
        .set((
            webhook_endpoints::previous_secret.eq(webhook_endpoints::secret.nullable()),
            webhook_endpoints::previous_secret_until.eq(previous_until),
            webhook_endpoints::secret.eq(secret),
        ))
        .execute(conn)
        .map(|n| n == 1)
}

/// Disabled (the endpoint answered 410 Gone): nothing more is sent to it.
pub fn disable(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        webhook_endpoints::table.find(id).filter(webhook_endpoints::disabled_at.is_null()),
    )
    .set((webhook_endpoints::disabled_at.eq(now), webhook_endpoints::disabled_reason.eq(reason)))
    .execute(conn)
    .map(drop)
}
