//! The certificate store on data, beside the self-signed certificate in the TLS directory
//! (so that the service snapshot carries it: failover sync, backups):
//!
//! - `store/index.json`: the certificates (id, name, when added, assigned addresses) and
//!   how they are served (minimum TLS version, HSTS);
//! - `store/<id>/chain.pem` (leaf first, 0644) and `store/<id>/key.pem` (PKCS#8, 0600);
//! - `store/pending/<id>/key.pem` and `request.json`: a request's key, kept until its
//!   signed certificate is imported.
//!
//! A certificate's files are written before the index names it, and the index is replaced
//! atomically: a power cut leaves the store as before or as after; a directory the index
//! does not name is a leftover and is removed at load. docs/certificates.md.

use api_types::CertificateSettings;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::import::{self, Checked, Contents, ImportError, Info};
use super::{write, Error};

/// The store's directory inside the TLS directory.
pub(crate) const STORE_DIR: &str = "store";
const INDEX: &str = "index.json";
const PENDING: &str = "pending";
/// An assignment to every address that has none of its own.
pub(crate) const ANY: &str = "*";

/// One certificate as the index records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Unix seconds.
    pub(crate) added: i64,
    /// IP addresses as strings, or [`ANY`].
    #[serde(default)]
    pub(crate) assigned: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Index {
    #[serde(default)]
    certificates: Vec<Record>,
    /// Minimum TLS version and HSTS (an older index has none: the defaults).
    #[serde(default)]
    settings: CertificateSettings,
}

/// A request waiting for its signed certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingRequest {
    pub(crate) id: String,
    pub(crate) names: Vec<String>,
    pub(crate) key_type: String,
    pub(crate) created: i64,
    pub(crate) csr: String,
}

/// A stored certificate, read and ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) record: Record,
    pub(crate) info: Info,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) certified: Arc<CertifiedKey>,
}

/// The store as loaded from data.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub(crate) entries: Vec<Entry>,
    /// Minimum TLS version and HSTS, kept in the index with the assignments.
    pub(crate) settings: CertificateSettings,
}

fn store_dir(tls: &Path) -> PathBuf {
    tls.join(STORE_DIR)
}

fn make_dir(path: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| Error::Dir {
            path: path.to_path_buf(),
            source,
        })
}

fn io_read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// RFC 3339 in UTC.
pub(crate) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The id of a certificate: the first 16 hex digits of its SHA-256.
pub(crate) fn id_of(sha256: &[u8; 32]) -> String {
    hex::encode(&sha256[..8])
}

