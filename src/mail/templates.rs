//! The messages' texts: `templates/mail/<kind>.txt`, built into the binary, or an operator's own
//! file of the same name in `MAIL_TEMPLATE_DIR`. A template's first line is `Subject: …`, then a
//! blank line, then the text; `{{ name }}` is replaced by the fact of that name. Templates are
//! read and checked at start (an unknown placeholder refuses to start), never at send time.

use std::{collections::BTreeMap, path::Path};

/// Each message the service sends, by template name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    VerifyEmail,
    PasswordReset,
    PasswordChanged,
    EmailChange,
    EmailChanged,
    AccountDeleted,
    SessionEnded,
    LoginLimit,
    NewSignIn,
    MfaEnabled,
    MfaDisabled,
    RecoveryCodeUsed,
    SignInCode,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyCloned,
    PasswordRemoved,
    IdentityLinked,
    AccountClaimed,
    AccountDisabled,
    AccountEnabled,
    AccountRemoved,
    MfaReset,
}

impl Kind {
    pub const ALL: [Kind; 23] = [
        Kind::VerifyEmail,
        Kind::PasswordReset,
        Kind::PasswordChanged,
        Kind::EmailChange,
        Kind::EmailChanged,
        Kind::AccountDeleted,
        Kind::SessionEnded,
        Kind::LoginLimit,
        Kind::NewSignIn,
        Kind::MfaEnabled,
        Kind::MfaDisabled,
        Kind::RecoveryCodeUsed,
        Kind::SignInCode,
        Kind::PasskeyAdded,
        Kind::PasskeyRemoved,
        Kind::PasskeyCloned,
        Kind::PasswordRemoved,
        Kind::IdentityLinked,
        Kind::AccountClaimed,
        Kind::AccountDisabled,
        Kind::AccountEnabled,
        Kind::AccountRemoved,
        Kind::MfaReset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::VerifyEmail => "verify_email",
            Kind::PasswordReset => "password_reset",
            Kind::PasswordChanged => "password_changed",
            Kind::EmailChange => "email_change",
            Kind::EmailChanged => "email_changed",
            Kind::AccountDeleted => "account_deleted",
            Kind::SessionEnded => "session_ended",
            Kind::LoginLimit => "login_limit",
            Kind::NewSignIn => "new_sign_in",
            Kind::MfaEnabled => "mfa_enabled",
            Kind::MfaDisabled => "mfa_disabled",
            Kind::RecoveryCodeUsed => "recovery_code_used",
            Kind::SignInCode => "sign_in_code",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::PasskeyCloned => "passkey_cloned",
            Kind::PasswordRemoved => "password_removed",
            Kind::IdentityLinked => "identity_linked",
            Kind::AccountClaimed => "account_claimed",
            Kind::AccountDisabled => "account_disabled",
            Kind::AccountEnabled => "account_enabled",
            Kind::AccountRemoved => "account_removed",
            Kind::MfaReset => "mfa_reset",
        }
    }

    fn built_in(self) -> &'static str {
        match self {
            Kind::VerifyEmail => include_str!("../../templates/mail/verify_email.txt"),
            Kind::PasswordReset => include_str!("../../templates/mail/password_reset.txt"),
            Kind::PasswordChanged => include_str!("../../templates/mail/password_changed.txt"),
            Kind::EmailChange => include_str!("../../templates/mail/email_change.txt"),
            Kind::EmailChanged => include_str!("../../templates/mail/email_changed.txt"),
            Kind::AccountDeleted => include_str!("../../templates/mail/account_deleted.txt"),
            Kind::SessionEnded => include_str!("../../templates/mail/session_ended.txt"),
            Kind::LoginLimit => include_str!("../../templates/mail/login_limit.txt"),
            Kind::NewSignIn => include_str!("../../templates/mail/new_sign_in.txt"),
            Kind::MfaEnabled => include_str!("../../templates/mail/mfa_enabled.txt"),
            Kind::MfaDisabled => include_str!("../../templates/mail/mfa_disabled.txt"),
            Kind::RecoveryCodeUsed => include_str!("../../templates/mail/recovery_code_used.txt"),
            Kind::SignInCode => include_str!("../../templates/mail/sign_in_code.txt"),
            Kind::PasskeyAdded => include_str!("../../templates/mail/passkey_added.txt"),
            Kind::PasskeyRemoved => include_str!("../../templates/mail/passkey_removed.txt"),
            Kind::PasskeyCloned => include_str!("../../templates/mail/passkey_cloned.txt"),
            Kind::PasswordRemoved => include_str!("../../templates/mail/password_removed.txt"),
            Kind::IdentityLinked => include_str!("../../templates/mail/identity_linked.txt"),
            Kind::AccountClaimed => include_str!("../../templates/mail/account_claimed.txt"),
            Kind::AccountDisabled => include_str!("../../templates/mail/account_disabled.txt"),
            Kind::AccountEnabled => include_str!("../../templates/mail/account_enabled.txt"),
            Kind::AccountRemoved => include_str!("../../templates/mail/account_removed.txt"),
            Kind::MfaReset => include_str!("../../templates/mail/mfa_reset.txt"),
        }
    }

    /// The facts its template may use: every message's, and a code's.
    fn facts(self) -> &'static [&'static str] {
        match self {
            Kind::VerifyEmail | Kind::PasswordReset | Kind::SignInCode => {
                &["name", "email", "ip", "time", "app_url", "code", "link", "minutes"]
            }
            Kind::EmailChange => {
                &["name", "email", "ip", "time", "app_url", "code", "link", "minutes", "new_email"]
            }
            Kind::EmailChanged => &["name", "email", "ip", "time", "app_url", "new_email"],
            Kind::PasswordChanged
            | Kind::AccountDeleted
            | Kind::SessionEnded
            | Kind::LoginLimit
            | Kind::MfaEnabled
            | Kind::MfaDisabled
            | Kind::PasswordRemoved
            | Kind::AccountEnabled
            | Kind::AccountRemoved
            | Kind::MfaReset => &["name", "email", "ip", "time", "app_url"],
            Kind::AccountDisabled => &["name", "email", "ip", "time", "app_url", "until"],
            Kind::RecoveryCodeUsed => &["name", "email", "ip", "time", "app_url", "left"],
            Kind::NewSignIn => &["name", "email", "ip", "time", "app_url", "device"],
            Kind::PasskeyAdded | Kind::PasskeyRemoved | Kind::PasskeyCloned => {
                &["name", "email", "ip", "time", "app_url", "passkey"]
            }
            Kind::IdentityLinked | Kind::AccountClaimed => {
                &["name", "email", "ip", "time", "app_url", "provider"]
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read mail template {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("mail template {0}: the first line must be `Subject: …`, then a blank line")]
    NoSubject(&'static str),
    #[error("mail template {kind}: unknown placeholder {{{{ {name} }}}} (it may use: {known})")]
    UnknownPlaceholder { kind: &'static str, name: String, known: String },
    #[error("mail template {0}: a `{{{{` without its `}}}}`")]
    Unclosed(&'static str),
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
}

pub struct Templates {
    by_kind: BTreeMap<Kind, Template>,
}

struct Template {
    subject: Vec<Piece>,
    text: Vec<Piece>,
}

enum Piece {
    Text(String),
    Fact(String),
}

impl Templates {
    /// The built-in templates, each replaced by `dir/<kind>.txt` where that file exists.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        let mut by_kind = BTreeMap::new();
        for kind in Kind::ALL {
            let own = dir
                .map(|dir| dir.join(format!("{}.txt", kind.name())))
                .filter(|path| path.exists());
            let source = match own {
                Some(path) => std::fs::read_to_string(&path).map_err(|source| {
                    TemplateError::Read { path: path.display().to_string(), source }
                })?,
                None => kind.built_in().to_owned(),
            };
            by_kind.insert(kind, Template::parse(kind, &source)?);
        }
        Ok(Templates { by_kind })
    }

    /// The message of `kind` with these facts. User-controlled facts (a name) cannot end a line:
    /// every control character in a fact becomes a space, so nothing can add a header, end
    /// the message (a line of `.`) or start one.
    pub fn render(&self, kind: Kind, facts: &[(&str, &str)]) -> Rendered {
        let template = &self.by_kind[&kind];
        let fill = |pieces: &[Piece]| {
            let mut out = String::new();
            for piece in pieces {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    Piece::Fact(name) => {
                        let value = facts
                            .iter()
                            .find(|(fact, _)| fact == name)
                            .map_or("", |(_, value)| value);
                        let value = match USER_TEXT.contains(&name.as_str()) {
                            true => as_user_text(value),
                            false => value.to_owned(),
                        };
                        out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c }));
                    }
                }
            }
            out
        };
        Rendered { subject: fill(&template.subject), text: fill(&template.text) }
    }
}

