//! What can go wrong talking to the appliance, each with the sentence an operator needs.

use crate::api::Problem;
use crate::tls::format_fingerprint;
use hyper::StatusCode;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The appliance answered with an API error `{"error": code, "message": sentence}`;
    /// `problems` lists every wrong field when the appliance names them.
    #[error("{message} ({code})")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
        problems: Vec<Problem>,
    },
    #[error("{input:?} is not a valid URL: {reason}")]
    InvalidUrl { input: String, reason: String },
    #[error("{input:?} is not a valid HOST[:PORT]: {reason}")]
    InvalidHost { input: String, reason: String },
    #[error(
        "{input:?} is not a SHA-256 fingerprint (64 hexadecimal digits, ':' between pairs allowed)"
    )]
    InvalidFingerprint { input: String },
    #[error("cannot use the CA certificates in {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot set up TLS: {0}")]
    TlsSetup(String),
    #[error("cannot start the client's I/O runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error(
        "the certificate of {endpoint} has SHA-256 fingerprint {}, not the pinned {}. \
         If the appliance's certificate was replaced on purpose (a factory reset makes a new \
         one), compare that fingerprint with the one the appliance shows, then pin it: \
         appliancectl --host {endpoint} --pin {} login",
        format_fingerprint(seen),
        format_fingerprint(expected),
        format_fingerprint(seen)
    )]
    CertificateMismatch {
        endpoint: String,
        seen: [u8; 32],
        expected: [u8; 32],
    },
    #[error("the certificate of {endpoint} is not trusted: {reason}")]
    CertificateRejected {
        endpoint: String,
        reason: rustls::Error,
    },
    #[error("TLS with {endpoint} failed: {source}")]
    Tls {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("the HTTP exchange with {endpoint} failed: {source}")]
    Http {
        endpoint: String,
        source: hyper::Error,
    },
    #[error("{endpoint} did not answer within {seconds} s")]
    Timeout { endpoint: String, seconds: u64 },
    #[error("cannot read {}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build the request {method} {path}: {reason}")]
    Request {
        method: String,
        path: String,
        reason: String,
    },
    /// A download answered with something else than 200 OK.
    #[error("{endpoint} answered HTTP {status} for {path}")]
    Status {
        endpoint: String,
        path: String,
        status: StatusCode,
    },
    #[error("{path} on {endpoint} is larger than the {limit} bytes expected")]
    TooLarge {
        endpoint: String,
        path: String,
        limit: u64,
    },
    #[error("the download of {path} from {endpoint} stalled for {seconds} s")]
    Stalled {
        endpoint: String,
        path: String,
        seconds: u64,
    },
    /// The download's destination refused a piece.
    #[error("{0}")]
    Sink(std::io::Error),
    /// An answer that is neither the expected JSON nor an API error.
    #[error("{endpoint} answered {method} {path} with HTTP {status}, which is not what the API promises: {reason}")]
    Response {
        endpoint: String,
        method: String,
        path: String,
        status: StatusCode,
        reason: String,
    },
}

impl Error {
    /// The API's error code (`"wrong_password"`, `"must_change_password"`, …), if the
    /// appliance answered with one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The wrong fields the appliance named with its refusal (empty when none).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Error::Api { problems, .. } => problems,
            _ => &[],
        }
    }

    /// The account's password must be changed before anything else is allowed.
    pub fn is_must_change_password(&self) -> bool {
        self.api_code() == Some("must_change_password")
    }

    /// The call lacked a valid session (none, expired, or revoked).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Api { status, .. } if *status == StatusCode::UNAUTHORIZED)
            && self.api_code() != Some("invalid_credentials")
    }
}
