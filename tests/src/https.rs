//! The test harness's HTTPS requests to the appliance, made with the product's own client
//! (`appliancectl::blocking::Client`), trusting either any certificate (a fresh appliance
//! has a new self-signed one each first boot) or the key of one pinned certificate; the
//! answer is kept as the tests read it ([`Response`]).
//!
//! Two raw-socket helpers remain, for what a correct client cannot be made to do:
//! [`start_request`] sends a request's head and leaves the body to the caller (a test stops
//! an upload part-way, then cuts the power), and [`get_plain`] speaks plain HTTP to port 80,
//! which only redirects (the product's client speaks HTTPS only).

use anyhow::{bail, Context};
use appliancectl::Method;
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

    /// The product's trust (appliancectl's verifier) for this one.
    pub fn product(&self) -> appliancectl::Trust {
        match self {
            Trust::Any => appliancectl::Trust::InsecureAcceptAny,
            Trust::Pinned(cert) => appliancectl::Trust::Pinned {
                sha256: appliancectl::tls::fingerprint(cert.as_ref()),
            },
        }
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

impl From<appliancectl::Response> for Response {
    fn from(answer: appliancectl::Response) -> Self {
        Response {
            status: answer.status.as_u16(),
            headers: answer
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.to_string(), value)
                })
                .collect(),
            body: answer.body.to_vec(),
            peer_cert: answer.peer_certificate,
            protocol: answer
                .tls_version
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
        }
    }
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

/// GET `path` from the HTTPS server at `addr`.
pub fn get(
    addr: SocketAddr,
    path: &str,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<Response> {
    request(addr, "GET", path, &[], &[], trust, timeout)
}

/// One HTTPS request with extra headers and a body, whatever status comes back.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<Response> {
    let method = Method::from_bytes(method.as_bytes())
        .with_context(|| format!("{method:?} is not an HTTP method"))?;
    let mut client = appliancectl::blocking::Client::new(addr.into(), &trust.product())?;
    client.set_timeout(timeout);
    let answer = client
        .send_with(method, path, headers, body.to_vec())
        .with_context(|| format!("HTTPS to {addr}"))?;
    Ok(answer.into())
}

/// A request whose body the caller writes itself, to stop part-way: the head, with
/// `Content-Length: length`, is sent; the stream is returned for the body. Raw on purpose:
/// the product's client always sends the whole body it announced.
pub fn start_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<TlsStream> {
    send_head(addr, method, path, headers, length, trust, timeout)
}

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Connect, then send the request's head with `Content-Length`.
fn send_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    length: u64,
    trust: &Trust,
    timeout: Duration,
) -> anyhow::Result<TlsStream> {
    let config: Arc<rustls::ClientConfig> = appliancectl::tls::client_config(&trust.product())?;
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
    head.push_str(&format!("Content-Length: {length}\r\n"));
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

/// Parse a complete plain-HTTP answer of port 80 (a redirect or a refusal): its body has a
/// `Content-Length` or ends with the connection. A chunked body is refused: port 80 never
/// sends one, and the HTTPS answers are read by the product's client.
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
    if header("transfer-encoding").is_some() {
        bail!("a plain-HTTP answer with Transfer-Encoding: {head:?}");
    }
    let body = match header("content-length") {
        Some(len) => {
            let len: usize = len.parse().context("bad Content-Length")?;
            if rest.len() < len {
                bail!("body shorter ({}) than Content-Length {len}", rest.len());
            }
            rest[..len].to_vec()
        }
        None => rest.to_vec(),
    };
    Ok(Response {
        status,
        headers,
        body,
        peer_cert: None,
        protocol: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_answers() {
        let r = parse_response(b"HTTP/1.1 301 Moved Permanently\r\nlocation: https://x/\r\ncontent-length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!(r.status, 301);
        assert_eq!(r.header("Location"), Some("https://x/"));
        assert_eq!(r.body, b"{}");
    }

    #[test]
    fn incomplete_or_chunked_answers_are_errors() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n";
        assert!(parse_response(chunked).is_err());
    }
}
