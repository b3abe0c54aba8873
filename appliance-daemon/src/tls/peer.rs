//! The pair channel's TLS: each appliance's own pair identity (a self-signed key pair made
//! at first use in `<state>/pair/`, the machine's, never synced nor backed up), presented
//! when a client sends the pair channel's server name ([`pair::PAIR_SERVER_NAME`]), and a
//! server configuration that requires the client's pair certificate too. Which
//! certificates are accepted is the failover service's decision (the pin taken at
//! establish, or the key's proof during one): TLS here only proves that each side holds
//! the private key of the certificate it shows.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

use super::{provider, Error, Identity};

impl Identity {
    /// This identity as a client certificate (the pair channel's client side).
    pub(crate) fn client_identity(&self) -> appliancectl::ClientIdentity {
        let mut chain = vec![self.cert.clone()];
        chain.extend(self.chain.iter().cloned());
        appliancectl::ClientIdentity {
            chain,
            key: self.key.clone_key(),
        }
    }

    /// SHA-256 of the certificate's public key, as pins compare it.
    pub(crate) fn public_key_sha256(&self) -> [u8; 32] {
        appliancectl::tls::fingerprint(self.cert.as_ref())
    }
}

/// Accepts any client certificate whose holder signs the handshake with its key; the
/// application decides what the certificate is worth.
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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

/// The server configuration of the pair channel: the pair identity, a client certificate
/// required, TLS 1.3 only (both ends are appliances of one version).
pub(crate) fn pair_server_config(identity: &Identity) -> Result<Arc<ServerConfig>, Error> {
    let rustls_error = |source| Error::Rustls {
        dir: PathBuf::from(identity.cert_path.parent().unwrap_or(&identity.cert_path)),
        source,
    };
    let provider = provider();
    let verifier = Arc::new(AnyClientCertificate {
        provider: Arc::clone(&provider),
    });
    let mut chain = vec![identity.cert.clone()];
    chain.extend(identity.chain.iter().cloned());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(rustls_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, identity.key.clone_key())
        .map_err(rustls_error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
