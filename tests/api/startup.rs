//! The binary itself: a bad setting stops the start with one line naming the variable.

use std::process::Command;

fn start_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::TempDir::new().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .current_dir(dir.path())
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .expect("run auth-service");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn binary_refuses_bad_settings_naming_the_variable() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("APP_ENV", "prod")],
            "auth-service: invalid configuration: APP_ENV: \"prod\" is neither development nor production\n",
        ),
        (
            &[("PORT", "http")],
            "auth-service: invalid configuration: PORT: \"http\" is not a valid number for this setting\n",
        ),
        (
            &[("DATABASE_URL", "mysql://db/auth")],
            "auth-service: invalid configuration: DATABASE_URL: unknown scheme; expected postgres://… or sqlite://PATH\n",
        ),
        (
            &[("APP_ENV", "production")],
            "auth-service: invalid configuration: JWT_SECRET: is required when APP_ENV=production\n",
        ),
        (
            &[("APP_ENV", "production"), ("JWT_SECRET", "too-short")],
            "auth-service: invalid configuration: JWT_SECRET: must be at least 32 bytes\n",
        ),
    ];
    for (vars, expected) in cases {
        let (code, stderr) = start_with(vars);
        assert_eq!(code, Some(1), "{vars:?}");
        assert_eq!(stderr, expected, "{vars:?}");
    }
}

/// The SQLite file holds password and refresh-token hashes: readable by the service alone,
/// its -wal and -shm files too, also when it existed before with a wider mode.
#[tokio::test]
async fn the_sqlite_file_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;

    use crate::helpers::{Backend, PASSWORD, spawn_app_with};

    let dir = tempfile::TempDir::new().unwrap();
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    for path in [dir.path().join("new/auth.db"), old] {
        let url = auth_service::db::DatabaseUrl::Sqlite(path.clone());
        let app = spawn_app_with(Backend::Sqlite, |s| s.database.url = url).await;
        assert_eq!(app.register("A", "mode@example.com", PASSWORD).await.status(), 201);
        let mut files = vec![path.clone()];
        files.extend(["-wal", "-shm"].map(|suffix| format!("{}{suffix}", path.display()).into()));
        for file in files.iter().filter(|file| file.exists()) {
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        assert!(files[1].exists(), "the WAL file is there to check");
    }
}
