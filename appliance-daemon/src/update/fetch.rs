//! Fetching from the update server: HTTPS GET over hyper and rustls, one connection per
//! file, the server verified against the configured CA certificate (or the system's
//! bundle), every step under a timeout and every body under a size limit. No redirects,
//! no proxy: the server URL is what the administrator configured.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The system's CA bundle, where Debian and Buildroot's ca-certificates put it.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect, TLS handshake and the answer's headers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next piece of a body.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Trust(String),
    #[error("cannot reach the update server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the update server answered HTTP {status} for {url}")]
    Status { url: String, status: u16 },
    #[error("{url} is larger than the {limit} bytes expected")]
    TooLarge { url: String, limit: u64 },
    #[error("{0}")]
    Sink(std::io::Error),
}

impl FetchError {
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::Trust(_) => "no_trust",
            FetchError::Unreachable { .. } => "update_server_unreachable",
            FetchError::Status { .. } | FetchError::TooLarge { .. } => "update_server_error",
            FetchError::Sink(_) => "io",
        }
    }
}

/// An `https://host[:port]/path/` URL, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl HttpsUrl {
    pub fn parse(url: &str) -> Result<HttpsUrl, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if path.contains(['?', '#']) || authority.contains('@') {
            return Err(format!(
                "{url:?}: no query, fragment or user name, only https://host[:port]/path"
            ));
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "{url:?}: the path has spaces or non-ASCII characters"
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, p) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            (h.to_string(), p.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{url:?}: the port is not a number from 1 to 65535"))?,
            None => 443,
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            return Err(format!("{url:?}: the host name is not valid"));
        }
        Ok(HttpsUrl {
            host,
            port,
            path: path.to_string(),
        })
    }

    /// `relative` (a path checked by the catalog's rules) in this URL's directory.
    pub fn join(&self, relative: &str) -> HttpsUrl {
        let dir = match self.path.rfind('/') {
            Some(i) => &self.path[..=i],
            None => "/",
        };
        HttpsUrl {
            host: self.host.clone(),
            port: self.port,
            path: format!("{dir}{relative}"),
        }
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for HttpsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "https://{}{}", self.authority(), self.path)
    }
}

/// The certificates of a PEM text; an error names what is wrong.
pub fn parse_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the CA certificate is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate (-----BEGIN CERTIFICATE-----) in the CA certificate".into());
    }
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
    }
    Ok(certs)
}

/// A TLS client trusting `ca_pem`, or the system's bundle when there is none.
pub fn client_config(ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, FetchError> {
    let pem = match ca_pem {
        Some(pem) => pem.to_string(),
        None => std::fs::read_to_string(SYSTEM_BUNDLE).map_err(|_| {
            FetchError::Trust(format!(
                "no CA certificate is configured for the update server and this system has no \
                 certificate bundle ({SYSTEM_BUNDLE}): add the server's CA certificate to the \
                 update server settings"
            ))
        })?,
    };
    let mut roots = RootCertStore::empty();
    for cert in parse_pem(&pem).map_err(FetchError::Trust)? {
        // A system bundle may hold a certificate webpki cannot use: skip it.
        let _ = roots.add(cert);
    }
    let config = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Trust(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// GET `url` and hand its body, piece by piece, to `sink`; at most `limit` bytes are
/// accepted. Returns the number of bytes received.
pub async fn get(
    url: &HttpsUrl,
    tls: Arc<ClientConfig>,
    limit: u64,
    mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, FetchError> {
    let shown = url.to_string();
    let unreachable = |reason: String| FetchError::Unreachable {
        url: shown.clone(),
        reason,
    };
    let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((url.host.as_str(), url.port)),
        )
        .await
        .map_err(|_| unreachable("no connection within 10 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|_| unreachable("the host name is not valid for TLS".into()))?;
        let stream = TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(format!("TLS: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            // Its failures surface as the request's or the body's error.
            let _ = connection.await;
        });
        let request = hyper::Request::get(url.path.as_str())
            .header(HOST, url.authority())
            .header(
                USER_AGENT,
                concat!("appliance-daemon/", env!("CARGO_PKG_VERSION")),
            )
            .header(CONNECTION, "close")
            .body(Body::empty())
            .map_err(|e| unreachable(e.to_string()))?;
        sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))
    })
    .await
    .map_err(|_| unreachable("no answer within 30 s".into()))??;
    if answer.status() != hyper::StatusCode::OK {
        return Err(FetchError::Status {
            url: shown,
            status: answer.status().as_u16(),
        });
    }
    let mut body = Body::new(answer.into_body()).into_data_stream();
    let mut received = 0u64;
    loop {
        let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Err(_) => return Err(unreachable("the download stalled for 60 s".into())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(unreachable(format!("the download broke off: {e}"))),
            Ok(Some(Ok(chunk))) => chunk,
        };
        received += chunk.len() as u64;
        if received > limit {
            return Err(FetchError::TooLarge { url: shown, limit });
        }
        sink(&chunk).map_err(FetchError::Sink)?;
    }
    Ok(received)
}

/// GET a small file whole.
pub async fn get_small(
    url: &HttpsUrl,
    tls: Arc<ClientConfig>,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    get(url, tls, limit, |piece| {
        out.extend_from_slice(piece);
        Ok(())
    })
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = HttpsUrl::parse("https://updates.example.com/stable/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("updates.example.com", 443));
        assert_eq!(
            u.join("catalog.json").to_string(),
            "https://updates.example.com/stable/catalog.json"
        );
        let u = HttpsUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", 8443, "/")
        );
        assert_eq!(u.join("a/b.pkg").to_string(), "https://[::1]:8443/a/b.pkg");
        for bad in [
            "http://x/",
            "https://",
            "https://x:0/",
            "https://x:99999/",
            "https://u@x/",
            "https://x/?a=b",
            "https://x y/",
        ] {
            assert!(HttpsUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pem_is_checked() {
        assert!(parse_pem("").is_err());
        assert!(
            parse_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err()
        );
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(parse_pem(&cert.pem()).unwrap().len(), 1);
    }
}
