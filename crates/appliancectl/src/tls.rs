//! Which server certificate to trust, and the rustls client configuration for it.
//!
//! The appliance makes a self-signed certificate at first boot, so the normal trust is a
//! pin: the SHA-256 of the leaf certificate's public key (SubjectPublicKeyInfo), whatever
//! names it carries. The appliance re-issues its self-signed certificate with the same key
//! when its host name or addresses change, so a public-key pin survives that; a pin of the
//! whole certificate would not. [`PinnedVerifier`]
//! is the one implementation of that pin for the whole product (the CLI, the daemon's
//! self-check and the end-to-end tests).

use crate::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use rustls::{OtherError, SignatureScheme};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How the client decides that it talks to the right appliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Accept only a leaf certificate whose public key has this SHA-256, for any host name.
    Pinned { sha256: [u8; 32] },
    /// Normal WebPKI verification of the chain and the host name against the CA
    /// certificates in this PEM file (for appliances given a certificate by a site CA).
    CaFile(PathBuf),
    /// Normal WebPKI verification against these CA certificates, read by the caller (a CA
    /// a site configured, or the system's bundle). Those webpki cannot use are skipped;
    /// at least one must be usable.
    Roots(Vec<CertificateDer<'static>>),
    /// Accept any certificate. Only for an explicit operator choice (`--insecure`): anyone
    /// on the path can read the password and the session.
    InsecureAcceptAny,
}

