//! Telling the site's backend what happened (the Standard Webhooks specification): an event is
//! written to the webhook outbox (`db::webhook_deliveries`) in the transaction of the change it
//! reports, one row per endpoint that takes its type, and the worker (`delivery`) on any
//! replica sends it, signed (`signature`), to an address that is public unless the operator
//! allows otherwise (`target`), tried again on the schedule until it is taken.

pub mod delivery;
pub mod events;
pub mod signature;
pub mod target;

use diesel::QueryResult;
use serde_json::{Value, json};

use crate::db::{AnyConnection, webhook_deliveries};

/// Every event type an endpoint may take.
pub const EVENT_TYPES: [&str; 16] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "user.disabled",
    "user.enabled",
    "session.created",
    "session.ended",
    "password.changed",
    "email.verified",
    "email.changed",
    "mfa.enabled",
    "mfa.disabled",
    "passkey.added",
    "passkey.removed",
    "identity.linked",
    "identity.unlinked",
];

/// Queues the event `event_type` about the user `user_id` (with `more` facts beside its id) for
/// every endpoint that takes it, in the caller's transaction. Never a secret or a hash in
/// `more`: the payload is `{type, timestamp, data: {user_id, …more}}`.
fn emit(
    conn: &mut AnyConnection,
    event_type: &'static str,
    user_id: i64,
    more: Value,
) -> QueryResult<()> {
    debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type}");
    let now = chrono::Utc::now();
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let mut data = json!({ "user_id": user_id });
    if let (Some(data), Value::Object(more)) = (data.as_object_mut(), more) {
        data.extend(more);
    }
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let payload = json!({ "type": event_type, "timestamp": timestamp, "data": data }).to_string();
    let event = webhook_deliveries::NewEvent {
        id: &id,
        event_type,
        payload: &payload,
        now: now.naive_utc(),
    };
    webhook_deliveries::enqueue(conn, &event).map(drop)
}
