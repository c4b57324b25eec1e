//! The schema's migrations, embedded in the binary and run by the pool's first connection.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::AnyConnection;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// An arbitrary key for the PostgreSQL advisory lock that migrations hold ("auth").
const MIGRATION_LOCK_KEY: i64 = 0x6175_7468;

/// Runs pending migrations. On PostgreSQL they hold an advisory lock, so replicas starting
/// together migrate one after the other instead of racing to create the same tables.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<(), MigrationError> {
    match conn {
        AnyConnection::Postgresql(conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let migrated = conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop);
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            migrated?
        }
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(drop)?,
    };
    Ok(())
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
