//! A `TestApp` method per endpoint: the request a client sends, and what it answers.

use serde_json::{Value, json};

use super::{PASSWORD, TestApp, Tokens, status_and_json};

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request")
    }

    /// A JSON POST relayed by a proxy for `client` (believed when the app trusts 127.0.0.1).
    pub async fn post_json_from(
        &self,
        client: &str,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        let request = self.client.post(self.url(path)).header("X-Forwarded-For", client);
        request.json(body).send().await.expect("request")
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

    /// `POST /api/logout?scope=…` (`all`, `others`).
    pub async fn logout_scope(&self, token: &str, scope: &str) -> (u16, Value) {
        let path = format!("/api/logout?scope={scope}");
        self.bearer_json(reqwest::Method::POST, &path, token, &json!({})).await
    }

    pub async fn change_password(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::PUT, "/api/password", token, body).await
    }

    /// `DELETE /api/password`: an account that signs in with passkeys drops its password.
    pub async fn remove_password(&self, token: &str) -> (u16, Value) {
        let request = self.client.delete(self.url("/api/password")).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn delete_user(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::DELETE, "/api/user", token, body).await
    }

    pub async fn update_user(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::PATCH, "/api/user", token, body).await
    }

    pub async fn forgot_password(&self, email: &str) -> (u16, Value) {
        status_and_json(self.post_json("/api/password/forgot", &json!({ "email": email })).await)
            .await
    }

    pub async fn reset_password(&self, body: &Value) -> (u16, Value) {
        status_and_json(self.post_json("/api/password/reset", body).await).await
    }

    pub async fn verify_email(&self, email: &str, code: &str) -> (u16, Value) {
        let body = json!({"email": email, "code": code});
        status_and_json(self.post_json("/api/email/verify", &body).await).await
    }

    /// `POST /api/email/verify/resend`, which has no body.
    pub async fn resend_verification(&self, token: &str) -> (u16, Value) {
        let request = self.client.post(self.url("/api/email/verify/resend")).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    /// `POST /api/email/verify/resend {email}` without a bearer token.
    pub async fn resend_verification_to(&self, email: &str) -> (u16, Value) {
        let body = json!({ "email": email });
        status_and_json(self.post_json("/api/email/verify/resend", &body).await).await
    }

    pub async fn change_email(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::POST, "/api/email/change", token, body).await
    }

    pub async fn confirm_email_change(&self, token: &str, code: &str) -> (u16, Value) {
        let body = json!({ "code": code });
        self.bearer_json(reqwest::Method::POST, "/api/email/change/confirm", token, &body).await
    }

    /// `POST /api/login/mfa`: the login's second step.
    pub async fn request_sign_in_code(&self, email: &str) -> (u16, Value) {
        status_and_json(self.post_json("/api/login/code", &json!({ "email": email })).await).await
    }

    pub async fn verify_sign_in_code(&self, email: &str, code: &str) -> (u16, Value) {
        let body = json!({"email": email, "code": code});
        status_and_json(self.post_json("/api/login/code/verify", &body).await).await
    }

    pub async fn login_mfa(&self, body: &Value) -> (u16, Value) {
        status_and_json(self.post_json("/api/login/mfa", body).await).await
    }

    pub async fn enrol_totp(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::POST, "/api/mfa/totp", token, body).await
    }

    pub async fn confirm_totp(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::POST, "/api/mfa/totp/confirm", token, body).await
    }

    pub async fn renew_recovery_codes(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::POST, "/api/mfa/recovery-codes", token, body).await
    }

    pub async fn disable_totp(&self, token: &str, body: &Value) -> (u16, Value) {
        self.bearer_json(reqwest::Method::DELETE, "/api/mfa/totp", token, body).await
    }

    pub async fn list_sessions(&self, token: &str) -> (u16, Value) {
        let request = self.client.get(self.url("/api/sessions")).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn end_session(&self, token: &str, id: &str) -> (u16, Value) {
        let request =
            self.client.delete(self.url(&format!("/api/sessions/{id}"))).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    /// `GET /.well-known/jwks.json`: its status, `Cache-Control` and body.
    /// Whether `GET /metrics` shows the sample `line` (`name{labels} value`) now.
    pub async fn has_metric(&self, line: &str) -> bool {
        let text =
            self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap();
        text.contains(&format!("\n{line}\n"))
    }

    pub async fn jwks(&self) -> (u16, String, Value) {
        let response =
            self.client.get(self.url("/.well-known/jwks.json")).send().await.expect("request");
        let cache = response.headers()["cache-control"].to_str().unwrap().to_owned();
        let (status, body) = status_and_json(response).await;
        (status, cache, body)
    }
}
