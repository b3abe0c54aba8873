//! A small blocking HTTPS/1.1 client for the appliance's API: one request per connection,
//! trusting either any certificate (a fresh appliance has a new self-signed one each first
//! boot) or the key of one pinned certificate, through appliancectl's verifier.

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Which server certificate to accept.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Any certificate (the handshake signature is still checked).
    Any,
    /// This certificate's key (the product's pin: a re-issue for new addresses keeps it).
    Pinned(CertificateDer<'static>),
}

impl Trust {
    /// Pin the certificate stored in a PEM file (the daemon's `cert.pem`).
    pub fn pinned_pem(path: &Path) -> anyhow::Result<Self> {
        let cert = CertificateDer::from_pem_file(path)
            .with_context(|| format!("no PEM certificate in {}", path.display()))?;
        Ok(Trust::Pinned(cert))
    }
}

impl Trust {
    /// The product's own client configuration (appliancectl's verifier) for this trust.
    fn client_config(&self) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let trust = match self {
            Trust::Any => appliancectl::Trust::InsecureAcceptAny,
            Trust::Pinned(cert) => appliancectl::Trust::Pinned {
                sha256: appliancectl::tls::fingerprint(cert.as_ref()),
            },
        };
        Ok(appliancectl::tls::client_config(&trust)?)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The certificate the server presented.
    pub peer_cert: Option<CertificateDer<'static>>,
    /// "TLSv1_3" or "TLSv1_2".
    pub protocol: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response body is not JSON: {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The JSON body; panics with the status and body when it is not JSON (for tests).
    pub fn value(&self) -> serde_json::Value {
        self.json()
            .unwrap_or_else(|e| panic!("status {}: {e:#}", self.status))
    }
}

/// GET `path` from the HTTPS server at `addr`, presenting SNI `localhost`.
pub fn get(
    addr: SocketAddr,
    path: &str,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<Response> {
    request(addr, "GET", path, &[], &[], trust, timeout)
}

/// One HTTPS request with extra headers and a body (Content-Length is added when the body
/// is not empty).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let length =
        (!body.is_empty() || matches!(method, "POST" | "PUT")).then_some(body.len() as u64);
    let mut tls = send_head(addr, method, path, headers, length, trust, timeout)?;
    tls.write_all(body)
        .with_context(|| format!("TLS to {addr}"))?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // A server may close without close_notify after a complete response.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e).with_context(|| format!("reading the response from {addr}")),
    }
    let peer_cert = tls
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    let protocol = tls
        .conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let mut response = parse_response(&raw)?;
    response.peer_cert = peer_cert;
    response.protocol = protocol;
    Ok(response)
}

/// A request whose body the caller writes itself, e.g. to stop part-way: the head, with
/// `Content-Length: length`, is sent; the stream is returned for the body.
pub fn start_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<TlsStream> {
    send_head(addr, method, path, headers, Some(length), trust, timeout)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connect, then send the request's head (with `Content-Length` when `length` is given).
fn send_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: Option<u64>,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<TlsStream> {
    let config = trust.client_config()?;
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost")?)?;
    let tcp =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect to {addr}"))?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(length) = length {
        head.push_str(&format!("Content-Length: {length}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes())
        .with_context(|| format!("TLS to {addr}"))?;
    Ok(tls)
}

/// GET `path` over plain HTTP (the appliance's port 80 only redirects).
pub fn get_plain(addr: SocketAddr, path: &str, timeout: Duration) -> anyhow::Result<Response> {
    let mut tcp =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connect to {addr}"))?;
    tcp.set_read_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Parse a complete HTTP/1.1 response (Content-Length, chunked, or read-to-close body).
pub fn parse_response(raw: &[u8]) -> anyhow::Result<Response> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!(
            "incomplete HTTP response: {:?}",
            String::from_utf8_lossy(raw)
        );
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let header = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len.parse().context("bad Content-Length")?;
        if rest.len() < len {
            bail!("body shorter ({}) than Content-Length {len}", rest.len());
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
        peer_cert: None,
        protocol: String::new(),
    })
}

fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        // The size comes from the server: a huge one must not overflow.
        if data.len().saturating_sub(2) < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.body, b"{}");
        let r = parse_response(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn incomplete_responses_are_errors() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        let huge_chunk =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab";
        assert!(parse_response(huge_chunk).is_err());
    }
}
