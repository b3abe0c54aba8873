//! Abusive clients for the resource-limit tests and the abuse bench: connections from a
//! chosen loopback source address (127.0.0.2 … stand for other hosts), logins that hang
//! up, idle and slow connections, and the daemon's memory peak.

use anyhow::Context;
use rustls::pki_types::ServerName;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::https::Trust;

/// A TLS connection from the test to the daemon.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TCP connection to `to` from `source` (any 127.x.y.z works on Linux loopback).
pub fn connect_from(
    source: IpAddr,
    to: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.bind(&SocketAddr::new(source, 0).into())?;
    socket
        .connect_timeout(&to.into(), timeout)
        .with_context(|| format!("connect to {to} from {source}"))?;
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    Ok(tcp)
}

/// A TLS connection from `source`, its handshake done.
pub fn tls_from(
    source: IpAddr,
    to: SocketAddr,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<TlsStream> {
    let config: Arc<rustls::ClientConfig> = appliancectl::tls::client_config(&trust.product())?;
    let mut conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost")?)?;
    let mut tcp = connect_from(source, to, timeout)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).context("TLS handshake")?;
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// A request's head with `Content-Length: length`, for a body written by the caller.
pub fn head(method: &str, path: &str, length: usize) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// One login of `user` with a wrong password from `source` that hangs up after
/// `patience`, as a flooding client does; Ok once sent.
pub fn login_and_hang_up(
    source: IpAddr,
    to: SocketAddr,
    trust: &Trust,
    user: &str,
    patience: Duration,
) -> anyhow::Result<()> {
    let body = serde_json::json!({"username": user, "password": "not-the-password"}).to_string();
    let mut tls = tls_from(source, to, trust, Duration::from_secs(10))?;
    tls.write_all(head("POST", "/api/v1/session", body.len()).as_bytes())?;
    tls.write_all(body.as_bytes())?;
    tls.flush()?;
    std::thread::sleep(patience);
    Ok(())
}

/// One request from `source` (`Connection: close`), its whole answer read.
pub fn request_from(
    source: IpAddr,
    to: SocketAddr,
    trust: &Trust,
    method: &str,
    path: &str,
    body: &str,
) -> anyhow::Result<crate::https::Response> {
    use std::io::Read;
    let mut tls = tls_from(source, to, trust, Duration::from_secs(30))?;
    let head = head(method, path, body.len()).replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n");
    tls.write_all(head.as_bytes())?;
    tls.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // The daemon closes without close_notify after `Connection: close`: the answer is whole.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    crate::https::parse_response(&raw)
}

/// The peak resident memory of process `pid` so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmHWM:")
}

/// The threads of process `pid` now.
pub fn threads(pid: u32) -> u64 {
    status_field(pid, "Threads:")
}

pub fn status_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The `q` quantile (0..=1) of `samples`, which it sorts.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    let index = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[index.min(samples.len() - 1)]
}
