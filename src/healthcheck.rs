//! `auth-service healthcheck`: asks the running service's `/healthz` and exits 0 only on a 200.
//! It is the Docker image's HEALTHCHECK, so the image needs no curl.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use crate::settings::Settings;

/// Docker kills a check that outlives its own timeout; give up well before.
const TIMEOUT: Duration = Duration::from_secs(2);

/// `Ok` when `GET /healthz` on this container's `HOST:PORT` answers 200.
pub fn check(settings: &Settings) -> Result<(), String> {
    // A service listening on every interface is reached through loopback.
    let host = match settings.server.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        host => host,
    };
    let address = (host, settings.server.port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{}: {e}", settings.server.port))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("{address}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{address}: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("{address}: {e}"))?;
    let status_line = response.split(|&b| b == b'\r').next().unwrap_or_default();
    if status_line.starts_with(b"HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(format!("/healthz answered {:?}", String::from_utf8_lossy(status_line)))
    }
}
