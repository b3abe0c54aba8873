//! HTTPS identity and configuration: the appliance's certificate (made at first boot,
//! reused afterwards) and the rustls server configuration (ring, TLS 1.2 and 1.3 only).
//!
//! Files: `<state>/tls/cert.pem` (0644) and `<state>/tls/key.pem` (0600), each replaced
//! atomically. The key is written first; a start that finds only one of them, or a pair
//! that does not match, makes a new pair (a lost certificate must not lock the operator out).

mod cert;
mod files;
pub mod pinned;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use files::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the TLS directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write {path}: {source} (is the data partition mounted read-write and not full?)"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}")]
    Pem { path: PathBuf, what: &'static str },
    #[error("cannot generate the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key in {dir} do not form a usable TLS identity: {source}")]
    Rustls { dir: PathBuf, source: rustls::Error },
}

/// The certificate and key the daemon serves.
#[derive(Debug)]
pub struct Identity {
    pub cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    /// Where the certificate lives (clients in tests and the self-check pin it).
    pub cert_path: PathBuf,
    /// True when this start made the pair.
    pub created: bool,
}

pub fn cert_path(dir: &Path) -> PathBuf {
    dir.join("cert.pem")
}

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join("key.pem")
}

/// Load the identity from `dir`, or make and store a new one.
pub fn load_or_create(dir: &Path, hostname: &str) -> Result<Identity, Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    let (cert_file, key_file) = (cert_path(dir), key_path(dir));
    if cert_file.exists() && key_file.exists() {
        match load(dir) {
            Ok(identity) => return Ok(identity),
            Err(err) => {
                tracing::warn!("making a new certificate because the stored one is unusable: {err}")
            }
        }
    } else if cert_file.exists() || key_file.exists() {
        tracing::warn!(dir = %dir.display(), "only one of cert.pem and key.pem exists; making a new pair");
    }
    let generated = cert::generate(hostname, &cert::local_addresses())?;
    for (path, pem, mode) in [
        (&key_file, &generated.key_pem, 0o600),
        (&cert_file, &generated.cert_pem, 0o644),
    ] {
        write_atomic(path, pem.as_bytes(), mode).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
    }
    let mut identity = load(dir)?;
    identity.created = true;
    Ok(identity)
}

fn load(dir: &Path) -> Result<Identity, Error> {
    let (cert_file, key_file) = (cert_path(dir), key_path(dir));
    let cert_pem = read(&cert_file)?;
    let key_pem = read(&key_file)?;
    let cert = CertificateDer::from_pem_slice(&cert_pem).map_err(|_| Error::Pem {
        path: cert_file.clone(),
        what: "certificate",
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| Error::Pem {
        path: key_file,
        what: "private key",
    })?;
    let identity = Identity {
        cert,
        key,
        cert_path: cert_file,
        created: false,
    };
    // Building the configuration checks that the key matches the certificate.
    server_config(&identity, dir)?;
    Ok(identity)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server configuration: TLS 1.3 and 1.2 with ring's default (AEAD-only) suites,
/// HTTP/1.1 by ALPN.
pub fn server_config(identity: &Identity, dir: &Path) -> Result<Arc<ServerConfig>, Error> {
    let rustls_err = |source| Error::Rustls {
        dir: dir.to_path_buf(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(rustls_err)?
        .with_no_client_auth()
        .with_single_cert(vec![identity.cert.clone()], identity.key.clone_key())
        .map_err(rustls_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn first_start_creates_and_second_start_reuses() {
        let dir = TestDir::new("tls");
        let tls = dir.path().join("tls");
        let first = load_or_create(&tls, "appliance").unwrap();
        assert!(first.created);
        let key_mode = std::fs::metadata(key_path(&tls))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(key_mode, 0o600);
        let dir_mode = std::fs::metadata(&tls).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);

        let second = load_or_create(&tls, "appliance").unwrap();
        assert!(!second.created);
        assert_eq!(first.cert, second.cert);
        server_config(&second, &tls).unwrap();
    }

    #[test]
    fn a_lone_or_mismatched_file_is_replaced_by_a_new_pair() {
        let dir = TestDir::new("tls-mismatch");
        let tls = dir.path().join("tls");
        let first = load_or_create(&tls, "appliance").unwrap();
        // Key of another pair: the stored pair no longer matches.
        let other = TestDir::new("tls-other");
        load_or_create(other.path(), "x").unwrap();
        std::fs::copy(key_path(other.path()), key_path(&tls)).unwrap();
        let second = load_or_create(&tls, "appliance").unwrap();
        assert!(second.created);
        assert_ne!(first.cert, second.cert);

        std::fs::remove_file(cert_path(&tls)).unwrap();
        let third = load_or_create(&tls, "appliance").unwrap();
        assert!(third.created);
        assert_ne!(second.cert, third.cert);
    }
}
