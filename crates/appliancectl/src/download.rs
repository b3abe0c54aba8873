//! Downloading a file from an HTTPS server other than the appliance's API (the update
//! server): an absolute `https://` URL read with [`hyper::Uri`], and the body handed to the
//! caller's sink piece by piece as it arrives, under a size limit and an idle timeout, so
//! memory stays bounded whatever the file's size.

use crate::client::{connect, send};
use crate::{Client, Endpoint, Error, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use std::time::Duration;

/// The bounds of one download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Download {
    /// The most bytes of body accepted; one more is [`Error::TooLarge`].
    pub max_bytes: u64,
    /// Connecting, the TLS handshake and the answer's headers, together.
    pub answer_timeout: Duration,
    /// The longest wait for the next piece of the body.
    pub idle_timeout: Duration,
}

/// The server and the path (with its query, if any) of an absolute `https://` URL. The
/// port defaults to 443; an IPv6 host loses its brackets.
pub fn https_endpoint(url: &Uri) -> Result<(Endpoint, String)> {
    let invalid = |reason: &str| Error::InvalidUrl {
        input: url.to_string(),
        reason: reason.to_string(),
    };
    if url.scheme_str() != Some("https") {
        return Err(invalid("it is not an https:// URL"));
    }
    let authority = url.authority().ok_or_else(|| invalid("it has no host"))?;
    let bracketed = authority.host();
    let host = bracketed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(bracketed);
    if host.is_empty() {
        return Err(invalid("it has no host"));
    }
    // Read from the text: the URI keeps a port it cannot read as a u16 as no port at all.
    let port = match authority
        .as_str()
        .strip_prefix(bracketed)
        .and_then(|rest| rest.strip_prefix(':'))
    {
        None => 443,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| invalid("the port must be a number from 1 to 65535"))?,
    };
    let path = url
        .path_and_query()
        .map(hyper::http::uri::PathAndQuery::as_str)
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    Ok((Endpoint::new(host, port), path.to_string()))
}

impl Client {
    /// GET `path` and hand its body, piece by piece, to `sink`; returns the bytes received.
    /// Anything but 200 is [`Error::Status`]; no redirect is followed.
    pub async fn download(
        &self,
        path: &str,
        limits: &Download,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64> {
        let endpoint = self.endpoint().to_string();
        let http_error = |source| Error::Http {
            endpoint: endpoint.clone(),
            source,
        };
        let request = Request::get(path)
            .header(HOST, self.endpoint().authority())
            .header(USER_AGENT, self.user_agent())
            .header(ACCEPT, "*/*")
            .header(CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::Request {
                method: "GET".to_string(),
                path: path.to_string(),
                reason: e.to_string(),
            })?;
        let (answer, _driver) = tokio::time::timeout(limits.answer_timeout, async {
            let tls = connect(self.endpoint(), self.tls(), self.server_name()).await?;
            // The driver is kept until the body is read.
            send(tls, request).await.map_err(http_error)
        })
        .await
        .map_err(|_| Error::Timeout {
            endpoint: endpoint.clone(),
            seconds: limits.answer_timeout.as_secs(),
        })??;
        if answer.status() != StatusCode::OK {
            return Err(Error::Status {
                endpoint,
                path: path.to_string(),
                status: answer.status(),
            });
        }
        let mut body = answer.into_body();
        let mut received = 0u64;
        loop {
            let frame = match tokio::time::timeout(limits.idle_timeout, body.frame()).await {
                Err(_) => {
                    return Err(Error::Stalled {
                        endpoint,
                        path: path.to_string(),
                        seconds: limits.idle_timeout.as_secs(),
                    })
                }
                Ok(None) => break,
                Ok(Some(frame)) => frame.map_err(http_error)?,
            };
            // Trailers carry nothing a download needs.
            let Ok(piece) = frame.into_data() else {
                continue;
            };
            received += piece.len() as u64;
            if received > limits.max_bytes {
                return Err(Error::TooLarge {
                    endpoint,
                    path: path.to_string(),
                    limit: limits.max_bytes,
                });
            }
            sink(&piece).map_err(Error::Sink)?;
        }
        Ok(received)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> Result<(Endpoint, String)> {
        https_endpoint(&url.parse::<Uri>().unwrap())
    }

    #[test]
    fn https_urls_name_a_server_and_a_path() {
        let (endpoint, path) = split("https://updates.example.com/stable/catalog.json").unwrap();
        assert_eq!(endpoint, Endpoint::new("updates.example.com", 443));
        assert_eq!(path, "/stable/catalog.json");
        let (endpoint, path) = split("https://[::1]:8443").unwrap();
        assert_eq!(endpoint, Endpoint::new("::1", 8443));
        assert_eq!(path, "/");
        for bad in ["http://x/", "https://x:0/", "https://x:99999/", "/relative"] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
