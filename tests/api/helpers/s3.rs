//! A real S3 API server for the storage tests (moto's server mode, `tests/s3/server.py`), and
//! what a test asks it: which objects a bucket holds, which multipart uploads are unfinished.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::OnceLock,
};

use auth_service::uploads::{bucket::S3Settings, storage::StorageSettings};
use object_store::{ObjectStoreExt, aws::AmazonS3Builder, path::Path};

/// The key prefix every test bucket is used with, so that keys show it.
pub const PREFIX: &str = "pictures/";

pub struct S3Server {
    pub port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// A server of the test's own (for tests that stop it); stopped when dropped.
    pub fn start() -> Self {
        // Another test may take the port between this probe and the server's bind: another.
        for _ in 0..5 {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            drop(probe);
            let mut server = S3Server { port, child: None };
            if server.launch() {
                return server;
            }
        }
        panic!("the S3 server did not start (./scripts/test installs moto into .venv)");
    }

    /// One server for every test of this process that leaves it running, each with buckets of
    /// its own. It stops when the process ends: its standard input closes.
    pub fn shared() -> &'static S3Server {
        static SHARED: OnceLock<S3Server> = OnceLock::new();
        SHARED.get_or_init(S3Server::start)
    }

    /// Starts it again on its port, empty: moto keeps nothing across a restart.
    pub fn restart(&mut self) {
        assert!(self.launch(), "the S3 server did not start again on port {}", self.port);
    }

    /// Runs the server; false when it did not say it listens (its port taken, say).
    fn launch(&mut self) -> bool {
        let mut child = Command::new(super::python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/s3/server.py"))
            .arg(self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs tests/s3/server.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.trim() != "listening" {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        self.child = Some(child);
        true
    }

    /// Stops it: connections to its port are refused until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new, empty bucket.
    pub async fn new_bucket(&self) -> String {
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        self.create_bucket(&name).await;
        name
    }

    pub async fn create_bucket(&self, name: &str) {
        auth_service::uploads::bucket::install_tls_provider();
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .expect("S3 server answers");
        assert_eq!(response.status().as_u16(), 200, "create bucket {name}");
    }

    /// An object put by someone else than the service (a shared bucket), with its own type.
    pub async fn put_object(&self, bucket: &str, key: &str, body: &[u8], content_type: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}/{key}", self.endpoint()))
            .header("Content-Type", content_type)
            .body(body.to_vec())
            .send()
            .await
            .expect("S3 server answers");
        assert_eq!(response.status().as_u16(), 200, "put {key}");
    }

    /// `STORAGE=s3` settings for `bucket` on this server, with the test prefix.
    pub fn storage(&self, bucket: &str) -> StorageSettings {
        StorageSettings::S3(S3Settings {
            bucket: bucket.to_owned(),
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            prefix: PREFIX.into(),
            force_path_style: true,
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            public_url: None,
        })
    }

    /// The bucket's objects as (key, size), sorted by key (ListObjectsV2).
    pub async fn objects(&self, bucket: &str) -> Vec<(String, u64)> {
        let xml = self.get_text(&format!("/{bucket}?list-type=2")).await;
        xml.split("<Contents>")
            .skip(1)
            .map(|entry| (element(entry, "Key"), element(entry, "Size").parse().unwrap()))
            .collect()
    }

    /// The keys of the bucket's multipart uploads that were neither completed nor aborted.
    pub async fn unfinished_uploads(&self, bucket: &str) -> Vec<String> {
        let xml = self.get_text(&format!("/{bucket}?uploads")).await;
        xml.split("<Upload>").skip(1).map(|entry| element(entry, "Key")).collect()
    }

    /// An object's bytes and ETag, read with a signed request as any S3 client would.
    pub async fn object(&self, bucket: &str, key: &str) -> (Vec<u8>, String) {
        auth_service::uploads::bucket::install_tls_provider();
        let store = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap();
        let object = store.get(&Path::from(key)).await.expect("the object exists");
        let etag = object.meta.e_tag.clone().expect("an ETag");
        (object.bytes().await.unwrap().to_vec(), etag)
    }

    async fn get_text(&self, path: &str) -> String {
        auth_service::uploads::bucket::install_tls_provider();
        let response = reqwest::get(format!("{}{path}", self.endpoint())).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "GET {path}");
        response.text().await.unwrap()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The text of the first `<name>` element in `xml`.
fn element(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{name}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    xml[start..end].to_owned()
}

/// What a `FaultyProxy` does to the request that uploads a multipart upload's second part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFault {
    /// Closes the connection in the middle of it (every time: retries fail too).
    Cut,
    /// Stops forwarding it and holds the connection open, as a store that stopped answering.
    Stall,
}

/// A TCP proxy between the service and the S3 server that passes everything on but the
/// upload of a second part: the network failing in the middle of a multipart upload.
pub struct FaultyProxy {
    pub port: u16,
    /// How many second-part uploads it has caught.
    pub caught: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    pub async fn start(upstream: u16, fault: PartFault) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let caught = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = caught.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, fault, counter.clone()));
            }
        });
        FaultyProxy { port, caught, accept }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn caught(&self) -> usize {
        self.caught.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies one connection both ways, watching the requests for `partNumber=2` (the request
/// line of the second part's UploadPart, on a new connection or a kept-alive one).
async fn forward(
    client: tokio::net::TcpStream,
    upstream: u16,
    fault: PartFault,
    caught: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MARK: &[u8] = b"partNumber=2";
    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    });
    let mut window = Vec::new();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = match from_client.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        window.extend_from_slice(&chunk[..n]);
        if window.windows(MARK.len()).any(|at| at == MARK) {
            caught.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if fault == PartFault::Stall {
                // Reads on (so the client's writes do not fail) and forwards nothing.
                while matches!(from_client.read(&mut chunk).await, Ok(n) if n > 0) {}
            }
            break;
        }
        if to_server.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        window.drain(..window.len().saturating_sub(MARK.len()));
    }
    answers.abort();
}
