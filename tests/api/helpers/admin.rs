//! Operators' tools: admin keys (made as `auth-service admin keys create` makes them), a
//! `TestApp` method per `/api/admin/*` call, and the CLI run as a process on the app's database.

use auth_service::{
    admin::{Actor, Scope, keys},
    db::DatabaseUrl,
    request::Ctx,
};
use serde_json::Value;

use super::{TEST_SECRET, TestApp, status_and_json};

/// What `auth-service admin …` printed, and how it exited.
#[derive(Debug)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl TestApp {
    /// A new admin key with `scopes` (comma-separated).
    pub async fn admin_key(&self, scopes: &str) -> String {
        let ctx = Ctx::operator(self.state.clone());
        let scopes = Scope::parse_list(scopes).unwrap();
        keys::create(&ctx, &Actor::Cli, "test", &scopes).await.unwrap().key
    }

    /// `method` `/api/admin{path}` with `key` (or none), and a JSON body.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(&format!("/api/admin{path}")));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn admin_get(&self, path: &str, key: &str) -> (u16, Value) {
        self.admin(reqwest::Method::GET, path, Some(key), None).await
    }

    pub async fn admin_post(&self, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, Some(key), body).await
    }

    /// `auth-service admin <args>` against this app's database, as an operator runs it.
    pub fn cli(&self, args: &[&str]) -> CliRun {
        let url = match &self.database_url {
            DatabaseUrl::Postgres(url) => url.clone(),
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
        };
        admin_cli(&url, &self.upload_dir, &[], args)
    }
}

/// `auth-service admin <args>` against the database at `url`, with `env` beside, as an
/// operator runs it.
pub fn admin_cli(
    url: &str,
    upload_dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> CliRun {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("admin")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", url)
        .env("UPLOAD_DIR", upload_dir)
        .env("JWT_SECRET", TEST_SECRET)
        .env("RUST_LOG", "error")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}
