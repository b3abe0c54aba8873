//! HTTPS identity and configuration: the appliance's self-signed certificate (made at
//! first boot, reused afterwards), the certificate store beside it ([`store`]: imported and
//! requested certificates, assigned to local addresses), and which one a connection gets
//! ([`select`]; rustls with ring, TLS 1.2 and 1.3 only). docs/certificates.md.
//!
//! Files: `<state>/tls/cert.pem` (0644) and `<state>/tls/key.pem` (0600), each replaced
//! atomically. The key is written first; a start that finds only one of them, or a pair
//! that does not match, makes a new pair (a lost certificate must not lock the operator out).
//! A replaced key is not kept: the new one is renamed over it, and the `key.previous.pem`
//! and `cert.previous.pem` an older firmware kept beside them are deleted at start.
//! `names.json` records the host name and addresses the self-signed certificate was made
//! for: when they change (a DHCP lease, a new host name) [`refresh`] re-issues it with the
//! same key and [`Certificates`] swaps it in without a restart.

mod cert;
pub(crate) mod expiry;
mod files;
pub(crate) mod import;
pub(crate) mod keygen;
mod peer;
mod pkcs12;
pub(crate) mod select;
mod service;
pub(crate) mod store;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use files::write_atomic;
pub(crate) use import::ImportError;
pub(crate) use peer::pair_server_config;
pub(crate) use service::{CertificateError, Certificates, Exported, TlsView, EXPORT_PASSWORD_MIN};

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
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
pub(crate) struct Identity {
    /// The leaf certificate.
    pub cert: CertificateDer<'static>,
    /// Intermediates after the leaf (an installed certificate may come with its chain).
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Where the certificate lives (clients in tests and the self-check pin it).
    pub cert_path: PathBuf,
    /// True when this start made the pair.
    pub created: bool,
}

pub(crate) fn cert_path(dir: &Path) -> PathBuf {
    dir.join("cert.pem")
}

pub(crate) fn key_path(dir: &Path) -> PathBuf {
    dir.join("key.pem")
}

/// Load the identity from `dir`, or make and store a new one.
pub(crate) fn load_or_create(dir: &Path, hostname: &str) -> Result<Identity, Error> {
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
                tracing::warn!(
                    "making a new certificate because the stored one is unusable: {err}"
                );
            }
        }
    } else if cert_file.exists() || key_file.exists() {
        tracing::warn!(dir = %dir.display(), "only one of cert.pem and key.pem exists; making a new pair");
    }
    let names = Names::new(hostname, cert::local_addresses());
    let generated = cert::generate(&names.hostname, &names.addresses, None)?;
    write(&key_file, generated.key_pem.as_bytes(), 0o600)?;
    write(&cert_file, generated.cert_pem.as_bytes(), 0o644)?;
    names.save(dir)?;
    let mut identity = load(dir)?;
    identity.created = true;
    Ok(identity)
}

/// Delete the pair an older firmware's install kept aside (`key.previous.pem`,
/// `cert.previous.pem`): a replaced private key is not kept on the appliance.
fn remove_previous(dir: &Path) -> Result<(), Error> {
    for path in [previous_key_path(dir), previous_cert_path(dir)] {
        remove(&path)?;
    }
    Ok(())
}

fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Write {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn previous_key_path(dir: &Path) -> PathBuf {
    dir.join("key.previous.pem")
}

fn previous_cert_path(dir: &Path) -> PathBuf {
    dir.join("cert.previous.pem")
}

/// What a self-signed certificate names, besides `localhost` and the loopback addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Names {
    pub hostname: String,
    pub addresses: Vec<IpAddr>,
}

impl Names {
    pub(crate) fn new(hostname: &str, mut addresses: Vec<IpAddr>) -> Self {
        addresses.sort();
        addresses.dedup();
        Names {
            hostname: hostname.to_string(),
            addresses,
        }
    }

    fn path(dir: &Path) -> PathBuf {
        dir.join("names.json")
    }

    fn load(dir: &Path) -> Option<Names> {
        serde_json::from_slice(&std::fs::read(Self::path(dir)).ok()?).ok()
    }

    fn save(&self, dir: &Path) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        write(&Self::path(dir), &json, 0o644)
    }
}

/// Marks a certificate installed by an administrator: never re-issued.
pub(crate) fn installed_marker(dir: &Path) -> PathBuf {
    dir.join("installed")
}