/// An address as a message to another one names it: the first character of its local part and
/// its domain ("a…@example.org"), enough for its owner to know it, not to write to it.
pub fn masked_address(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".to_owned(),
    }
}

/// Facts whose text a user chose (an account's name; anyone can register any address).
const USER_TEXT: [&str; 2] = ["name", "passkey"];
const USER_TEXT_CHARS: usize = 32;

/// A user's text as a message shows it: cut short, and quoted when it holds more than a name's
/// letters, so mail from the site's own domain cannot carry a sender's sentence or link as its
/// own words.
fn as_user_text(value: &str) -> String {
    let mut cut: String = value.chars().take(USER_TEXT_CHARS).collect();
    if value.chars().count() > USER_TEXT_CHARS {
        cut.push('…');
    }
    let plain = cut.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | '…'));
    if plain { cut } else { format!("\"{cut}\"") }
}

impl Template {
    fn parse(kind: Kind, source: &str) -> Result<Self, TemplateError> {
        // One line ending, LF: lettre writes every LF of a text body as CRLF, so no bare CR
        // or LF reaches the wire.
        let source = source.replace("\r\n", "\n").replace('\r', "\n");
        let (first, rest) = source.split_once('\n').ok_or(TemplateError::NoSubject(kind.name()))?;
        let subject =
            first.strip_prefix("Subject:").ok_or(TemplateError::NoSubject(kind.name()))?;
        let text = rest.strip_prefix('\n').ok_or(TemplateError::NoSubject(kind.name()))?;
        Ok(Template { subject: pieces(kind, subject.trim())?, text: pieces(kind, text)? })
    }
}

