//! The outbox under faults, with the service's binary: rows pending when the process is killed
//! (`kill -9`) are delivered by the next start, none twice; two replicas on one PostgreSQL
//! deliver every message exactly once; and `/metrics` counts what was sent and what waits.

use std::collections::BTreeMap;

use auth_service::db::{DatabaseUrl, establish, schema::mail_outbox};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};

use crate::helpers::*;

/// The recipients of the messages received so far, with how often each got one.
fn recipients(smtp: &SmtpServer) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for message in smtp.messages() {
        let to = message.lines().find_map(|line| line.strip_prefix("To: ")).unwrap().to_owned();
        *seen.entry(to).or_default() += 1;
    }
    seen
}

fn outbox(
    url: &DatabaseUrl,
) -> Vec<(i32, Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>)> {
    mail_outbox::table
        .select((mail_outbox::attempts, mail_outbox::locked_until, mail_outbox::sent_at))
        .load(&mut establish(url).unwrap())
        .unwrap()
}

async fn pending_mail_outlives_kill_9_and_is_delivered_once_by_the_next_start(database: &str) {
    let mut smtp = SmtpServer::start();
    smtp.stop();
    let url: DatabaseUrl = database.parse().unwrap();
    let env = [
        ("DATABASE_URL", database),
        ("SMTP_URL", &smtp.url()),
        ("RATE_LIMIT_ENABLED", "false"),
        // After its first failure a message waits a minute: none is being sent at the kill.
        ("MAIL_RETRY_FIRST_MS", "60000"),
    ];
    let mut first = ServiceProcess::start(&env);
    let client = reqwest::Client::new();
    for i in 0..5 {
        first.register(&client, "Outbox", &format!("user{i}@example.com")).await;
    }
    let tried_once = || {
        ready(outbox(&url).iter().all(|(attempts, locked, _)| *attempts == 1 && locked.is_none()))
    };
    assert!(eventually(tried_once).await, "{:?}", outbox(&url));
    first.signal("-KILL");
    first.wait();
    assert_eq!(outbox(&url).len(), 5);
    // The minute passes.
    diesel::update(mail_outbox::table)
        .set(mail_outbox::next_attempt_at.eq(chrono::Utc::now().naive_utc()))
        .execute(&mut establish(&url).unwrap())
        .unwrap();

    smtp.restart();
    let _second = ServiceProcess::start(&env);
    assert!(eventually(|| ready(recipients(&smtp).len() == 5)).await, "{:?}", recipients(&smtp));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(recipients(&smtp).values().all(|count| *count == 1), "{:?}", recipients(&smtp));
    assert!(outbox(&url).iter().all(|(attempts, _, sent)| *attempts == 2 && sent.is_some()));
}

