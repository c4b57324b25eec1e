//! The schema's migrations, embedded in the binary and run by the pool's first connection.

use diesel::{connection::SimpleConnection, prelude::*};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{
    AnyConnection,
    schema::{data_migrations, users},
};
use crate::validation::normalize_email;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// An arbitrary key for the PostgreSQL advisory lock that migrations hold ("auth").
const MIGRATION_LOCK_KEY: i64 = 0x6175_7468;

/// Runs pending migrations. On PostgreSQL they run in one transaction holding an advisory
/// lock, so replicas starting together migrate one after the other instead of racing to create
/// the same tables. The lock is the transaction's, not the session's: behind PgBouncer in
/// transaction mode a session lock and its unlock could land on different server connections.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), MigrationError> {
    if matches!(conn, AnyConnection::Postgresql(_)) {
        conn.transaction(|conn| {
            conn.batch_execute(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))?;
            migrate(conn)
        })
    } else {
        migrate(conn)
    }
}

fn migrate(conn: &mut AnyConnection) -> Result<(), MigrationError> {
    match conn {
        AnyConnection::Postgresql(conn) => {
            conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop)?
        }
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(drop)?,
    };
    if !done(conn, EMAILS_NFKC)? {
        for collision in renormalize_emails(conn)? {
            log::warn!(
                "users {} and {} have addresses that normalise alike ({}): left as they are; \
                 rename or merge one by hand",
                collision.kept_id,
                collision.other_id,
                collision.normalized
            );
        }
        diesel::insert_into(data_migrations::table)
            .values((
                data_migrations::name.eq(EMAILS_NFKC),
                data_migrations::done_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Stored emails normalised as registration now normalises them (NFKC, then lower case).
const EMAILS_NFKC: &str = "emails-nfkc-v1";

fn done(conn: &mut AnyConnection, name: &str) -> QueryResult<bool> {
    let found = data_migrations::table.find(name).count().get_result::<i64>(conn)?;
    Ok(found > 0)
}

/// Two accounts whose addresses normalise alike: reported, never merged.
#[derive(Debug, PartialEq, Eq)]
pub struct Collision {
    pub kept_id: i64,
    pub other_id: i64,
    pub normalized: String,
}

/// Stores every email in today's normal form, except where another account already has that
/// form: those pairs are returned, and both stay as they were.
pub fn renormalize_emails(conn: &mut AnyConnection) -> QueryResult<Vec<Collision>> {
    let stored: Vec<(i64, String)> =
        users::table.select((users::id, users::email)).order(users::id).load(conn)?;
    let mut collisions = Vec::new();
    for (id, email) in &stored {
        let normalized = normalize_email(email);
        if normalized == *email {
            continue;
        }
        let other = users::table
            .filter(users::email.eq(&normalized))
            .select(users::id)
            .get_result::<i64>(conn)
            .optional()?;
        match other {
            Some(kept_id) => collisions.push(Collision { kept_id, other_id: *id, normalized }),
            None => {
                diesel::update(users::table.find(id))
                    .set(users::email.eq(&normalized))
                    .execute(conn)?;
            }
        }
    }
    Ok(collisions)
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, fs};

    /// The one column the dialects must spell differently: an auto-incrementing key.
    const AUTO_ID: [(&str, &str); 2] = [
        ("postgres", "id BIGSERIAL PRIMARY KEY"),
        ("sqlite", "id INTEGER PRIMARY KEY AUTOINCREMENT"),
    ];

    /// `step/file` → its text, with the backend's auto-increment key written alike.
    fn scripts(backend: &str) -> BTreeMap<String, String> {
        let root = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
        let auto_id = AUTO_ID.iter().find(|(name, _)| *name == backend).unwrap().1;
        let mut scripts = BTreeMap::new();
        for step in fs::read_dir(&root).unwrap() {
            let step = step.unwrap();
            let step_name = step.file_name().to_string_lossy().into_owned();
            if step_name.starts_with('.') {
                continue;
            }
            for file in fs::read_dir(step.path()).unwrap() {
                let file = file.unwrap();
                let text = fs::read_to_string(file.path()).unwrap();
                let name = format!("{step_name}/{}", file.file_name().to_string_lossy());
                scripts.insert(name, text.replace(auto_id, "id <auto-increment key>"));
            }
        }
        scripts
    }

    #[test]
    fn both_backends_migrate_alike_but_for_the_auto_increment_key() {
        let postgres = scripts("postgres");
        assert!(postgres.len() >= 8, "{:?}", postgres.keys());
        let sqlite = scripts("sqlite");
        assert_eq!(postgres.keys().collect::<Vec<_>>(), sqlite.keys().collect::<Vec<_>>());
        for (name, text) in &postgres {
            assert_eq!(text, &sqlite[name], "{name} differs between the backends");
        }
    }
}
