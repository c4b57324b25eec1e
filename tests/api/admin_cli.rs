//! `auth-service admin …` run as a process on the test's database, as an operator runs it
//! (`docker compose exec auth auth-service admin …`): its exact output and exit codes, and
//! that it does what the API does (the same functions).

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

const ADA: &str = "ada@example.com";
const BOB: &str = "bob@example.com";

fn ok(run: CliRun) -> String {
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    run.stdout
}

async fn the_cli_lists_shows_and_changes_users(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", ADA, PASSWORD).await;
    app.register("Bob", BOB, PASSWORD).await;
    app.mark_verified(ADA);
    let (a, b) = (app.user_id(ADA), app.user_id(BOB));
    assert!(a < 10 && b < 10, "one-digit ids keep the columns below as written");
    let listed: Value = serde_json::from_str(&ok(app.cli(&["users", "list", "--json"]))).unwrap();
    let (ca, cb) =
        (listed["users"][0]["created_at"].clone(), listed["users"][1]["created_at"].clone());
    let (ca, cb) = (ca.as_str().unwrap(), cb.as_str().unwrap());
    assert_eq!(listed["next_cursor"], Value::Null);

    assert_eq!(
        ok(app.cli(&["users", "list"])),
        format!(
            "ID  EMAIL            NAME  VERIFIED  MFA  STATUS  CREATED\n\
             {a}   ada@example.com  Ada   yes       no   active  {ca}\n\
             {b}   bob@example.com  Bob   no        no   active  {cb}\n"
        )
    );
    assert_eq!(
        ok(app.cli(&["users", "list", "--query", "bo", "--limit", "1"])),
        format!(
            "ID  EMAIL            NAME  VERIFIED  MFA  STATUS  CREATED\n\
             {b}   bob@example.com  Bob   no        no   active  {cb}\n"
        )
    );
    let session = app.session_for(ADA).await;
    let shown = ok(app.cli(&["users", "show", ADA]));
    let detail: Value =
        serde_json::from_str(&ok(app.cli(&["users", "show", &a.to_string(), "--json"]))).unwrap();
    let s = &detail["sessions"][0];
    let (sid, created, used) = (s["id"].as_str().unwrap(), &s["created_at"], &s["last_used_at"]);
    let (created, used) = (created.as_str().unwrap(), used.as_str().unwrap());
    let agent = s["user_agent"].as_str().unwrap_or("-");
    assert_eq!(
        shown,
        format!(
            "id              {a}\nemail           ada@example.com\nname            Ada\n\
             verified        yes\npassword        yes\nmfa             no\nstatus          active\n\
             created         {ca}\n\nsessions (1)\n\
             ID{pad}  CREATED               LAST USED             IP            USER AGENT\n\
             {sid}  {created}  {used}  127.0.0.0/24  {agent}\n\npasskeys (0)\n\nidentities (0)\n",
            pad = " ".repeat(sid.len() - 2),
        )
    );

    let disabled = ok(app.cli(&[
        "users",
        "disable",
        ADA,
        "--reason",
        "spam",
        "--until",
        "2099-01-01T00:00:00Z",
    ]));
    assert!(
        disabled.contains(
            "status          disabled until 2099-01-01T00:00:00Z\nreason          spam\n"
        ),
        "{disabled}"
    );
    assert!(disabled.ends_with("sessions (0)\n\npasskeys (0)\n\nidentities (0)\n"), "{disabled}");
    assert_eq!(app.me_status(&session.access).await, 401);
    assert_eq!(app.login(ADA, PASSWORD).await.status(), 403);
    smtp.wait_for_subject("Your account was disabled", 1).await;

    // The CLI's JSON is the API's body: the same code path.
    let key = app.admin_key("users:read").await;
    let cli: Value =
        serde_json::from_str(&ok(app.cli(&["users", "enable", ADA, "--json"]))).unwrap();
    assert_eq!(cli, app.admin_get(&format!("/users/{a}"), &key).await.1);
    assert_eq!(cli["user"]["status"], "active");

    assert!(ok(app.cli(&["users", "logout", ADA])).contains("sessions (0)"));
    assert!(ok(app.cli(&["users", "verify-email", BOB])).contains("verified        yes\n"));
    assert_eq!(ok(app.cli(&["users", "delete", BOB])), format!("User {b} deleted\n"));
    assert_eq!(app.user_count(), 1);

    // Exit codes: 3 not found, 4 refused, 2 a usage error; stdout empty, the reason on stderr.
    for (args, code, stderr) in [
        (&["users", "show", BOB][..], 3, "auth-service admin: User not found\n"),
        (&["users", "delete", "4711"][..], 3, "auth-service admin: User not found\n"),
        (&["users", "reset-mfa", ADA][..], 4, "auth-service admin: MFA not enabled\n"),
        (
            &["users", "disable", ADA, "--until", "2001-01-01T00:00:00Z"][..],
            4,
            "auth-service admin: until must be in the future\n",
        ),
    ] {
        let run = app.cli(args);
        assert_eq!(
            (run.code, run.stdout.as_str(), run.stderr.as_str()),
            (code, "", stderr),
            "{args:?}"
        );
    }
    let run = app.cli(&["users", "frobnicate"]);
    assert_eq!((run.code, run.stdout.as_str()), (2, ""));
    assert!(run.stderr.contains("unrecognized subcommand 'frobnicate'"), "{}", run.stderr);
}

