//! Fetching from the update server with the product's one HTTPS client (appliancectl's):
//! one connection per file, the server verified against the configured CA certificate (or
//! the system's bundle), every step under a timeout and every body under a size limit,
//! handed to a sink piece by piece. No redirects, no proxy: the server URL is what the
//! administrator configured.

use appliancectl::download::{https_endpoint, Download};
use appliancectl::{Client, Endpoint, Trust, Uri};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::time::Duration;

/// Connect, TLS handshake and the answer's headers (the client's own connect timeout, 10 s,
/// bounds the first part).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next piece of a body.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("appliance-daemon/", env!("CARGO_PKG_VERSION"));

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

    /// The client's error, as the update pages and the API say it.
    fn of(err: appliancectl::Error, url: &HttpsUrl) -> FetchError {
        use appliancectl::Error as E;
        let url = url.to_string();
        let reason = match err {
            E::Status { status, .. } => {
                return FetchError::Status {
                    url,
                    status: status.as_u16(),
                }
            }
            E::TooLarge { limit, .. } => return FetchError::TooLarge { url, limit },
            E::Sink(e) => return FetchError::Sink(e),
            E::TlsSetup(e) => return FetchError::Trust(format!("TLS setup failed: {e}")),
            E::Resolve { source, .. } | E::Connect { source, .. } => source.to_string(),
            E::Timeout { seconds, .. } => format!("no answer within {seconds} s"),
            E::Stalled { seconds, .. } => format!("the download stalled for {seconds} s"),
            E::Tls { source, .. } => format!("TLS: {source}"),
            E::CertificateRejected { reason, .. } => format!("TLS: {reason}"),
            E::Http { source, .. } => format!("the download broke off: {source}"),
            other => other.to_string(),
        };
        FetchError::Unreachable { url, reason }
    }
}

/// An `https://host[:port]/path/` URL, checked: read as a URI by the client, with the rules
/// of an update server's address on top (no user name, query or fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpsUrl {
    pub host: String,
    pub port: u16,
    /// Starts with `/`.
    pub path: String,
}

impl HttpsUrl {
    pub(crate) fn parse(url: &str) -> Result<HttpsUrl, String> {
        if !url.starts_with("https://") {
            return Err(format!("{url:?} is not an https:// URL"));
        }
        // A URI may carry these; an update server's address may not.
        if url.contains(['?', '#', '@']) {
            return Err(format!(
                "{url:?}: no query, fragment or user name, only https://host[:port]/path"
            ));
        }
        let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let (endpoint, path) = https_endpoint(&uri).map_err(|e| e.to_string())?;
        let host = endpoint.host;
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            return Err(format!("{url:?}: the host name is not valid"));
        }
        Ok(HttpsUrl {
            host,
            port: endpoint.port,
            path,
        })
    }

    /// `relative` (a path checked by the catalog's rules) in this URL's directory.
    pub(crate) fn join(&self, relative: &str) -> HttpsUrl {
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
pub(crate) fn parse_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
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

/// The trust for the update server: `ca_pem`, or the system's bundle when there is none.
pub(crate) fn client_config(ca_pem: Option<&str>) -> Result<Trust, FetchError> {
    let pem = match ca_pem {
        Some(pem) => pem.to_string(),
        None => std::fs::read_to_string(crate::paths::CA_BUNDLE).map_err(|_| {
            FetchError::Trust(format!(
                "no CA certificate is configured for the update server and this system has no \
                 certificate bundle ({}): add the server's CA certificate to the \
                 update server settings",
                crate::paths::CA_BUNDLE
            ))
        })?,
    };
    Ok(Trust::Roots(parse_pem(&pem).map_err(FetchError::Trust)?))
}

/// GET `url` and hand its body, piece by piece, to `sink`; at most `limit` bytes are
/// accepted. Returns the number of bytes received.
pub(crate) async fn get(
    url: &HttpsUrl,
    trust: Trust,
    limit: u64,
    sink: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64, FetchError> {
    let client = Client::new(Endpoint::new(url.host.clone(), url.port), &trust)
        .map_err(|e| FetchError::of(e, url))?
        .with_user_agent(USER_AGENT);
    let limits = Download {
        max_bytes: limit,
        answer_timeout: ANSWER_TIMEOUT,
        idle_timeout: IDLE_TIMEOUT,
    };
    client
        .download(&url.path, &limits, sink)
        .await
        .map_err(|e| FetchError::of(e, url))
}

/// GET a small file whole.
pub(crate) async fn get_small(
    url: &HttpsUrl,
    trust: Trust,
    limit: u64,
) -> Result<Vec<u8>, FetchError> {
    let mut out = Vec::new();
    get(url, trust, limit, |piece| {
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
