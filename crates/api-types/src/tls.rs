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

/// One certificate of the store, as `GET /api/v1/certificates` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredCertificate {
    /// `self-signed` for the appliance's own certificate; else the first 16 hex digits of
    /// the certificate's SHA-256.
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses it is valid for.
    pub sans: Vec<String>,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    /// `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `rsa-2048`, …
    pub key_type: String,
    /// SHA-256 of the whole certificate (DER), `AB:CD:…`, as browsers show it.
    pub sha256: String,
    /// SHA-256 of its public key, `AB:CD:…` (the pin appliancectl keeps).
    pub public_key_sha256: String,
    /// Local addresses it is served on; `*` for every address with no assignment of its own.
    pub assigned: Vec<String>,
    /// The appliance's own certificate (re-issued when names change; never deleted).
    pub self_signed: bool,
    /// Certificates after the leaf (intermediates).
    pub chain_length: u32,
}

/// Something an import accepted but the operator should know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateWarning {
    /// `expires_soon`, `not_yet_valid`, `name_mismatch`, `self_signed`, `weak_key`.
    pub code: String,
    pub message: String,
}

/// The answer of `POST /api/v1/certificates/import`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateImported {
    pub certificate: StoredCertificate,
    pub warnings: Vec<CertificateWarning>,
    /// True when it completes a pending request (its key was made here).
    pub from_request: bool,
}

/// `POST /api/v1/certificates/{id}/export` request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateExport {
    /// `pem` (certificate and chain), `der` (certificate alone) or `pkcs12` (with the key
    /// and chain, password required).
    pub format: String,
    /// The PKCS#12 file's password (at least 8 characters; never logged).
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for CertificateExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateExport")
            .field("format", &self.format)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `POST /api/v1/certificates/request` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateRequest {
    /// DNS names and IP addresses; the first is the subject's common name.
    pub names: Vec<String>,
    /// `ecdsa-p256` (default), `ecdsa-p384`, `rsa-2048`, `rsa-3072` or `rsa-4096`.
    #[serde(default)]
    pub key: Option<String>,
}

/// The answer of `POST /api/v1/certificates/request`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateRequested {
    /// The pending request (its key stays on the appliance until the signed certificate
    /// is imported).
    pub id: String,
    pub key_type: String,
    pub names: Vec<String>,
    /// PKCS#10, PEM.
    pub csr: String,
}

/// `PUT /api/v1/certificates/{id}/assign` request: the addresses it serves from now on
/// (replacing its earlier ones; an address another certificate had moves to this one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateAssign {
    /// IP addresses, or `*` for every address with no assignment of its own.
    pub addresses: Vec<String>,
}

/// `GET`/`PUT /api/v1/certificates/settings`: how the certificates are served (a synced
/// setting, kept with the certificate store). A `PUT` gives both fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSettings {
    /// The lowest TLS version served: `1.2` (default) or `1.3`.
    pub min_tls_version: String,
    /// Send `Strict-Transport-Security` on HTTPS answers whose connection is served a
    /// certificate that is not self-signed (default true).
    pub hsts: bool,
}

impl Default for CertificateSettings {
    fn default() -> Self {
        CertificateSettings {
            min_tls_version: "1.2".into(),
            hsts: true,
        }
    }
}