async fn the_cli_makes_lists_and_revokes_admin_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("Ada", ADA, PASSWORD).await;
    let made = ok(app.cli(&["keys", "create", "--name", "deploy", "--scopes", "users:read"]));
    let lines: Vec<&str> = made.lines().collect();
    assert_eq!(lines.len(), 2, "{made}");
    let id = lines[0].strip_prefix("Key ").unwrap().split(' ').next().unwrap().to_owned();
    assert_eq!(
        lines[0],
        format!("Key {id} (deploy) made with scopes users:read. It is shown once; keep it now:")
    );
    let key = lines[1];
    assert!(key.starts_with("ask_") && key.len() == 47, "{key}");
    assert_eq!(app.admin_get("/users", key).await.0, 200);

    let listed: Value = serde_json::from_str(&ok(app.cli(&["keys", "list", "--json"]))).unwrap();
    let created = listed["keys"][0]["created_at"].as_str().unwrap().to_owned();
    let used = listed["keys"][0]["last_used_at"].as_str().expect("its use is noted").to_owned();
    assert_eq!(
        listed,
        json!({"status": "success", "keys": [{
            "id": id, "name": "deploy", "scopes": ["users:read"], "created_at": created,
            "last_used_at": used, "revoked_at": null,
        }]})
    );
    assert_eq!(
        ok(app.cli(&["keys", "list"])),
        format!(
            "ID{pad}  NAME    SCOPES      CREATED               LAST USED             STATUS\n\
             {id}  deploy  users:read  {created}  {used}  live\n",
            pad = " ".repeat(id.len() - 2)
        )
    );
    assert_eq!(ok(app.cli(&["keys", "revoke", &id])), format!("Key {id} revoked\n"));
    assert_eq!(app.admin_get("/users", key).await, (401, error_body("Unauthorized")));
    let run = app.cli(&["keys", "revoke", &id]);
    assert_eq!((run.code, run.stderr.as_str()), (3, "auth-service admin: Admin key not found\n"));
    let run = app.cli(&["keys", "create", "--name", "x", "--scopes", "users:read,root"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            4,
            "auth-service admin: Unknown scope \"root\" (known: users:read, users:write, webhooks:write)\n"
        )
    );
}

async fn the_cli_adds_lists_rotates_and_removes_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = "https://hooks.example.com/auth";
    let added =
        ok(app.cli(&["webhooks", "add", "--url", url, "--events", "user.created,user.deleted"]));
    let lines: Vec<&str> = added.lines().collect();
    let id = lines[0].strip_prefix("Webhook ").unwrap().split(' ').next().unwrap().to_owned();
    assert_eq!(
        lines,
        [
            format!("Webhook {id} to {url} for user.created,user.deleted. Its secret is shown once; keep it now:").as_str(),
            lines[1],
        ]
    );
    assert!(lines[1].starts_with("whsec_"), "{added}");
    let listed: Value =
        serde_json::from_str(&ok(app.cli(&["webhooks", "list", "--json"]))).unwrap();
    let created = listed["webhooks"][0]["created_at"].as_str().unwrap().to_owned();
    let events = "user.created,user.deleted";
    let header = format!(
        "{:<id_width$}  {:<url_width$}  {:<events_width$}  CREATED               STATUS",
        "ID",
        "URL",
        "EVENTS",
        id_width = id.len(),
        url_width = url.len(),
        events_width = events.len()
    );
    assert_eq!(
        ok(app.cli(&["webhooks", "list"])),
        format!("{header}\n{id}  {url}  {events}  {created}  live\n")
    );
    let rotated = ok(app.cli(&["webhooks", "rotate-secret", &id]));
    assert!(
        rotated
            .starts_with(&format!("Webhook {id} has a new secret; the old one signs too until ")),
        "{rotated}"
    );
    assert_eq!(
        ok(app.cli(&["webhooks", "deliveries", &id])),
        "EVENT  TYPE  CREATED  STATUS  TRIES\n"
    );
    let run = app.cli(&["webhooks", "replay", "msg_unknown"]);
    assert_eq!((run.code, run.stderr.as_str()), (3, "auth-service admin: Event not found\n"));
    let run = app.cli(&["webhooks", "add", "--url", "http://127.0.0.1:9/hook"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("WEBHOOK_ALLOW_PRIVATE"), "{}", run.stderr);
    assert_eq!(ok(app.cli(&["webhooks", "remove", &id])), format!("Webhook {id} removed\n"));
    assert_eq!(app.cli(&["webhooks", "remove", &id]).code, 3);
}

both_backends!(
    the_cli_lists_shows_and_changes_users,
    the_cli_makes_lists_and_revokes_admin_keys,
    the_cli_adds_lists_rotates_and_removes_webhooks,
);