fn pieces(kind: Kind, mut source: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    while let Some(start) = source.find("{{") {
        pieces.push(Piece::Text(source[..start].to_owned()));
        let after = &source[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed(kind.name()))?;
        let name = after[..end].trim();
        if !kind.facts().contains(&name) {
            return Err(TemplateError::UnknownPlaceholder {
                kind: kind.name(),
                name: name.to_owned(),
                known: kind.facts().join(", "),
            });
        }
        pieces.push(Piece::Fact(name.to_owned()));
        source = &after[end + 2..];
    }
    pieces.push(Piece::Text(source.to_owned()));
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_named_to_another_is_masked() {
        assert_eq!(masked_address("ada@new.example"), "a…@new.example");
        assert_eq!(masked_address("ü@bücher.example"), "ü…@bücher.example");
        assert_eq!(masked_address("no-at-sign"), "…");
    }

    #[test]
    fn the_outbox_sends_ahead_exactly_the_kinds_that_carry_a_code() {
        for kind in Kind::ALL {
            let carries_code = kind.facts().contains(&"code");
            let sent_ahead = crate::db::mail_outbox::CODE_KINDS.contains(&kind.name());
            assert_eq!(carries_code, sent_ahead, "{}", kind.name());
        }
    }

    #[test]
    fn a_fact_cannot_break_a_line_and_an_unknown_placeholder_refuses_to_load() {
        let templates = Templates::load(None).unwrap();
        let name = "Eve\r\n.\r\nBcc: evil@example.com\n";
        let message = templates.render(Kind::PasswordChanged, &[("name", name)]);
        assert!(
            message.text.starts_with("Hello \"Eve  .  Bcc: evil@example.com \",\n"),
            "{}",
            message.text
        );
        assert!(!message.subject.contains('\n'));
        let hello = |name: &str| {
            let text = templates.render(Kind::PasswordChanged, &[("name", name)]).text;
            text.lines().next().unwrap().to_owned()
        };
        assert_eq!(hello("Ada Lovelace-Byron"), "Hello Ada Lovelace-Byron,");
        assert_eq!(hello("Zoë O'Brien"), "Hello Zoë O'Brien,");
        // A sender's sentence is cut short and quoted as what it is: a name someone typed.
        assert_eq!(
            hello("Support: your account is locked, visit https://evil.example/unlock"),
            "Hello \"Support: your account is locked,…\","
        );

        let dir = tempfile::TempDir::new().unwrap();
        std::fs::write(dir.path().join("password_changed.txt"), "Subject: Hi\n\n{{ code }}\n")
            .unwrap();
        let error = Templates::load(Some(dir.path())).err().unwrap();
        assert_eq!(
            error.to_string(),
            "mail template password_changed: unknown placeholder {{ code }} (it may use: name, email, ip, time, app_url)"
        );
    }
}