/// Re-issue the self-signed certificate if the host name or addresses differ from those it
/// names. Returns the new identity, or None when nothing had to change.
pub(crate) fn refresh(
    dir: &Path,
    hostname: &str,
    addresses: Vec<IpAddr>,
) -> Result<Option<Identity>, Error> {
    if installed_marker(dir).exists() {
        return Ok(None);
    }
    let names = Names::new(hostname, addresses);
    if Names::load(dir).as_ref() == Some(&names) {
        return Ok(None);
    }
    let key_file = key_path(dir);
    let key_pem = String::from_utf8(read(&key_file)?).map_err(|_| Error::Pem {
        path: key_file.clone(),
        what: "private key",
    })?;
    let generated = cert::generate(&names.hostname, &names.addresses, Some(&key_pem))?;
    write(&cert_path(dir), generated.cert_pem.as_bytes(), 0o644)?;
    names.save(dir)?;
    load(dir).map(Some)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    write_atomic(path, bytes, mode).map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The local addresses a self-signed certificate should name now.
pub(crate) fn local_addresses() -> Vec<IpAddr> {
    cert::local_addresses()
}

/// Certificate and key as rustls serves them; fails if the key is not the certificate's.
pub(crate) fn certified(identity: &Identity) -> Result<Arc<CertifiedKey>, Error> {
    let dir = identity
        .cert_path
        .parent()
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let mut chain = vec![identity.cert.clone()];
    chain.extend(identity.chain.iter().cloned());
    let key =
        CertifiedKey::from_der(chain, identity.key.clone_key(), &provider()).map_err(|source| {
            Error::Rustls {
                dir: dir.clone(),
                source,
            }
        })?;
    key.keys_match()
        .map_err(|source| Error::Rustls { dir, source })?;
    Ok(Arc::new(key))
}

fn load(dir: &Path) -> Result<Identity, Error> {
    let (cert_file, key_file) = (cert_path(dir), key_path(dir));
    let cert_pem = read(&cert_file)?;
    let key_pem = read(&key_file)?;
    let mut certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Error::Pem {
            path: cert_file.clone(),
            what: "certificate",
        })?
        .into_iter();
    let cert = certs.next().ok_or_else(|| Error::Pem {
        path: cert_file.clone(),
        what: "certificate",
    })?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| Error::Pem {
        path: key_file,
        what: "private key",
    })?;
    let identity = Identity {
        cert,
        chain: certs.collect(),
        key,
        cert_path: cert_file,
        created: false,
    };
    certified(&identity)?;
    Ok(identity)
}

/// Go back to a new self-signed certificate (new key) for `hostname`. The new key is
/// renamed over the old one (one atomic step: no moment without a key, no copy of the old
/// one left); a cut before the certificate follows leaves a pair that does not match, and
/// the next start makes a new one.
pub(crate) fn use_self_signed(dir: &Path, hostname: &str) -> Result<Identity, Error> {
    remove_previous(dir)?;
    remove(&installed_marker(dir))?;
    let names = Names::new(hostname, cert::local_addresses());
    let generated = cert::generate(&names.hostname, &names.addresses, None)?;
    write(&key_path(dir), generated.key_pem.as_bytes(), 0o600)?;
    write(&cert_path(dir), generated.cert_pem.as_bytes(), 0o644)?;
    names.save(dir)?;
    let mut identity = load(dir)?;
    identity.created = true;
    Ok(identity)
}

/// The self-signed certificate in `dir` (made if missing), after moving an administrator's
/// certificate installed by an older firmware into the store ([`store::migrate`]).
pub(crate) fn open(dir: &Path, hostname: &str) -> Result<Identity, Error> {
    let identity = load_or_create(dir, hostname)?;
    let identity = if store::migrate(dir, hostname)? {
        load_or_create(dir, hostname)?
    } else {
        identity
    };
    remove_previous(dir)?;
    Ok(identity)
}