/// The SHA-256 of a certificate's public key (its DER SubjectPublicKeyInfo): what
/// [`Trust::Pinned`] compares. The same figure as
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`.
/// A certificate that does not parse gets the hash of its whole DER, which no pin taken
/// from a real appliance matches.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    let cert = CertificateDer::from(cert_der);
    let spki = rustls::server::ParsedCertificate::try_from(&cert)
        .map(|parsed| parsed.subject_public_key_info());
    let digest = match &spki {
        Ok(spki) => ring::digest::digest(&ring::digest::SHA256, spki.as_ref()),
        Err(_) => ring::digest::digest(&ring::digest::SHA256, cert_der),
    };
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `AB:CD:…` (uppercase pairs), the way openssl prints fingerprints.
pub fn format_fingerprint(sha256: &[u8; 32]) -> String {
    let digits = hex::encode_upper(sha256);
    let pairs: Vec<&str> = digits
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .collect();
    pairs.join(":")
}

/// Read a fingerprint as 64 hexadecimal digits, in either case, with or without ':' (or
/// spaces) between pairs; an `sha256:` or `SHA256 Fingerprint=` prefix is allowed.
pub fn parse_fingerprint(input: &str) -> Result<[u8; 32], Error> {
    let invalid = || Error::InvalidFingerprint {
        input: input.to_string(),
    };
    let mut text = input.trim();
    for prefix in ["sha256 fingerprint=", "sha256:", "sha256="] {
        if text
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            text = &text[prefix.len()..];
        }
    }
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| *b != b':' && !b.is_ascii_whitespace())
        .collect();
    let mut out = [0u8; 32];
    // Exactly 64 hexadecimal digits, or an error.
    hex::decode_to_slice(&digits, &mut out).map_err(|_| invalid())?;
    Ok(out)
}

/// The crypto the client uses: ring, as in the daemon.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, presented when a server asks for a client
/// certificate (an appliance's pair identity).
#[derive(Debug)]
pub struct ClientIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A rustls client configuration for `trust` (TLS 1.2 and 1.3, no client certificate).
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, Error> {
    client_config_with(trust, None)
}

/// [`client_config`], presenting `identity` when the server asks for a client certificate.
pub fn client_config_with(
    trust: &Trust,
    identity: Option<ClientIdentity>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::TlsSetup(e.to_string()))?;
    let config = match trust {
        Trust::Pinned { sha256 } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier::with_provider(
                *sha256, provider,
            ))),
        Trust::InsecureAcceptAny => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier::accept_any(provider))),
        Trust::CaFile(path) => {
            let ca_error = |reason: String| Error::CaFile {
                path: path.clone(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| ca_error(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| ca_error(format!("unusable certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ca_error("it holds no PEM certificate".to_string()));
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ca_error(e.to_string()))?;
            builder.with_webpki_verifier(verifier)
        }
        Trust::Roots(certs) => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certs.iter().cloned());
            if roots.is_empty() {
                return Err(Error::TlsSetup(
                    "none of the CA certificates can be used".to_string(),
                ));
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::TlsSetup(e.to_string()))?;
            builder.with_webpki_verifier(verifier)
        }
    };
    let config = match identity {
        Some(ClientIdentity { chain, key }) => config
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::TlsSetup(format!("the client certificate cannot be used: {e}")))?,
        None => config.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The server presented a certificate other than the pinned one. Carried inside the
/// rustls error (as `CertificateError::Other`) so that the caller can say what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMismatch {
    pub seen: [u8; 32],
    pub expected: [u8; 32],
}

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate SHA-256 {} is not the pinned {}",
            format_fingerprint(&self.seen),
            format_fingerprint(&self.expected)
        )
    }
}

impl std::error::Error for PinMismatch {}

impl PinMismatch {
    /// The mismatch inside a rustls error, if that is what the error is.
    pub fn from_rustls(err: &rustls::Error) -> Option<&PinMismatch> {
        match err {
            rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                other.0.downcast_ref::<PinMismatch>()
            }
            _ => None,
        }
    }
}

/// Trusts exactly the certificate whose public-key SHA-256 it holds, for any server
/// name; or, made by [`PinnedVerifier::accept_any`], any certificate (for `--insecure` and
/// for reading the fingerprint a server presents). Either way the handshake signature is
/// verified against the presented certificate's key.
#[derive(Debug)]
pub struct PinnedVerifier {
    sha256: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl PinnedVerifier {
    pub fn new(sha256: [u8; 32]) -> Self {
        Self::with_provider(sha256, provider())
    }

    /// Pin the given certificate (e.g. the daemon's own `cert.pem`).
    pub fn for_certificate(cert: &CertificateDer<'_>) -> Self {
        Self::new(fingerprint(cert.as_ref()))
    }

    pub fn with_provider(sha256: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        PinnedVerifier {
            sha256: Some(sha256),
            provider,
        }
    }

    fn accept_any(provider: Arc<CryptoProvider>) -> Self {
        PinnedVerifier {
            sha256: None,
            provider,
        }
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(expected) = self.sha256 else {
            return Ok(ServerCertVerified::assertion());
        };
        let seen = fingerprint(end_entity.as_ref());
        // Not secret: comparing in constant time would protect nothing.
        if seen == expected {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch { seen, expected })),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_in_every_accepted_spelling() {
        let fp = fingerprint(b"certificate");
        let shown = format_fingerprint(&fp);
        assert_eq!(shown.len(), 95);
        assert_eq!(parse_fingerprint(&shown).unwrap(), fp);
        let plain: String = shown.replace(':', "").to_lowercase();
        assert_eq!(parse_fingerprint(&plain).unwrap(), fp);
        assert_eq!(
            parse_fingerprint(&format!("SHA256 Fingerprint={shown}")).unwrap(),
            fp
        );
        assert_eq!(parse_fingerprint(&format!("sha256:{plain}")).unwrap(), fp);
    }

    #[test]
    fn refuses_what_is_not_a_sha256() {
        for bad in [
            "",
            "abcd",
            &"g".repeat(64),
            &"a".repeat(66),
            &"+a".repeat(32),
            "é".repeat(32).as_str(),
        ] {
            assert!(parse_fingerprint(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_wrong_pin_names_both_fingerprints() {
        let verifier = PinnedVerifier::new([1; 32]);
        let cert = CertificateDer::from(b"other".to_vec());
        let err = verifier
            .verify_server_cert(
                &cert,
                &[],
                &ServerName::try_from("appliance").unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        let mismatch = PinMismatch::from_rustls(&err).unwrap();
        assert_eq!(mismatch.seen, fingerprint(b"other"));
        assert_eq!(mismatch.expected, [1; 32]);
    }
}
