//! The real SMTP server the mail tests send to, and reading what it received.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use tempfile::TempDir;

use super::{eventually, files_in, ready};

/// The Python the tests' servers run on: the project's `.venv` (made by `scripts/test`, with
/// tests/requirements.txt), else the one on PATH.
pub fn python() -> PathBuf {
    let venv = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python3"));
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// A real SMTP server (aiosmtpd, `tests/smtp/catcher.py`) on 127.0.0.1, keeping each message
/// it accepts as a file; stopped when dropped. `./scripts/test` makes sure aiosmtpd is there.
pub struct SmtpServer {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl SmtpServer {
    pub fn start() -> Self {
        // Another test may take the port between this probe and the server's bind: another.
        for _ in 0..5 {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = probe.local_addr().unwrap().port();
            drop(probe);
            let mut server = SmtpServer { port, dir: TempDir::new().unwrap(), child: None };
            if server.launch() {
                return server;
            }
        }
        panic!("the SMTP server did not start (./scripts/test installs aiosmtpd into .venv)");
    }

    /// Starts it again on its port, keeping the messages it has.
    pub fn restart(&mut self) {
        assert!(self.launch(), "the SMTP server did not start again on port {}", self.port);
    }

    /// Runs the server; false when it did not say it listens (its port taken, say).
    fn launch(&mut self) -> bool {
        let mut child = Command::new(python())
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/catcher.py"))
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/smtp/catcher.py");
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

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, oldest first, as received (headers and body).
    pub fn messages(&self) -> Vec<String> {
        let mut names: Vec<_> =
            files_in(self.dir.path()).into_iter().filter(|name| name.ends_with(".eml")).collect();
        names.sort();
        names
            .iter()
            .map(|name| readable(&std::fs::read_to_string(self.dir.path().join(name)).unwrap()))
            .collect()
    }

    /// The messages whose subject is `subject`, once there are at least `count` of them.
    pub async fn wait_for_subject(&self, subject: &str, count: usize) -> Vec<String> {
        let header = format!("\r\nSubject: {subject}\r\n");
        let matching = || -> Vec<String> {
            self.messages().into_iter().filter(|m| format!("\r\n{m}").contains(&header)).collect()
        };
        assert!(eventually(|| ready(matching().len() >= count)).await, "{:?}", self.messages());
        matching()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message with its body decoded as a mail client would (lettre sends a text with long lines
/// as quoted-printable).
pub fn readable(message: &str) -> String {
    let (head, body) = message.split_once("\r\n\r\n").expect("headers, then a body");
    if !head.contains("Content-Transfer-Encoding: quoted-printable") {
        return message.to_owned();
    }
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut decoded = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes.get(at + 1..at + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[at], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    format!("{head}\r\n\r\n{}", String::from_utf8(decoded).unwrap())
}

/// The six-digit code after "code: " in a message.
/// The long code a message's link carries (`…#email=…&code=…`), which no wrong guess ends.
pub fn link_code_in(message: &str) -> String {
    let at = message.find("&code=").expect("a link in the message") + "&code=".len();
    message[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c)).collect()
}

pub fn code_in(message: &str) -> String {
    let at = message.find("code: ").expect("a code in the message") + "code: ".len();
    message[at..at + 6].to_owned()
}
