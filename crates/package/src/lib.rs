//! The signed update package (docs/packages.md), shared by the image builder, which
//! writes packages, and the daemon, which verifies and installs them.
//!
//! A package is a plain tar read front to back: `manifest.json`, `manifest.sig` (ed25519
//! signatures over the manifest's exact bytes), then the payloads in manifest order.
//! [`PackageReader`] verifies the signatures before it says anything about a payload and
//! hashes each payload while the caller streams it to its destination, with fixed
//! buffers only. Nothing here knows about slots, the daemon or the network.
#![forbid(unsafe_code)]

mod archive;
pub mod availability;
mod build;
pub mod catalog;
pub mod download_key;
mod error;
pub mod fuzzing;
mod keys;
mod manifest;
mod reader;
mod version;

use std::path::{Path, PathBuf};

pub use build::{build_base, build_site, Metadata};
pub use error::{Error, Result};
pub use keys::{development_key_id, KeyId, Keyring, PublicKey, Signer, DEVELOPMENT_PUBLIC_KEY};
pub use manifest::{
    check_name, Compression, Kind, Manifest, Payload, Requirement, BASE_NAME, BASE_PAYLOAD, FORMAT,
    SITE_PAYLOAD,
};
pub use reader::{
    inspect, inspect_reader, verify_file, verify_reader, PackageReader, PayloadReader, Signed,
    Verified, MANIFEST_ENTRY, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, SIGNATURE_ENTRY,
};
pub use version::{Version, VersionError};

/// How far in the future a signed document's issue time (catalog, download key) may be
/// before the reader's clock is called wrong (clocks set by NTP agree to well under a
/// second; an unsynchronized one drifts).
pub const CLOCK_TOLERANCE_SECS: u64 = 5 * 60;

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests;
