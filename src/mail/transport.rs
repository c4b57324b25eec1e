//! Where messages go: an SMTP server (`SMTP_URL`, lettre's URL form), or `.eml` files in
//! `MAIL_DIR` (the default without `SMTP_URL`, so a fresh `cargo run` needs no mail server).

use std::{path::Path, time::Duration};

use lettre::{
    Address, AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};

use super::templates::Rendered;

/// How long one SMTP exchange may take before it counts as a failed attempt.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// `MAIL_TRANSPORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailTransport {
    Smtp,
    File,
}

impl std::str::FromStr for MailTransport {
    type Err = &'static str;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "smtp" => Ok(MailTransport::Smtp),
            "file" => Ok(MailTransport::File),
            _ => Err("expected smtp or file"),
        }
    }
}

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Why a message was not delivered, and whether trying again could help.
#[derive(Debug)]
pub struct SendError {
    /// The server refused it for good (5xx), or it cannot be built: it is given up on at once.
    pub permanent: bool,
    /// A fixed word for `mail_failed_total{reason}`.
    pub reason: &'static str,
    pub detail: String,
}

impl Transport {
    pub fn smtp(url: &str) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Transport::Smtp(transport))
    }

    pub fn file(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Transport::File(AsyncFileTransport::new(dir)))
    }

    /// Sends one message from `from` to `to`. `key` names it for good (its outbox row): the
    /// `Message-ID` is the same on every attempt, so a receiver can drop the rare second copy.
    pub async fn send(
        &self,
        from: &Mailbox,
        to: &str,
        message: &Rendered,
        key: &str,
    ) -> Result<(), SendError> {
        let message = build(from, to, message, key)?;
        match self {
            Transport::Smtp(smtp) => {
                smtp.send(message).await.map(drop).map_err(|error| SendError {
                    permanent: error.is_permanent(),
                    reason: if error.is_permanent() {
                        "rejected"
                    } else if error.is_timeout() {
                        "timeout"
                    } else if error.is_transient() {
                        "deferred"
                    } else {
                        "unreachable"
                    },
                    detail: error.to_string(),
                })
            }
            Transport::File(file) => file.send(message).await.map(drop).map_err(|error| {
                SendError { permanent: false, reason: "file", detail: error.to_string() }
            }),
        }
    }
}

/// The message, through lettre's builder only (never raw bytes): the subject is a header value
/// lettre encodes, the text a `String` body whose every line ending lettre writes as CRLF and
/// whose lines starting with `.` it doubles on the wire.
fn build(from: &Mailbox, to: &str, message: &Rendered, key: &str) -> Result<Message, SendError> {
    let invalid = |detail: String| SendError { permanent: true, reason: "invalid", detail };
    // An address, never a mailbox: a stored `Name <other@example.org>` would send the mail to
    // another address than the account's, under a name of the user's choosing.
    let to: Address =
        to.parse().map_err(|error: lettre::address::AddressError| invalid(error.to_string()))?;
    let to = Mailbox::new(None, to);
    Message::builder()
        .message_id(Some(format!("<{key}@{}>", from.email.domain())))
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|error| invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_goes_to_a_plain_address_only() {
        let from: Mailbox = "auth-service <no-reply@example.com>".parse().unwrap();
        let message = Rendered { subject: "Hello".into(), text: "Hi".into() };
        let sent = build(&from, "ada@example.org", &message, "k").unwrap();
        assert_eq!(sent.envelope().to(), ["ada@example.org".parse::<Address>().unwrap()]);
        for mailbox in ["support<victim@example.org>", "Support <victim@example.org>", "a,b@x.org"]
        {
            let refused = build(&from, mailbox, &message, "k").unwrap_err();
            assert!(refused.permanent, "{mailbox}");
        }
    }
}
