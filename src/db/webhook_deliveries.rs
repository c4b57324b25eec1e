//! The `webhook_deliveries` table, the webhook outbox, and `webhook_attempts`, each try of a
//! delivery. A row per event and subscribed endpoint is written in the transaction of the change
//! it reports; a worker on any replica claims due rows with a lease (`locked_until`) as the mail
//! outbox's worker does, so one replica sends each, and a replica that dies mid-send leaves its
//! rows to another when the lease ends.

use chrono::NaiveDateTime;
use diesel::{
    dsl::sql,
    prelude::*,
    sql_types::{Integer, Text, Timestamp},
};

use super::{
    AnyConnection,
    schema::{webhook_attempts, webhook_deliveries, webhook_endpoints},
};
use crate::per_backend;

/// A claimed delivery, with where it goes.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub endpoint_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub delivered_at: Option<NaiveDateTime>,
    pub failed_at: Option<NaiveDateTime>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
}

/// One event, as it is queued for every endpoint that takes its type.
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub now: NaiveDateTime,
}

/// Queues `event` for every live endpoint that takes its type, in one statement (none written
/// when no endpoint does).
pub fn enqueue(conn: &mut AnyConnection, event: &NewEvent) -> QueryResult<usize> {
    let takes = webhook_endpoints::events
        .eq("*")
        .or(sql::<Text>("',' || events || ','").like(format!("%,{},%", event.event_type)));
    let rows = webhook_endpoints::table
        .filter(webhook_endpoints::disabled_at.is_null())
        .filter(takes)
        .select((
            event.id.into_sql::<Text>(),
            webhook_endpoints::id,
            event.event_type.into_sql::<Text>(),
            event.payload.into_sql::<Text>(),
            event.now.into_sql::<Timestamp>(),
            0.into_sql::<Integer>(),
            event.now.into_sql::<Timestamp>(),
        ));
    let columns = (
        webhook_deliveries::event_id,
        webhook_deliveries::endpoint_id,
        webhook_deliveries::event_type,
        webhook_deliveries::payload,
        webhook_deliveries::created_at,
        webhook_deliveries::attempts,
        webhook_deliveries::next_attempt_at,
    );
    per_backend!(conn => diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .into_columns(columns)
        .execute(conn))
}

/// Claims up to `limit` due deliveries until `lease_until`, oldest first (as `mail_outbox`).
pub fn claim_due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let due = webhook_deliveries::table
        .filter(webhook_deliveries::delivered_at.is_null())
        .filter(webhook_deliveries::failed_at.is_null())
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(
            webhook_deliveries::locked_until.is_null().or(webhook_deliveries::locked_until.lt(now)),
        )
        .order(webhook_deliveries::id)
        .limit(limit)
        .select(webhook_deliveries::id);
    let claim = |ids: Vec<i64>| {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
            .set(webhook_deliveries::locked_until.eq(lease_until))
    };
    match conn {
        AnyConnection::Postgresql(conn) => conn.transaction(|conn| {
            let ids: Vec<i64> = due.for_update().skip_locked().load(conn)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            claim(ids).returning(Delivery::as_returning()).get_results(conn)
        }),
        AnyConnection::Sqlite(conn) => conn.immediate_transaction(|conn| {
            let ids: Vec<i64> = due.load(conn)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            claim(ids).returning(Delivery::as_returning()).get_results(conn)
        }),
    }
    .map(|mut claimed: Vec<Delivery>| {
        claimed.sort_by_key(|delivery| delivery.id);
        claimed
    })
}

/// Records a try of `id` (the status the endpoint answered, if any) and what follows from it.
pub fn record(
    conn: &mut AnyConnection,
    id: i64,
    (status, error): (Option<i32>, Option<&str>),
    next: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(webhook_attempts::table)
            .values((
                webhook_attempts::delivery_id.eq(id),
                webhook_attempts::attempted_at.eq(now),
                webhook_attempts::status.eq(status),
                webhook_attempts::error.eq(error),
            ))
            .execute(conn)?;
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        let row = webhook_deliveries::table.find(id);
        let common = (
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::last_status.eq(status),
            webhook_deliveries::last_error.eq(error),
        );
        match (delivered, next) {
            (true, _) => diesel::update(row)
                .set((common, webhook_deliveries::delivered_at.eq(now)))
                .execute(conn),
            (false, Some(next)) => diesel::update(row)
                .set((common, webhook_deliveries::next_attempt_at.eq(next)))
                .execute(conn),
            (false, None) => diesel::update(row)
                .set((common, webhook_deliveries::failed_at.eq(now)))
                .execute(conn),
        }
        .map(drop)
    })
}

/// Gives up on every pending delivery to `endpoint_id` (it answered 410 Gone).
pub fn fail_pending_of(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .filter(webhook_deliveries::delivered_at.is_null())
            .filter(webhook_deliveries::failed_at.is_null()),
    )
    .set((
        webhook_deliveries::failed_at.eq(now),
        webhook_deliveries::last_error.eq("endpoint disabled"),
    ))
    .execute(conn)
}

/// The deliveries of `endpoint_id`, newest first, at most `limit`.
pub fn of_endpoint(
    conn: &mut AnyConnection,
    endpoint_id: &str,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)
}

/// The statuses of a delivery's tries, in order (`None`: no answer).
pub fn attempts_of(conn: &mut AnyConnection, delivery_id: i64) -> QueryResult<Vec<Option<i32>>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq(delivery_id))
        .order(webhook_attempts::id)
        .select(webhook_attempts::status)
        .load(conn)
}

/// Sends the event `event_id` again to every endpoint it went to, as new tries of the same
/// deliveries (the same webhook-id). The number of deliveries queued again.
pub fn replay(conn: &mut AnyConnection, event_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::event_id.eq(event_id)))
        .set((
            webhook_deliveries::delivered_at.eq(None::<NaiveDateTime>),
            webhook_deliveries::failed_at.eq(None::<NaiveDateTime>),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
}

/// Deliveries neither delivered nor given up on, of every endpoint.
pub fn backlog(conn: &mut AnyConnection) -> QueryResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::delivered_at.is_null())
        .filter(webhook_deliveries::failed_at.is_null())
        .count()
        .get_result(conn)
}

/// Finished deliveries (and their tries) kept this long are removed by the sweeper.
pub fn prune_finished(conn: &mut AnyConnection, before: NaiveDateTime) -> QueryResult<()> {
    diesel::delete(webhook_deliveries::table.filter(
        webhook_deliveries::delivered_at.lt(before).or(webhook_deliveries::failed_at.lt(before)),
    ))
    .execute(conn)
    .map(drop)
}