impl Store {
    /// Read the store in `tls`, removing what an interrupted change left. A certificate
    /// that cannot be read is left out of the answer (and logged), never deleted.
    pub(crate) fn load(tls: &Path) -> Result<Store, Error> {
        let dir = store_dir(tls);
        let index = read_index(&dir)?;
        let mut entries = Vec::new();
        for record in &index.certificates {
            match load_entry(&dir, record) {
                Ok(entry) => entries.push(entry),
                Err(err) => {
                    tracing::error!(id = %record.id, "a stored certificate cannot be served: {err}");
                }
            }
        }
        if let Ok(listing) = std::fs::read_dir(&dir) {
            for item in listing.flatten() {
                let name = item.file_name().to_string_lossy().into_owned();
                let known =
                    name == PENDING || name == INDEX || entries.iter().any(|e| e.record.id == name);
                if !known && item.path().is_dir() {
                    tracing::info!(%name, "removing a certificate directory an interrupted change left");
                    let _ = std::fs::remove_dir_all(item.path());
                }
            }
        }
        Ok(Store {
            entries,
            settings: index.settings,
        })
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.record.id == id)
    }

    fn records(&self) -> Vec<Record> {
        self.entries.iter().map(|e| e.record.clone()).collect()
    }

    /// Store a checked certificate under `name`; the answer is the new store.
    pub(crate) fn add(&self, tls: &Path, checked: &Checked, name: &str) -> Result<Store, AddError> {
        let id = id_of(&checked.info.sha256);
        if let Some(existing) = self.get(&id) {
            return Err(AddError::Refused(ImportError::Duplicate {
                name: existing.record.name.clone(),
                id,
            }));
        }
        let dir = store_dir(tls);
        let entry_dir = dir.join(&id);
        make_dir(&entry_dir)?;
        let chain_pem: String = checked
            .chain
            .iter()
            .map(|c| pem_of("CERTIFICATE", c))
            .collect();
        write(
            &entry_dir.join("key.pem"),
            pem_of("PRIVATE KEY", checked.key.secret_pkcs8_der()).as_bytes(),
            0o600,
        )?;
        write(&entry_dir.join("chain.pem"), chain_pem.as_bytes(), 0o644)?;
        let record = Record {
            id,
            name: name.to_string(),
            added: now(),
            assigned: Vec::new(),
        };
        let mut records = self.records();
        records.push(record.clone());
        write_index(&dir, &records, &self.settings)?;
        let mut next = self.clone();
        next.entries.push(Entry {
            record,
            info: checked.info.clone(),
            chain: checked.chain.clone(),
            certified: Arc::clone(&checked.certified),
        });
        Ok(next)
    }

    /// Serve `id` on exactly `addresses` (taking them from any other certificate).
    pub(crate) fn assign(
        &self,
        tls: &Path,
        id: &str,
        addresses: &[String],
    ) -> Result<Store, Error> {
        let mut next = self.clone();
        for entry in &mut next.entries {
            if entry.record.id == id {
                entry.record.assigned = addresses.to_vec();
            } else {
                entry.record.assigned.retain(|a| !addresses.contains(a));
            }
        }
        write_index(&store_dir(tls), &next.records(), &next.settings)?;
        Ok(next)
    }

    /// The same certificates served with `settings` (written first).
    pub(crate) fn with_settings(
        &self,
        tls: &Path,
        settings: CertificateSettings,
    ) -> Result<Store, Error> {
        write_index(&store_dir(tls), &self.records(), &settings)?;
        let mut next = self.clone();
        next.settings = settings;
        Ok(next)
    }

    /// Remove `id` (the caller checked it is not assigned).
    pub(crate) fn remove(&self, tls: &Path, id: &str) -> Result<Store, Error> {
        let mut next = self.clone();
        next.entries.retain(|e| e.record.id != id);
        let dir = store_dir(tls);
        write_index(&dir, &next.records(), &next.settings)?;
        let _ = std::fs::remove_dir_all(dir.join(id));
        Ok(next)
    }

    /// The key of a stored certificate (PKCS#8), for an export.
    pub(crate) fn key(tls: &Path, id: &str) -> Result<PrivatePkcs8KeyDer<'static>, Error> {
        let path = store_dir(tls).join(id).join("key.pem");
        let pem = io_read(&path)?;
        PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|_| Error::Pem {
            path,
            what: "private key",
        })
    }
}

/// Why a certificate was not added.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AddError {
    #[error(transparent)]
    Refused(ImportError),
    #[error(transparent)]
    Store(#[from] Error),
}

pub(crate) fn pem_of(tag: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

fn read_index(dir: &Path) -> Result<Index, Error> {
    let path = dir.join(INDEX);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| Error::Pem {
            path,
            what: "certificate index (JSON)",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
        Err(source) => Err(Error::Read { path, source }),
    }
}

fn write_index(
    dir: &Path,
    records: &[Record],
    settings: &CertificateSettings,
) -> Result<(), Error> {
    make_dir(dir)?;
    let json = serde_json::to_vec_pretty(&Index {
        certificates: records.to_vec(),
        settings: settings.clone(),
    })
    .unwrap_or_default();
    write(&dir.join(INDEX), &json, 0o644)
}

fn load_entry(dir: &Path, record: &Record) -> Result<Entry, String> {
    let entry_dir = dir.join(&record.id);
    let chain_pem = io_read(&entry_dir.join("chain.pem")).map_err(|e| e.to_string())?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("chain.pem: {e}"))?;
    let leaf = chain.first().ok_or("chain.pem holds no certificate")?;
    let info = import::info(leaf.as_ref()).map_err(|e| e.to_string())?;
    let key = Store::key(dir.parent().unwrap_or(dir), &record.id).map_err(|e| e.to_string())?;
    let certified = import::certified(&chain, &key).map_err(|e| e.to_string())?;
    Ok(Entry {
        record: record.clone(),
        info,
        chain,
        certified,
    })
}

