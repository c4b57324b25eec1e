//! Mail: messages rendered from templates (`templates`), queued in the outbox in the transaction
//! of the change they tell of (`db::mail_outbox`), and delivered by a worker in every process
//! (`delivery`) over SMTP or into `.eml` files (`transport`). No request ever waits for SMTP.

pub mod delivery;
pub mod templates;
pub mod transport;
