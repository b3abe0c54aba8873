//! The HTTPS certificate: `GET /api/v1/tls` and the answer of installing one or going back
//! to a self-signed one, and the install request.

use serde::{Deserialize, Serialize};

/// Which certificate is served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificate {
    /// True when an administrator installed it; false while self-signed.
    pub installed: bool,
    /// SHA-256 of the certificate's public key, `AB:CD:…`: the pin appliancectl checks.
    pub certificate_sha256: String,
}

/// `PUT /api/v1/tls/certificate` request; unknown fields are refused.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateInstall {
    /// PEM: the certificate, then its intermediates.
    pub certificate: String,
    /// PEM private key (never logged, never returned).
    pub key: String,
}

/// Without the key: these bodies end up in logs and test output.
impl std::fmt::Debug for CertificateInstall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateInstall")
            .field("certificate", &self.certificate)
            .field("key", &"<redacted>")
            .finish()
    }
}