/// An administrator's certificate installed by an older firmware (`cert.pem`, `key.pem`
/// and the `installed` marker): moved into the store, served on every address with no
/// assignment (as before), and a new self-signed certificate made for the rest. Safe to
/// run again after a power cut at any step. Returns true when it moved one.
pub(crate) fn migrate(tls: &Path, hostname: &str) -> Result<bool, Error> {
    if !super::installed_marker(tls).exists() {
        return Ok(false);
    }
    let chain_pem = io_read(&super::cert_path(tls))?;
    let key_pem = io_read(&super::key_path(tls))?;
    let mut contents = import::read(&chain_pem, None).map_err(|e| migrate_error(tls, &e))?;
    let key = import::read(&key_pem, None).map_err(|e| migrate_error(tls, &e))?;
    contents.keys = key.keys;
    // The certificate served until now is kept whatever an import would say of it today
    // (an expired one included: the operator replaces it, not the update).
    let store = Store::load(tls)?;
    let context = import::Context {
        hostname,
        addresses: &[],
        pending: &[],
        now: i64::MIN,
    };
    let checked = import::check(contents, &context).map_err(|e| migrate_error(tls, &e))?;
    let id = id_of(&checked.info.sha256);
    let store = match store.add(tls, &checked, "Installed certificate") {
        Ok(store) => store,
        Err(AddError::Refused(ImportError::Duplicate { .. })) => store,
        Err(AddError::Refused(e)) => return Err(migrate_error(tls, &e)),
        Err(AddError::Store(e)) => return Err(e),
    };
    let any_taken = store
        .entries
        .iter()
        .any(|e| e.record.id != id && e.record.assigned.iter().any(|a| a == ANY));
    if !any_taken {
        store.assign(tls, &id, &[ANY.to_string()])?;
    }
    super::use_self_signed(tls, hostname)?;
    tracing::info!(%id, "the installed certificate moved into the certificate store");
    Ok(true)
}

fn migrate_error(tls: &Path, e: &ImportError) -> Error {
    Error::Pem {
        path: super::cert_path(tls),
        what: if matches!(e, ImportError::KeyMismatch) {
            "certificate matching key.pem"
        } else {
            "certificate and key (installed)"
        },
    }
}

/// The pending requests, with their keys (id, SPKI DER, PKCS#8 DER).
pub(crate) fn pending_keys(tls: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let dir = store_dir(tls).join(PENDING);
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in listing.flatten() {
        let id = item.file_name().to_string_lossy().into_owned();
        let Ok(pem) = std::fs::read(item.path().join("key.pem")) else {
            continue;
        };
        let Ok(key) = PrivatePkcs8KeyDer::from_pem_slice(&pem) else {
            continue;
        };
        let Ok(pair) = rcgen::KeyPair::try_from(key.secret_pkcs8_der()) else {
            continue;
        };
        out.push((id, pair.public_key_der(), key.secret_pkcs8_der().to_vec()));
    }
    out
}

/// The pending requests (what each asked for and its CSR), oldest first; a request whose
/// file cannot be read is left out.
pub(crate) fn pending(tls: &Path) -> Vec<PendingRequest> {
    let Ok(listing) = std::fs::read_dir(store_dir(tls).join(PENDING)) else {
        return Vec::new();
    };
    let mut out: Vec<PendingRequest> = listing
        .flatten()
        .filter_map(|item| std::fs::read(item.path().join("request.json")).ok())
        .filter_map(|json| serde_json::from_slice(&json).ok())
        .collect();
    out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    out
}

/// Keep a request's key and what it asked for.
pub(crate) fn save_pending(
    tls: &Path,
    request: &PendingRequest,
    key_pkcs8: &[u8],
) -> Result<(), Error> {
    let dir = store_dir(tls).join(PENDING).join(&request.id);
    make_dir(&dir)?;
    write(
        &dir.join("key.pem"),
        pem_of("PRIVATE KEY", key_pkcs8).as_bytes(),
        0o600,
    )?;
    let json = serde_json::to_vec_pretty(request).unwrap_or_default();
    write(&dir.join("request.json"), &json, 0o644)
}

/// A request whose certificate was imported.
pub(crate) fn remove_pending(tls: &Path, id: &str) {
    let _ = std::fs::remove_dir_all(store_dir(tls).join(PENDING).join(id));
}

/// Read and check what an operator imports.
pub(crate) fn check_import(
    tls: &Path,
    bytes: &[u8],
    password: Option<&str>,
    hostname: &str,
    addresses: &[std::net::IpAddr],
) -> Result<Checked, ImportError> {
    let contents: Contents = import::read(bytes, password)?;
    let pending = if contents.keys.is_empty() {
        pending_keys(tls)
    } else {
        Vec::new()
    };
    import::check(
        contents,
        &import::Context {
            hostname,
            addresses,
            pending: &pending,
            now: now(),
        },
    )
}
