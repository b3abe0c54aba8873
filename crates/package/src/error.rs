//! Why a package was refused (or could not be built). Each variant has a stable short
//! [`Error::code`] that the daemon passes on in its API errors.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing failed for a reason outside the package (disk, network).
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("the package ends early, an incomplete download or copy: {0}")]
    Truncated(String),
    #[error("not a valid package: {0}")]
    Malformed(String),
    #[error("the package's {entry} is {size} bytes, more than the {limit} allowed")]
    TooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("the package has format {0}; this software reads format 1 only")]
    UnsupportedFormat(u64),
    #[error("the package's manifest is invalid: {0}")]
    InvalidManifest(String),
    #[error("the package carries no signature")]
    Unsigned,
    #[error(
        "the package is signed only by keys that are not trusted here (key ids {})",
        key_ids.join(", ")
    )]
    UnknownKey { key_ids: Vec<String> },
    #[error("the signature by key {key_id} does not match the manifest: the package was altered or damaged")]
    BadSignature { key_id: String },
    #[error("payload {payload} does not match the sha256 of its manifest (expected {expected}, got {actual}): the package was altered or damaged")]
    HashMismatch {
        payload: String,
        expected: String,
        actual: String,
    },
    #[error("payload {payload} is {actual} bytes but its manifest says {expected}")]
    SizeMismatch {
        payload: String,
        expected: u64,
        actual: u64,
    },
    #[error("key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("cannot build the package: {0}")]
    Build(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stable short name for the kind of failure, for API errors and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Truncated(_) => "truncated",
            Error::Malformed(_) => "malformed",
            Error::TooLarge { .. } => "too_large",
            Error::UnsupportedFormat(_) => "unsupported_format",
            Error::InvalidManifest(_) => "invalid_manifest",
            Error::Unsigned => "unsigned",
            Error::UnknownKey { .. } => "unknown_key",
            Error::BadSignature { .. } => "bad_signature",
            Error::HashMismatch { .. } => "hash_mismatch",
            Error::SizeMismatch { .. } => "size_mismatch",
            Error::KeyFile { .. } => "key_file",
            Error::Build(_) => "build",
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// Wraps this error into an `io::Error` for a `Read` implementation; `From<io::Error>`
    /// unwraps it again.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self {
            Error::Truncated(_) => io::ErrorKind::UnexpectedEof,
            Error::Io { ref source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// An `io::Error` from a [`crate::PayloadReader`] (or from `io::copy` over one) gives back
/// the package error it carries; any other is a read failure of the source.
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.get_ref().is_some_and(
            <dyn std::error::Error + std::marker::Send + std::marker::Sync + 'static>::is::<Error>,
        ) {
            if let Some(inner) = e.into_inner() {
                if let Ok(ours) = inner.downcast::<Error>() {
                    return *ours;
                }
            }
            unreachable!("the inner error was checked to be a package error");
        }
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Error::Truncated(e.to_string());
        }
        Error::io("cannot read the package", e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_wrapping_round_trips() {
        let e = Error::HashMismatch {
            payload: "rootfs.sqfs".into(),
            expected: "aa".into(),
            actual: "bb".into(),
        };
        let io = e.into_io();
        assert_eq!(io.kind(), io::ErrorKind::InvalidData);
        assert!(io.to_string().contains("rootfs.sqfs"));
        assert_eq!(Error::from(io).code(), "hash_mismatch");

        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "short");
        assert_eq!(Error::from(eof).code(), "truncated");
        let other = io::Error::other("disk on fire");
        assert_eq!(Error::from(other).code(), "io");
    }
}
