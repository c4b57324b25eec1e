//! The site's backend the webhook tests deliver to (`tests/webhooks/receiver.mjs`): it verifies
//! each delivery with npm's standardwebhooks and answers as planned.

use reqwest::Method;
use serde_json::{Value, json};

use super::TestApp;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/webhooks");

pub struct WebhookReceiver {
    pub port: u16,
    _server: super::NodeServer,
}

impl WebhookReceiver {
    /// Starts the receiver on a free port (its dependencies installed first, once, if a plain
    /// `cargo test` runs before `./scripts/test` did).
    pub fn start() -> WebhookReceiver {
        let server = super::NodeServer::start(DIR, "standardwebhooks", "receiver.mjs");
        WebhookReceiver { port: server.port, _server: server }
    }

    /// The URL deliveries to the endpoint `name` go to.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/hooks/{name}", self.port)
    }

    /// Verifies deliveries to `name` with `secrets`, and answers them with `answers` in turn.
    pub async fn plan(&self, name: &str, secrets: &[&str], answers: &[u16]) {
        let url = format!("http://127.0.0.1:{}/test/endpoints", self.port);
        let body = json!({"name": name, "secrets": secrets, "answers": answers});
        let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }

    /// Every delivery so far.
    pub async fn received(&self) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/test/received", self.port);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// The deliveries to `name`, once there are `count` of them (within 20 seconds).
    pub async fn wait_for(&self, name: &str, count: usize) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let to: Vec<Value> =
                self.received().await.into_iter().filter(|d| d["name"] == name).collect();
            if to.len() >= count || std::time::Instant::now() > deadline {
                return to;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

impl TestApp {
    /// Adds an endpoint at `url` taking `events` with the admin key `key`: its id and secret.
    pub async fn add_webhook(&self, key: &str, url: &str, events: &[&str]) -> (String, String) {
        let body = json!({"url": url, "events": events});
        let (status, added) = self.admin(Method::POST, "/webhooks", Some(key), Some(&body)).await;
        assert_eq!(status, 201, "{added}");
        let (id, secret) =
            (added["webhook"]["id"].as_str().unwrap(), added["secret"].as_str().unwrap());
        assert!(id.starts_with("wh_") && secret.starts_with("whsec_"), "{added}");
        (id.to_owned(), secret.to_owned())
    }
}
