//! The `mail_outbox` table: messages waiting for the delivery worker. A row is written in the
//! transaction of the change it tells of; a worker claims due rows with a lease (`locked_until`),
//! so a replica that dies mid-delivery leaves them to another once the lease runs out.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{AnyConnection, rate_limits, schema::mail_outbox};
use crate::per_backend;

/// A message to queue.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewMail {
    pub kind: &'static str,
    pub user_id: Option<i64>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    /// Whether it counts against its recipient's budget (`RECIPIENT_BUDGET`) when queued, and is
    /// dropped past it: every notice, and a code whose request was not counted already. Off
    /// where every limit is (benchmarks, test tools).
    #[diesel(skip_insertion)]
    pub budgeted: bool,
}

/// A claimed message, as the worker sends it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct Mail {
    pub id: i64,
    pub kind: String,
    pub user_id: Option<i64>,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub attempts: i32,
}

/// The kinds of message that carry a code: sent ahead of notices. A request for one is counted
/// against the recipient's budget and refused past it; only registration's code, which no
/// request limit counts, is counted when queued and dropped past it.
pub const CODE_KINDS: [&str; 4] =
    ["verify_email", "password_reset", "email_change", "sign_in_code"];

/// What one address receives at most, codes and notices alike: (counter, messages, seconds).
/// Past it a notice (or registration's code) is dropped and a request for a code is refused (429,
/// `throttle`), so no one can turn the service into a way to fill a stranger's mailbox from the
/// site's own domain (logins, register and delete cycles, requests for codes).
pub const RECIPIENT_BUDGET: [(&str, i64, i64); 2] =
    [("recipient-hour", 10, 60 * 60), ("recipient-day", 30, 24 * 60 * 60)];

/// Queues `mail`. A budgeted message counts against its recipient's budget and is dropped past
/// it (a code asked for was counted when it was asked for).
pub fn enqueue(conn: &mut AnyConnection, mail: &NewMail) -> QueryResult<()> {
    let hash = recipient_hash(&mail.recipient);
    if mail.budgeted && !count_for_recipient(conn, &hash, mail.created_at)? {
        log::info!("{} message dropped: its recipient's mail budget is spent", mail.kind);
        return Ok(());
    }
    diesel::insert_into(mail_outbox::table).values(mail).execute(conn).map(drop)
}

/// A recipient as its budget's counters name it: the SHA-256 of its (normalised) address, hex,
/// so no address is kept in the counters.
fn recipient_hash(recipient: &str) -> String {
    use sha2::{Digest, Sha256};
    rate_limits::hex(&Sha256::digest(recipient.as_bytes()))
}

/// The counters of a recipient's budget at `now`: key, limit, and when its window ends.
fn recipient_windows(hex: &str, now: NaiveDateTime) -> Vec<(String, i64, i64)> {
    let now = now.and_utc().timestamp();
    RECIPIENT_BUDGET
        .iter()
        .map(|&(name, max, period)| {
            let (key, ends_at) = rate_limits::window(&format!("{name}:{hex}"), period, now);
            (key, max, ends_at)
        })
        .collect()
}

/// Counts one message to `recipient`; false when it is past the budget.
fn count_for_recipient(
    conn: &mut AnyConnection,
    hex: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let mut within = true;
    for (key, max, ends_at) in recipient_windows(hex, now) {
        let ends = chrono::DateTime::from_timestamp(ends_at, 0).unwrap_or_default().naive_utc();
        within &= rate_limits::record_hit(conn, &key, ends)? <= max;
    }
    Ok(within)
}

/// Claims up to `limit` due messages until `lease_until`, oldest first. On PostgreSQL rows
/// another replica is claiming are skipped (`FOR UPDATE SKIP LOCKED`), never waited for or
/// taken twice. On SQLite (one writer at a time) the claim takes the write lock first: a
/// transaction that read first could not wait for it.
pub fn claim_due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Mail>> {
    let due = mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .filter(mail_outbox::next_attempt_at.le(now))
        .filter(mail_outbox::locked_until.is_null().or(mail_outbox::locked_until.lt(now)))
        // Codes first: a flood of notices must not make a code arrive after it has expired.
        .order((mail_outbox::kind.eq_any(CODE_KINDS).desc(), mail_outbox::id))
        .limit(limit)
        .select(mail_outbox::id);
    let claim = |ids: Vec<i64>| {
        diesel::update(mail_outbox::table.filter(mail_outbox::id.eq_any(ids)))
            .set(mail_outbox::locked_until.eq(lease_until))
    };
    match conn {
        AnyConnection::Postgresql(conn) => conn.transaction(|conn| {
            let ids: Vec<i64> = due.for_update().skip_locked().load(conn)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            claim(ids).returning(Mail::as_returning()).get_results(conn)
        }),
        // BEGIN IMMEDIATE: the write lock first, waited for with the busy timeout.
        AnyConnection::Sqlite(conn) => conn.immediate_transaction(|conn| {
            let ids: Vec<i64> = due.load(conn)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            claim(ids).returning(Mail::as_returning()).get_results(conn)
        }),
    }
    .map(|mut claimed: Vec<Mail>| {
        claimed.sort_by_key(|mail| (!CODE_KINDS.contains(&mail.kind.as_str()), mail.id));
        claimed
    })
}

/// Delivered: the body (which may hold a code) is emptied.
pub fn delivered(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::sent_at.eq(now),
            mail_outbox::locked_until.eq(None::<NaiveDateTime>),
            mail_outbox::body.eq(""),
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
        ))
        .execute(conn)
        .map(drop)
}

/// Not delivered this time: tried again from `next_attempt_at`.
pub fn retry_later(
    conn: &mut AnyConnection,
    id: i64,
    next_attempt_at: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::next_attempt_at.eq(next_attempt_at),
            mail_outbox::locked_until.eq(None::<NaiveDateTime>),
            mail_outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}

/// Given up on (refused for good, or undeliverable for too long): the body is emptied.
pub fn give_up(
    conn: &mut AnyConnection,
    id: i64,
    now: NaiveDateTime,
    error: &str,
) -> QueryResult<()> {
    diesel::update(mail_outbox::table.find(id))
        .set((
            mail_outbox::attempts.eq(mail_outbox::attempts + 1),
            mail_outbox::failed_at.eq(now),
            mail_outbox::locked_until.eq(None::<NaiveDateTime>),
            mail_outbox::body.eq(""),
            mail_outbox::last_error.eq(error),
        ))
        .execute(conn)
        .map(drop)
}

/// Messages neither delivered nor given up on.
pub fn pending(conn: &mut AnyConnection) -> QueryResult<i64> {
    per_backend!(conn => mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::failed_at.is_null())
        .count()
        .get_result(conn))
}

/// How long a message that was sent, or given up on, is kept (for an operator asking what
/// became of it; the audit log keeps the outcome).
pub const KEPT_AFTER_DAYS: i64 = 30;

/// Deletes the messages sent or given up on `KEPT_AFTER_DAYS` before `now`.
pub fn prune_finished(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<()> {
    let before = now - chrono::Duration::days(KEPT_AFTER_DAYS);
    diesel::delete(
        mail_outbox::table
            .filter(mail_outbox::sent_at.lt(before).or(mail_outbox::failed_at.lt(before))),
    )
    .execute(conn)
    .map(drop)
}