#[tokio::test]
async fn sqlite_pending_mail_outlives_kill_9_and_is_delivered_once_by_the_next_start() {
    let dir = tempfile::TempDir::new().unwrap();
    let database = format!("sqlite://{}/auth.db", dir.path().display());
    pending_mail_outlives_kill_9_and_is_delivered_once_by_the_next_start(&database).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL and --include-ignored (scripts/test)"]
async fn postgres_pending_mail_outlives_kill_9_and_is_delivered_once_by_the_next_start() {
    let (_database, url) = PgTestDatabase::create();
    pending_mail_outlives_kill_9_and_is_delivered_once_by_the_next_start(&url).await;
}

/// Two processes on one database, both delivering: `FOR UPDATE SKIP LOCKED` hands each row to
/// one of them.
#[tokio::test]
#[ignore = "needs PostgreSQL: TEST_DATABASE_URL and --include-ignored (scripts/test)"]
async fn two_replicas_on_one_postgres_deliver_every_message_exactly_once() {
    let smtp = SmtpServer::start();
    let (_database, url) = PgTestDatabase::create();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("SMTP_URL", &smtp.url()),
        ("RATE_LIMIT_ENABLED", "false"),
    ];
    let replicas = [ServiceProcess::start(&env), ServiceProcess::start(&env)];
    let client = reqwest::Client::new();
    let registrations = (0..40).map(|i| {
        let (client, replica) = (&client, &replicas[i % 2]);
        async move { replica.register(client, "Outbox", &format!("replica{i}@example.com")).await }
    });
    futures_util::future::join_all(registrations).await;
    assert!(
        eventually(|| ready(recipients(&smtp).len() == 40)).await,
        "{}",
        recipients(&smtp).len()
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let twice: Vec<_> = recipients(&smtp).into_iter().filter(|(_, count)| *count > 1).collect();
    assert_eq!(twice, Vec::<(String, usize)>::new());
    assert_eq!(smtp.messages().len(), 40);
    // Each replica sent some: both workers took part.
    let senders: Vec<usize> = replicas
        .iter()
        .map(|replica| {
            let lines = replica.log_lines();
            lines.iter().filter(|line| line.contains("mail verify_email sent")).count()
        })
        .collect();
    println!("messages sent by each replica: {senders:?}");
    assert_eq!(senders.iter().sum::<usize>(), 40, "{senders:?}");
}

#[tokio::test]
async fn metrics_count_the_outbox_and_what_was_sent() {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(Backend::Sqlite, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    smtp.wait_for_subject("Your code to verify ada@example.com", 1).await;
    let scrape = || async {
        let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.contains("\nmail_sent_total 1\n") && text.contains("\nmail_outbox_pending 0\n")
    };
    assert!(eventually(scrape).await);
}

fn failed_rows(app: &TestApp) -> Vec<(Option<chrono::NaiveDateTime>, String, Option<String>)> {
    mail_outbox::table
        .select((mail_outbox::failed_at, mail_outbox::body, mail_outbox::last_error))
        .load(&mut app.db())
        .unwrap()
}

async fn a_mailbox_refused_for_good_is_given_up_at_once(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    assert_eq!(app.register("Ghost", "ghost@rejected.example", PASSWORD).await.status(), 201);
    let app = &app;
    assert!(eventually(|| app.has_metric(r#"mail_failed_total{reason="rejected"} 1"#)).await);
    let rows = failed_rows(app);
    assert_eq!(rows.len(), 1);
    let (failed_at, body, error) = &rows[0];
    assert!(failed_at.is_some());
    // The text (which held a code) is gone; why it failed is kept.
    assert_eq!(body, "");
    assert!(error.as_deref().unwrap().contains("No such mailbox"), "{error:?}");
    assert!(smtp.messages().is_empty());
}

async fn a_message_undeliverable_for_a_day_is_given_up(backend: Backend) {
    let mut smtp = SmtpServer::start();
    smtp.stop();
    let app = spawn_app_with_smtp(backend, &smtp).await;
    app.register("Ada", "ada@example.com", PASSWORD).await;
    let app = &app;
    let tried = || ready(failed_rows(app).len() == 1 && outbox_attempts(app) >= 1);
    assert!(eventually(tried).await);
    // A day and an hour pass, and its next retry comes due.
    let a_day_ago = chrono::Utc::now().naive_utc() - chrono::Duration::hours(25);
    diesel::update(mail_outbox::table)
        .set((
            mail_outbox::created_at.eq(a_day_ago),
            mail_outbox::next_attempt_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(&mut app.db())
        .unwrap();
    assert!(eventually(|| app.has_metric(r#"mail_failed_total{reason="unreachable"} 1"#)).await);
    assert!(failed_rows(app)[0].0.is_some());
    assert!(eventually(|| app.has_metric("mail_outbox_pending 0")).await);
}

fn outbox_attempts(app: &TestApp) -> i32 {
    mail_outbox::table.select(mail_outbox::attempts).first(&mut app.db()).unwrap_or(0)
}

async fn codes_are_sent_ahead_of_notices(backend: Backend) {
    // Before: the worker sent oldest first, so after 60 notices a reset code came 17 s late.
    use auth_service::db::mail_outbox::{NewMail, claim_due, enqueue};
    let app = spawn_app(backend).await;
    let now = chrono::Utc::now().naive_utc();
    // Due only in an hour: the app's own worker leaves them to this test.
    let later = now + chrono::Duration::hours(1);
    let mail = |kind: &'static str| NewMail {
        kind,
        user_id: None,
        recipient: "ada@example.com".into(),
        subject: kind.into(),
        body: String::new(),
        created_at: now,
        attempts: 0,
        next_attempt_at: later,
        budgeted: false,
    };
    let mut conn = app.db();
    for kind in ["new_sign_in", "login_limit", "new_sign_in", "password_reset", "mfa_enabled"] {
        enqueue(&mut conn, &mail(kind)).unwrap();
    }
    let minute = chrono::Duration::minutes(1);
    let claimed = claim_due(&mut conn, later + minute, later + minute * 2, 3).unwrap();
    let kinds: Vec<&str> = claimed.iter().map(|mail| mail.kind.as_str()).collect();
    assert_eq!(kinds, ["password_reset", "new_sign_in", "login_limit"]);
}

crate::both_backends!(
    codes_are_sent_ahead_of_notices,
    a_mailbox_refused_for_good_is_given_up_at_once,
    a_message_undeliverable_for_a_day_is_given_up
);
