//! `auth-service admin …` (users, keys, webhooks): the `admin` functions run as the operator (`Actor::Cli`), printed as
//! tables for people or, with `--json`, as the API's bodies for scripts.

use std::io::Write;

use actix_web::{ResponseError, http::StatusCode, web};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::exit;
use crate::{
    admin::{
        Actor, Scope, keys,
        users::{self, AdminUser, UserDetail},
        webhooks,
    },
    error::ApiError,
    request::Ctx,
    state::AppState,
};

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Find, disable, enable, log out, verify, reset MFA of, or delete users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// The keys /api/admin/* is called with.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The site's webhook endpoints (Standard Webhooks).
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Adds an endpoint and prints its secret, once.
    Add {
        #[arg(long)]
        url: String,
        /// Comma-separated event types (user.created, session.ended, …), or *.
        #[arg(long, default_value = "*")]
        events: String,
        #[arg(long)]
        json: bool,
    },
    /// Every endpoint.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A new secret, printed once; the old one signs too for 24 hours.
    RotateSecret {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Removes an endpoint and its deliveries.
    Remove { id: String },
    /// Sends an event again to every endpoint it went to, with the same webhook-id.
    Replay {
        #[arg(value_name = "EVENT_ID")]
        event_id: String,
    },
    /// An endpoint's latest deliveries, with each try's status.
    Deliveries {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// A user, by id or by address.
#[derive(Debug, Args)]
pub struct Who {
    /// The user's id or email address.
    #[arg(value_name = "EMAIL|ID")]
    pub user: String,
    /// Print the API's JSON body instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Users by id, those whose address or name starts with --query.
    List {
        #[arg(long, value_name = "PREFIX")]
        query: Option<String>,
        /// Users a page, 1 to 100.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// The page after this one (the last page's next cursor).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One user: status, sessions, factors, passkeys, identities.
    Show(Who),
    /// No sign-in or refresh until enabled (or --until); every session ends; the user is told.
    Disable {
        #[command(flatten)]
        who: Who,
        /// A note for operators.
        #[arg(long)]
        reason: Option<String>,
        /// When it lifts by itself: an RFC 3339 time, or a span (30m, 12h, 7d).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
    /// Lifts a disabling.
    Enable(Who),
    /// Ends every session of the user.
    Logout(Who),
    /// Marks the address verified on your word.
    VerifyEmail(Who),
    /// Turns the TOTP second factor off for a user who lost it.
    ResetMfa(Who),
    /// Deletes the account, as its owner's deletion would.
    Delete(Who),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Makes a key and prints it, once.
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: users:read, users:write, webhooks:write.
        #[arg(long)]
        scopes: String,
        #[arg(long)]
        json: bool,
    },
    /// Every key, revoked ones too.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revokes a key by its id: it is refused from the next call on.
    Revoke {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// Runs `command`, printing to `out` (errors to stderr); the exit code.
pub async fn run(state: web::Data<AppState>, command: AdminCommand, out: &mut dyn Write) -> u8 {
    let ctx = Ctx::operator(state);
    let printed = match command {
        AdminCommand::Users { command } => users_command(&ctx, command, out).await,
        AdminCommand::Keys { command } => keys_command(&ctx, command, out).await,
        AdminCommand::Webhooks { command } => webhooks_command(&ctx, command, out).await,
    };
    match printed {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("auth-service admin: {error}");
            match error.status_code() {
                StatusCode::NOT_FOUND => exit::NOT_FOUND,
                status if status.is_client_error() => exit::REFUSED,
                _ => exit::FAILURE,
            }
        }
    }
}

async fn users_command(
    ctx: &Ctx,
    command: UsersCommand,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    let actor = Actor::Cli;
    let (detail, json) = match command {
        UsersCommand::List { query, limit, cursor, json } => {
            let page = users::list(ctx, query, Some(limit), cursor).await?;
            if json {
                return print_json(out, &page);
            }
            print_users(out, &page.users)?;
            if let Some(cursor) = &page.next_cursor {
                writeln!(out, "more: --cursor {cursor}").map_err(ApiError::internal)?;
            }
            return Ok(());
        }
        UsersCommand::Show(who) => {
            (users::show(ctx, users::find(ctx, &who.user).await?).await?, who.json)
        }
        UsersCommand::Disable { who, reason, until } => {
            let until = until.as_deref().map(users::parse_until).transpose()?;
            let id = users::find(ctx, &who.user).await?;
            (users::disable(ctx, &actor, id, reason, until).await?, who.json)
        }
        UsersCommand::Enable(who) => {
            (users::enable(ctx, &actor, users::find(ctx, &who.user).await?).await?, who.json)
        }
        UsersCommand::Logout(who) => {
            (users::logout(ctx, &actor, users::find(ctx, &who.user).await?).await?, who.json)
        }
        UsersCommand::VerifyEmail(who) => {
            (users::verify_email(ctx, &actor, users::find(ctx, &who.user).await?).await?, who.json)
        }
        UsersCommand::ResetMfa(who) => {
            (users::reset_mfa(ctx, &actor, users::find(ctx, &who.user).await?).await?, who.json)
        }
        UsersCommand::Delete(who) => {
            let id = users::find(ctx, &who.user).await?;
            users::delete(ctx, &actor, id).await?;
            if who.json {
                let body = serde_json::json!({"status": "success", "message": "User deleted"});
                return print_json(out, &body);
            }
            return writeln!(out, "User {id} deleted").map_err(ApiError::internal);
        }
    };
    if json { print_json(out, &detail) } else { print_detail(out, &detail) }
}

async fn keys_command(
    ctx: &Ctx,
    command: KeysCommand,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    match command {
        KeysCommand::Create { name, scopes, json } => {
            let scopes = Scope::parse_list(&scopes)?;
            let created = keys::create(ctx, &Actor::Cli, &name, &scopes).await?;
            if json {
                return print_json(out, &created);
            }
            let view = &created.view;
            let text = format!(
                "Key {} ({}) made with scopes {}. It is shown once; keep it now:\n{}\n",
                view.id,
                view.name,
                view.scopes.join(","),
                created.key
            );
            out.write_all(text.as_bytes()).map_err(ApiError::internal)
        }
        KeysCommand::List { json } => {
            let keys = keys::list(ctx).await?;
            if json {
                return print_json(out, &serde_json::json!({"status": "success", "keys": keys}));
            }
            let rows = keys
                .iter()
                .map(|key| {
                    vec![
                        key.id.clone(),
                        key.name.clone(),
                        key.scopes.join(","),
                        key.created_at.clone(),
                        key.last_used_at.clone().unwrap_or_else(|| "-".into()),
                        key.revoked_at.clone().map_or("live".into(), |at| format!("revoked {at}")),
                    ]
                })
                .collect();
            table(out, &["ID", "NAME", "SCOPES", "CREATED", "LAST USED", "STATUS"], rows)
        }
        KeysCommand::Revoke { id, json } => {
            keys::revoke(ctx, &Actor::Cli, &id).await?;
            if json {
                let body = serde_json::json!({"status": "success", "message": "Key revoked"});
                return print_json(out, &body);
            }
            writeln!(out, "Key {} revoked", id.trim()).map_err(ApiError::internal)
        }
    }
}

async fn webhooks_command(
    ctx: &Ctx,
    command: WebhooksCommand,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    let actor = Actor::Cli;
    let written = |out: &mut dyn Write, text: String| {
        out.write_all(text.as_bytes()).map_err(ApiError::internal)
    };
    match command {
        WebhooksCommand::Add { url, events, json } => {
            let events: Vec<String> = events.split(',').map(str::to_owned).collect();
            let added = webhooks::add(ctx, &actor, &url, &events).await?;
            if json {
                return print_json(out, &added);
            }
            let hook = &added.webhook;
            let text = format!(
                "Webhook {} to {} for {}. Its secret is shown once; keep it now:\n{}\n",
                hook.id,
                hook.url,
                hook.events.join(","),
                added.secret
            );
            written(out, text)
        }
        WebhooksCommand::List { json } => {
            let listed = webhooks::list(ctx).await?;
            if json {
                return print_json(out, &listed);
            }
            let rows = listed
                .webhooks
                .iter()
                .map(|hook| {
                    let status = match &hook.disabled_reason {
                        Some(reason) => format!("disabled ({reason})"),
                        None => "live".to_owned(),
                    };
                    vec![
                        hook.id.clone(),
                        hook.url.clone(),
                        hook.events.join(","),
                        hook.created_at.clone(),
                        status,
                    ]
                })
                .collect();
            table(out, &["ID", "URL", "EVENTS", "CREATED", "STATUS"], rows)
        }
        WebhooksCommand::RotateSecret { id, json } => {
            let rotated = webhooks::rotate_secret(ctx, &actor, &id).await?;
            if json {
                return print_json(out, &rotated);
            }
            let until = rotated.webhook.previous_secret_until.clone().unwrap_or_default();
            let text = format!(
                "Webhook {} has a new secret; the old one signs too until {until}. Keep it now:\n{}\n",
                rotated.webhook.id, rotated.secret
            );
            written(out, text)
        }
        WebhooksCommand::Remove { id } => {
            webhooks::remove(ctx, &actor, &id).await?;
            written(out, format!("Webhook {id} removed\n"))
        }
        WebhooksCommand::Replay { event_id } => {
            let queued = webhooks::replay(ctx, &actor, &event_id).await?;
            written(out, format!("Event {event_id} queued again for {queued} endpoint(s)\n"))
        }
        WebhooksCommand::Deliveries { id, json } => {
            let listed = webhooks::deliveries(ctx, &id).await?;
            if json {
                return print_json(out, &listed);
            }
            let rows = listed
                .deliveries
                .iter()
                .map(|d| {
                    let tries: Vec<String> = d
                        .attempts
                        .iter()
                        .map(|s| s.map_or("-".to_owned(), |s| s.to_string()))
                        .collect();
                    vec![
                        d.event_id.clone(),
                        d.event_type.clone(),
                        d.created_at.clone(),
                        d.status.to_owned(),
                        tries.join(","),
                    ]
                })
                .collect();
            table(out, &["EVENT", "TYPE", "CREATED", "STATUS", "TRIES"], rows)
        }
    }
}

fn print_json(out: &mut dyn Write, body: &impl Serialize) -> Result<(), ApiError> {
    let text = serde_json::to_string_pretty(body).map_err(ApiError::internal)?;
    writeln!(out, "{text}").map_err(ApiError::internal)
}

fn yes(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

fn status(user: &AdminUser) -> String {
    match (&user.disabled_until, user.status) {
        (Some(until), "disabled") => format!("disabled until {until}"),
        (_, status) => status.to_owned(),
    }
}

fn print_users(out: &mut dyn Write, users: &[AdminUser]) -> Result<(), ApiError> {
    let rows = users
        .iter()
        .map(|user| {
            vec![
                user.id.to_string(),
                user.email.clone(),
                user.name.clone(),
                yes(user.email_verified),
                yes(user.mfa),
                status(user),
                user.created_at.clone(),
            ]
        })
        .collect();
    table(out, &["ID", "EMAIL", "NAME", "VERIFIED", "MFA", "STATUS", "CREATED"], rows)
}

fn print_detail(out: &mut dyn Write, detail: &UserDetail) -> Result<(), ApiError> {
    let user = &detail.user;
    let mut text = String::new();
    let mut line = |label: &str, value: String| text.push_str(&format!("{label:<16}{value}\n"));
    line("id", user.id.to_string());
    line("email", user.email.clone());
    line("name", user.name.clone());
    line("verified", yes(user.email_verified));
    line("password", yes(detail.has_password));
    line("mfa", yes(user.mfa));
    if user.mfa {
        line("recovery codes", detail.recovery_codes_left.to_string());
    }
    line("status", status(user));
    if let Some(reason) = &user.disabled_reason {
        line("reason", reason.clone());
    }
    line("created", user.created_at.clone());
    out.write_all(text.as_bytes()).map_err(ApiError::internal)?;
    let sessions = detail
        .sessions
        .iter()
        .map(|s| {
            let agent = s.user_agent.clone().unwrap_or_else(|| "-".into());
            vec![
                s.id.clone(),
                s.created_at.clone(),
                s.last_used_at.clone(),
                s.ip.clone().unwrap_or_else(|| "-".into()),
                agent,
            ]
        })
        .collect();
    section(out, "sessions", &["ID", "CREATED", "LAST USED", "IP", "USER AGENT"], sessions)?;
    let passkeys = detail
        .passkeys
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                p.name.clone(),
                p.created_at.clone(),
                p.last_used_at.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    section(out, "passkeys", &["ID", "NAME", "CREATED", "LAST USED"], passkeys)?;
    let identities = detail
        .identities
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.provider.clone(),
                i.email.clone().unwrap_or_else(|| "-".into()),
                i.created_at.clone(),
            ]
        })
        .collect();
    section(out, "identities", &["ID", "PROVIDER", "EMAIL", "CREATED"], identities)
}

/// A titled table, or the title and `none`.
fn section(
    out: &mut dyn Write,
    title: &str,
    headers: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<(), ApiError> {
    writeln!(out, "\n{title} ({})", rows.len()).map_err(ApiError::internal)?;
    if rows.is_empty() { Ok(()) } else { table(out, headers, rows) }
}

/// A cell as a terminal shows it: no control character a user's text could smuggle in.
fn printable(cell: &str) -> String {
    cell.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// Columns padded to their widest cell, two spaces apart, the last one unpadded.
fn table(out: &mut dyn Write, headers: &[&str], rows: Vec<Vec<String>>) -> Result<(), ApiError> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{:<width$}", printable(cell)))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    out.write_all(text.as_bytes()).map_err(ApiError::internal)
}
