//! A `TestApp` method per endpoint: the request a client sends, and what it answers.

use serde_json::{Value, json};

use super::{PASSWORD, TestApp, Tokens, status_and_json};

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    pub async fn register(&self, name: &str, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/register",
            &json!({"name": name, "email": email, "password": password}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/api/login", &json!({"email": email, "password": password})).await
    }

    /// Registers `email` with `PASSWORD` and returns a fresh access token.
    pub async fn register_and_login(&self, email: &str) -> String {
        let response = self.register("Test User", email, PASSWORD).await;
        assert_eq!(response.status().as_u16(), 201, "register {email}");
        self.token_for(email).await
    }

    pub async fn token_for(&self, email: &str) -> String {
        self.session_for(email).await.access
    }

    /// Logs `email` in with `PASSWORD`: a new session.
    pub async fn session_for(&self, email: &str) -> Tokens {
        let (status, body) = status_and_json(self.login(email, PASSWORD).await).await;
        assert_eq!(status, 200, "login {email}: {body}");
        Tokens::from_body(&body)
    }

    /// Logs `email` in with another password and returns the access token.
    pub async fn token_for_password(&self, email: &str, password: &str) -> String {
        let (status, body) = status_and_json(self.login(email, password).await).await;
        assert_eq!(status, 200, "login {email}: {body}");
        Tokens::from_body(&body).access
    }

    /// A JSON request with a bearer token, and its status and JSON body.
    pub async fn bearer_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &Value,
    ) -> (u16, Value) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        status_and_json(response).await
    }

    /// The status of `GET /` with this access token.
    pub async fn me_status(&self, access_token: &str) -> u16 {
        self.get_me(Some(&format!("Bearer {access_token}"))).await.status().as_u16()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/api/token/refresh", &json!({"refresh_token": refresh_token})).await
    }

    pub async fn get_me(&self, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url("/"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.send().await.expect("request")
    }

    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned());
        let form = reqwest::multipart::Form::new().part("profile_pic", part);
        self.upload_form(path, token, form).await
    }

    /// A multipart form of the test's own making, posted with a bearer token.
    pub async fn upload_form(
        &self,
        path: &str,
        token: &str,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.client.post(self.url("/api/logout")).bearer_auth(token).send().await.expect("request")
    }
}
