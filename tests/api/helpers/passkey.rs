//! A software authenticator: it answers the service's WebAuthn options as a browser and a
//! platform authenticator would (clientDataJSON, authenticator data, a "none" attestation, an
//! Ed25519 signature), with every flag, counter and origin under the test's control. The
//! browser test (tests/browser) runs the same ceremonies through Chromium's own virtual
//! authenticator.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{TestApp, status_and_json};

/// The origin the test settings allow by default (`http://localhost:{PORT}`, PORT 5000).
pub const ORIGIN: &str = "http://localhost:5000";

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_DATA: u8 = 0x40;

pub struct SoftKey {
    pub key: SigningKey,
    pub credential_id: Vec<u8>,
    /// The user handle the registration gave, which a discoverable key answers with.
    pub user_handle: Vec<u8>,
    pub rp_id: String,
    pub counter: u32,
    /// Whether it verifies its user (PIN, biometrics) or only checks presence.
    pub verifies_user: bool,
    /// A synced passkey (backup eligible and backed up) or a key bound to one device.
    pub synced: bool,
    pub origin: String,
}

impl SoftKey {
    /// A synced passkey that verifies its user, as a phone's or a password manager's.
    pub fn new() -> SoftKey {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).unwrap();
        let mut credential_id = vec![0u8; 16];
        getrandom::fill(&mut credential_id).unwrap();
        SoftKey {
            key: SigningKey::from_bytes(&seed),
            credential_id,
            user_handle: Vec::new(),
            rp_id: "localhost".into(),
            counter: 0,
            verifies_user: true,
            synced: true,
            origin: ORIGIN.into(),
        }
    }

    /// A security key bound to one device, with a counter that grows at each use.
    pub fn device_bound() -> SoftKey {
        SoftKey { synced: false, counter: 1, ..SoftKey::new() }
    }

    fn flags(&self) -> u8 {
        let mut flags = USER_PRESENT;
        if self.verifies_user {
            flags |= USER_VERIFIED;
        }
        if self.synced {
            flags |= BACKUP_ELIGIBLE | BACKED_UP;
        }
        flags
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("options.challenge");
        let data = json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false});
        serde_json::to_vec(&data).unwrap()
    }

    /// The credential `navigator.credentials.create(options)` would give, as its `toJSON()`.
    pub fn register(&mut self, options: &Value) -> Value {
        let handle = options["user"]["id"].as_str().unwrap_or_default();
        self.user_handle = URL_SAFE_NO_PAD.decode(handle).unwrap();
        let client_data = self.client_data("webauthn.create", options);
        let mut auth_data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | ATTESTED_DATA);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        let public_key = Cbor::Map(
            [
                (Cbor::Integer(1), Cbor::Integer(1)),  // kty: OKP
                (Cbor::Integer(3), Cbor::Integer(-8)), // alg: EdDSA
                (Cbor::Integer(-1), Cbor::Integer(6)), // crv: Ed25519
                (Cbor::Integer(-2), Cbor::Bytes(self.key.verifying_key().to_bytes().to_vec())),
            ]
            .into_iter()
            .collect(),
        );
        auth_data.extend(serde_cbor_2::to_vec(&public_key).unwrap());
        let attestation = Cbor::Map(
            [
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
                (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        self.credential(json!({
            "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
            "attestationObject": URL_SAFE_NO_PAD.encode(serde_cbor_2::to_vec(&attestation).unwrap()),
            "transports": ["internal"],
        }))
    }

    /// A credential of this key, as a browser's `toJSON()` writes it, with its `response`.
    fn credential(&self, response: Value) -> Value {
        let id = URL_SAFE_NO_PAD.encode(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// The assertion `navigator.credentials.get(options)` would give; a device-bound key
    /// counts the use first.
    pub fn sign_in(&mut self, options: &Value) -> Value {
        if !self.synced {
            self.counter += 1;
        }
        let client_data = self.client_data("webauthn.get", options);
        let mut auth_data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        let counter = if self.synced { 0 } else { self.counter };
        auth_data.extend_from_slice(&counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.key.sign(&signed);
        self.credential(json!({
            "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data),
            "authenticatorData": URL_SAFE_NO_PAD.encode(auth_data),
            "signature": URL_SAFE_NO_PAD.encode(signature.to_bytes()),
            "userHandle": URL_SAFE_NO_PAD.encode(&self.user_handle),
        }))
    }
}

impl TestApp {
    pub async fn passkey_registration_options(&self, token: &str) -> (u16, Value) {
        let path = "/api/passkeys/registration/options";
        self.bearer_json(reqwest::Method::POST, path, token, &json!({})).await
    }

    pub async fn register_passkey(&self, token: &str, body: &Value) -> (u16, Value) {
        let path = "/api/passkeys/registration/verify";
        self.bearer_json(reqwest::Method::POST, path, token, body).await
    }

    pub async fn passkey_sign_in_options(&self) -> (u16, Value) {
        status_and_json(self.post_json("/api/passkeys/authentication/options", &json!({})).await)
            .await
    }

    pub async fn verify_passkey_sign_in(&self, body: &Value) -> (u16, Value) {
        status_and_json(self.post_json("/api/passkeys/authentication/verify", body).await).await
    }

    pub async fn list_passkeys(&self, token: &str) -> (u16, Value) {
        let request = self.client.get(self.url("/api/passkeys")).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    pub async fn rename_passkey(&self, token: &str, id: &str, body: &Value) -> (u16, Value) {
        let path = format!("/api/passkeys/{id}");
        self.bearer_json(reqwest::Method::PATCH, &path, token, body).await
    }

    pub async fn remove_passkey(&self, token: &str, id: &str) -> (u16, Value) {
        let request =
            self.client.delete(self.url(&format!("/api/passkeys/{id}"))).bearer_auth(token);
        status_and_json(request.send().await.expect("request")).await
    }

    /// Registers `key` to the account of `token` under `name`: the 201 body.
    pub async fn add_passkey(&self, token: &str, key: &mut SoftKey, name: &str) -> Value {
        let (status, opened) = self.passkey_registration_options(token).await;
        assert_eq!(status, 200, "{opened}");
        let credential = key.register(&opened["options"]);
        let body =
            json!({"challenge_id": opened["challenge_id"], "credential": credential, "name": name});
        let (status, added) = self.register_passkey(token, &body).await;
        assert_eq!(status, 201, "{added}");
        added
    }

    /// Signs in with `key` through a fresh ceremony: the status and body of the verify step.
    pub async fn sign_in_with(&self, key: &mut SoftKey) -> (u16, Value) {
        let (status, opened) = self.passkey_sign_in_options().await;
        assert_eq!(status, 200, "{opened}");
        let credential = key.sign_in(&opened["options"]);
        self.verify_passkey_sign_in(
            &json!({"challenge_id": opened["challenge_id"], "credential": credential}),
        )
        .await
    }
}
