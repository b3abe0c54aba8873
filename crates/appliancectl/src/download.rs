//! Downloading a file: from an HTTPS server other than the appliance's API (the update
//! server: an absolute `https://` URL read with [`hyper::Uri`]), or from the API itself
//! (a settings backup, asked for with a JSON body). The body is handed to the caller piece
//! by piece as it arrives, under a size limit and an idle timeout, so memory stays bounded
//! whatever the file's size.

use crate::client::{connect, send, Response};
use crate::{Client, Endpoint, Error, Result};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CONNECTION, CONTENT_DISPOSITION, HOST, USER_AGENT};
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
use serde_json::Value;
use std::cell::RefCell;
use std::time::Duration;

/// The most of a refused download's body read, for the API's error.
const REFUSAL_MAX: usize = 64 * 1024;

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
        sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64> {
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
        self.stream(Method::GET, path, request, limits, false, |_| Ok(()), sink)
            .await
    }

    /// Call the API with `body` as JSON (with the session) and write the answer's body, as
    /// it arrives, into the writer `open` makes from the answer's headers (which name the
    /// file: [`attachment_name`]). The writer and the bytes written come back. A refusal
    /// is the API's error ([`Error::Api`]); `open` is then never called.
    pub async fn download_to<W: std::io::Write>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        limits: &Download,
        open: impl FnOnce(&HeaderMap) -> std::io::Result<W>,
    ) -> Result<(W, u64)> {
        let request = self.build_request(&method, path, body)?;
        let writer: RefCell<Option<W>> = RefCell::new(None);
        let received = self
            .stream(
                method,
                path,
                request,
                limits,
                true,
                |headers| {
                    *writer.borrow_mut() = Some(open(headers)?);
                    Ok(())
                },
                |piece| match writer.borrow_mut().as_mut() {
                    Some(w) => w.write_all(piece),
                    None => Err(std::io::Error::other("no file to write to")),
                },
            )
            .await?;
        let writer = writer
            .into_inner()
            .ok_or_else(|| Error::Sink(std::io::Error::other("no file was opened")))?;
        Ok((writer, received))
    }

    /// Send `request`, then hand the answer's headers to `head` and its body to `sink`.
    /// Anything but 200 is [`Error::Status`], or with `api` the API's error.
    #[allow(clippy::too_many_arguments)]
    async fn stream<B>(
        &self,
        method: Method,
        path: &str,
        request: Request<B>,
        limits: &Download,
        api: bool,
        head: impl FnOnce(&HeaderMap) -> std::io::Result<()>,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let endpoint = self.endpoint().to_string();
        let http_error = |source| Error::Http {
            endpoint: endpoint.clone(),
            source,
        };
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
            if !api {
                return Err(Error::Status {
                    endpoint,
                    path: path.to_string(),
                    status: answer.status(),
                });
            }
            let (parts, body) = answer.into_parts();
            let body = tokio::time::timeout(
                limits.idle_timeout,
                Limited::new(body, REFUSAL_MAX).collect(),
            )
            .await
            .ok()
            .and_then(std::result::Result::ok)
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
            let refused =
                Response::received(parts.status, parts.headers, body, endpoint, method, path);
            return Err(refused.error_for_status().err().unwrap_or(Error::Status {
                endpoint: self.endpoint().to_string(),
                path: path.to_string(),
                status: parts.status,
            }));
        }
        head(answer.headers()).map_err(Error::Sink)?;
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

/// The file name an answer's `Content-Disposition: attachment; filename="…"` gives, when
/// it is a plain name (no directory, not hidden, printable): safe to create in the current
/// directory.
pub fn attachment_name(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_DISPOSITION)?.to_str().ok()?;
    let name = value
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("filename="))?
        .trim_matches('"');
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    plain.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attachment_name_is_a_plain_file_name() {
        let named = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_DISPOSITION, value.parse().unwrap());
            attachment_name(&headers)
        };
        assert_eq!(
            named("attachment; filename=\"appliance-1a2b-box-1.0.0-20261207T170000Z.backup\"")
                .as_deref(),
            Some("appliance-1a2b-box-1.0.0-20261207T170000Z.backup")
        );
        for bad in [
            "attachment; filename=\"../etc/passwd\"",
            "attachment; filename=\".profile\"",
            "attachment; filename=\"a/b\"",
            "attachment; filename=\"\"",
            "attachment",
        ] {
            assert_eq!(named(bad), None, "{bad}");
        }
        assert_eq!(attachment_name(&HeaderMap::new()), None);
    }

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