/// The self-signed certificate's key, PKCS#8 DER (for an export).
pub(crate) fn key_pkcs8(dir: &Path) -> Result<Vec<u8>, Error> {
    let path = key_path(dir);
    let pem = read(&path)?;
    let pem = String::from_utf8(pem).map_err(|_| Error::Pem {
        path: path.clone(),
        what: "private key",
    })?;
    let pair = rcgen::KeyPair::from_pem(&pem).map_err(|_| Error::Pem {
        path,
        what: "private key",
    })?;
    Ok(pair.serialize_der())
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
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
        certified(&second).unwrap();
    }

    #[test]
    fn new_names_reissue_with_the_same_key() {
        let dir = TestDir::new("tls-refresh");
        let tls = dir.path().join("tls");
        let first = load_or_create(&tls, "appliance").unwrap();
        let key = std::fs::read(key_path(&tls)).unwrap();
        let names = Names::load(&tls).unwrap();
        // Same names: nothing to do.
        assert!(refresh(&tls, &names.hostname, names.addresses.clone())
            .unwrap()
            .is_none());
        let mut more = names.addresses.clone();
        more.push("192.0.2.7".parse().unwrap());
        let second = refresh(&tls, "appliance", more.clone()).unwrap().unwrap();
        assert_ne!(first.cert, second.cert);
        assert_eq!(std::fs::read(key_path(&tls)).unwrap(), key, "key kept");
        assert_eq!(Names::load(&tls).unwrap().addresses.len(), more.len());
        certified(&second).unwrap();
        // An installed certificate is left alone.
        std::fs::write(installed_marker(&tls), b"").unwrap();
        assert!(refresh(&tls, "renamed", vec![]).unwrap().is_none());
    }

    /// What an older firmware's `PUT /api/v1/tls/certificate` left.
    fn install_the_old_way(tls: &Path, cert_pem: &str, key_pem: &str) {
        for (path, old) in [
            (key_path(tls), previous_key_path(tls)),
            (cert_path(tls), previous_cert_path(tls)),
        ] {
            std::fs::copy(&path, &old).unwrap();
        }
        write(&key_path(tls), key_pem.as_bytes(), 0o600).unwrap();
        write(&cert_path(tls), cert_pem.as_bytes(), 0o644).unwrap();
        write(
            &installed_marker(tls),
            b"installed by an administrator\n",
            0o644,
        )
        .unwrap();
    }

    #[test]
    fn an_installed_certificate_moves_into_the_store_once() {
        let dir = TestDir::new("tls-migrate");
        let tls = dir.path().join("tls");
        let first = load_or_create(&tls, "appliance").unwrap();
        let theirs = cert::generate("support.example.com", &[], None).unwrap();
        install_the_old_way(&tls, &theirs.cert_pem, &theirs.key_pem);
        let own = open(&tls, "appliance").unwrap();
        assert!(!installed_marker(&tls).exists());
        assert_ne!(own.cert, first.cert);
        let theirs_der = CertificateDer::from_pem_slice(theirs.cert_pem.as_bytes()).unwrap();
        assert_ne!(own.cert, theirs_der, "a new self-signed certificate");
        let stored = store::Store::load(&tls).unwrap();
        assert_eq!(stored.entries.len(), 1);
        assert_eq!(stored.entries[0].chain[0], theirs_der);
        assert_eq!(
            stored.entries[0].record.assigned,
            vec![store::ANY.to_string()]
        );
        // A second start changes nothing.
        let again = open(&tls, "appliance").unwrap();
        assert_eq!(again.cert, own.cert);
        assert_eq!(store::Store::load(&tls).unwrap().entries.len(), 1);
        // A cut after the store was written but before the marker went: done once all the same.
        install_the_old_way(&tls, &theirs.cert_pem, &theirs.key_pem);
        open(&tls, "appliance").unwrap();
        assert_eq!(store::Store::load(&tls).unwrap().entries.len(), 1);
    }

    /// Every private key (DER) found in the PEM files under `dir`.
    fn keys_under(dir: &Path) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                keys.extend(keys_under(&path));
            } else {
                let bytes = std::fs::read(&path).unwrap();
                keys.extend(
                    PrivateKeyDer::pem_slice_iter(&bytes)
                        .filter_map(Result::ok)
                        .map(|k| k.secret_der().to_vec()),
                );
            }
        }
        keys
    }

    fn key_der(tls: &Path) -> Vec<u8> {
        PrivateKeyDer::from_pem_slice(&std::fs::read(key_path(tls)).unwrap())
            .unwrap()
            .secret_der()
            .to_vec()
    }

    #[test]
    fn a_replaced_key_is_not_kept() {
        use std::os::unix::fs::MetadataExt;
        let dir = TestDir::new("tls-old-key");
        let tls = dir.path().join("tls");
        load_or_create(&tls, "appliance").unwrap();
        let first = key_der(&tls);
        // An older firmware's install kept the replaced pair aside: deleted at start.
        let theirs = cert::generate("support.example.com", &[], None).unwrap();
        install_the_old_way(&tls, &theirs.cert_pem, &theirs.key_pem);
        assert!(previous_key_path(&tls).exists());
        let own = open(&tls, "appliance").unwrap();
        assert!(!previous_key_path(&tls).exists());
        assert!(!previous_cert_path(&tls).exists());
        let second = key_der(&tls);
        assert_ne!(second, first);
        assert!(!keys_under(&tls).contains(&first), "the first key is gone");
        // Back to self-signed: a new key renamed over the old one (a new inode, 0600).
        let inode = std::fs::metadata(key_path(&tls)).unwrap().ino();
        let back = use_self_signed(&tls, "appliance").unwrap();
        assert_ne!(back.cert, own.cert);
        let meta = std::fs::metadata(key_path(&tls)).unwrap();
        assert_ne!(
            meta.ino(),
            inode,
            "replaced by a rename, not rewritten in place"
        );
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let third = key_der(&tls);
        assert_ne!(third, second);
        let keys = keys_under(&tls);
        assert!(!keys.contains(&second), "the replaced key is not kept");
        assert!(!keys.contains(&first));
        assert!(keys.contains(&third));
        // The administrator's certificate lives on in the store, with its key: 2 keys.
        assert_eq!(keys.len(), 2, "{} keys under tls/", keys.len());
        let names: Vec<String> = std::fs::read_dir(&tls)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.contains("previous") && !n.ends_with(".tmp")),
            "{names:?}"
        );
        assert_eq!(load_or_create(&tls, "appliance").unwrap().cert, back.cert);
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
