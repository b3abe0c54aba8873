//! The appliance's certificates, as a service: the store (list, import, export, request,
//! assign, delete), the legacy single-certificate calls (`/api/v1/tls`), and following the
//! host name and addresses with the self-signed certificate. Every change is served from
//! the next handshake on (connections under way keep theirs) and audited.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use api_types::{
    AssignmentOutcome, CertificateImported, CertificateRequested, CertificateSettings,
    CertificateWarning, ExpiringCertificate, StoredCertificate,
};
use rustls::sign::CertifiedKey;

use super::import::{self, ImportError};
use super::select::{Selector, Table};
use super::store::{self, AddError, Store, ANY};
use super::{expiry, keygen};
use super::{Identity, Names};
use crate::store::{Audit, Store as Settings};

/// What `GET /api/v1/tls` shows.
pub(crate) use api_types::Certificate as TlsView;

/// The id under which the self-signed certificate is listed.
pub(crate) const SELF_SIGNED: &str = "self-signed";
/// The shortest export password.
pub(crate) const EXPORT_PASSWORD_MIN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// What was imported was refused; nothing changed.
    #[error(transparent)]
    Refused(ImportError),
    #[error("no certificate or request {0:?} in the store")]
    NotFound(String),
    /// A request that cannot be carried out as given (the sentence says why).
    #[error("{0}")]
    Invalid(String),
    /// A password for an export that is too short or missing.
    #[error("a PKCS#12 export needs a password of at least {EXPORT_PASSWORD_MIN} characters (the private key is never exported without one)")]
    WeakPassword,
    /// The certificate serves addresses, or is the appliance's own.
    #[error("{0}")]
    InUse(String),
    /// Making, storing or serving a certificate failed on the appliance's side.
    #[error("{what}: {detail}")]
    Internal { what: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl CertificateError {
    fn internal(what: &'static str, detail: impl std::fmt::Display) -> Self {
        CertificateError::Internal {
            what,
            detail: detail.to_string(),
        }
    }
}

/// What is served now.
#[derive(Debug)]
struct Current {
    self_signed: Arc<CertifiedKey>,
    store: Store,
}

/// An export: the file and how to name it.
#[derive(Debug)]
pub(crate) struct Exported {
    pub(crate) bytes: Vec<u8>,
    pub(crate) content_type: &'static str,
    pub(crate) file_name: String,
}

#[derive(Debug)]
pub(crate) struct Certificates {
    dir: PathBuf,
    selector: Arc<Selector>,
    current: Mutex<Current>,
    settings: Settings,
    /// Held by an expiry check: two at once (start, an import) would log a threshold twice.
    expiry_check: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Certificates {
    /// The store in `dir` beside the self-signed `identity` (which [`super::open`] read).
    pub(crate) fn new(
        dir: PathBuf,
        identity: &Identity,
        settings: Settings,
    ) -> Result<Self, super::Error> {
        let self_signed = super::certified(identity)?;
        let store = Store::load(&dir)?;
        let selector = Selector::new(Table::build(Arc::clone(&self_signed), &store)?);
        Ok(Certificates {
            dir,
            selector,
            current: Mutex::new(Current { self_signed, store }),
            settings,
            expiry_check: Mutex::new(()),
        })
    }

    /// What the HTTPS accept loop asks on every connection.
    pub(crate) fn selector(&self) -> Arc<Selector> {
        Arc::clone(&self.selector)
    }

    /// The public-key SHA-256 of the certificate served on addresses with no assignment.
    pub(crate) fn pin(&self) -> String {
        appliancectl::tls::format_fingerprint(&appliancectl::tls::fingerprint(
            self.selector.fallback_leaf().as_ref(),
        ))
    }

    pub(crate) fn view(&self) -> TlsView {
        let current = lock(&self.current);
        TlsView {
            installed: fallback_entry(&current.store).is_some(),
            certificate_sha256: self.pin(),
        }
    }

    /// The subject of the certificate served on addresses with no assignment.
    pub(crate) fn served_subject(&self) -> Option<String> {
        import::info(self.selector.fallback_leaf().as_ref())
            .ok()
            .map(|i| i.subject)
    }

    /// Every certificate: the self-signed one first.
    pub(crate) fn list(&self) -> Vec<StoredCertificate> {
        let current = lock(&self.current);
        let mut out = Vec::with_capacity(current.store.entries.len() + 1);
        if let Ok(info) = import::info(current.self_signed.cert[0].as_ref()) {
            let mut own = summary(
                SELF_SIGNED,
                "Self-signed (this appliance)",
                &info,
                &current.self_signed,
            );
            own.self_signed = true;
            if fallback_entry(&current.store).is_none() {
                own.assigned = vec![ANY.to_string()];
            }
            out.push(own);
        }
        for entry in &current.store.entries {
            let mut s = summary(
                &entry.record.id,
                &entry.record.name,
                &entry.info,
                &entry.certified,
            );
            s.assigned.clone_from(&entry.record.assigned);
            out.push(s);
        }
        out
    }

    /// The requests waiting for their signed certificate, oldest first.
    pub(crate) fn pending(&self) -> Vec<store::PendingRequest> {
        store::pending(&self.dir)
    }

    fn one(&self, id: &str) -> Result<StoredCertificate, CertificateError> {
        self.list()
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| CertificateError::NotFound(id.to_string()))
    }

    /// Check and store an imported file (PEM, DER or PKCS#12). Serves nothing new until it
    /// is assigned.
    pub(crate) async fn import(
        self: &Arc<Self>,
        bytes: Vec<u8>,
        password: Option<String>,
        name: Option<String>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<CertificateImported, CertificateError> {
        let this = Arc::clone(self);
        let hostname = crate::system::hostname();
        let (id, checked) = tokio::task::spawn_blocking(move || {
            let checked = store::check_import(
                &this.dir,
                &bytes,
                password.as_deref(),
                &hostname,
                &super::local_addresses(),
            )
            .map_err(CertificateError::Refused)?;
            let name = name
                .filter(|n| !n.trim().is_empty())
                .or_else(|| checked.name.clone())
                .or_else(|| checked.info.common_name.clone())
                .unwrap_or_else(|| checked.info.subject.clone());
            if name.len() > 200 || name.chars().any(char::is_control) {
                return Err(CertificateError::Invalid(
                    "the name must be at most 200 characters, without control characters".into(),
                ));
            }
            let mut current = lock(&this.current);
            let next = current
                .store
                .add(&this.dir, &checked, &name)
                .map_err(|e| match e {
                    AddError::Refused(e) => CertificateError::Refused(e),
                    AddError::Store(e) => {
                        CertificateError::internal("Storing the certificate failed", e)
                    }
                })?;
            current.store = next;
            if let Some(request) = &checked.request {
                store::remove_pending(&this.dir, request);
            }
            Ok::<_, CertificateError>((store::id_of(&checked.info.sha256), checked))
        })
        .await
        .map_err(|e| CertificateError::internal("Importing the certificate did not finish", e))??;
        self.audit(
            user,
            address,
            "certificates.import",
            format!(
                "certificate {id} imported ({}){}",
                checked.info.subject,
                if checked.request.is_some() {
                    ", completing a request"
                } else {
                    ""
                }
            ),
        )?;
        self.settings.service_changed();
        // A certificate imported near its end is warned about at once, not at the next
        // daily check.
        if let Err(err) = self.check_expiry(store::now()) {
            tracing::error!("cannot check the certificates' expiry: {err}");
        }
        Ok(CertificateImported {
            certificate: self.one(&id)?,
            warnings: checked
                .warnings
                .iter()
                .map(|w| CertificateWarning {
                    code: w.code.to_string(),
                    message: w.message.clone(),
                })
                .collect(),
            from_request: checked.request.is_some(),
        })
    }

    /// A certificate as a file: `pem` (certificate and chain), `der` (certificate alone),
    /// `pkcs12` (with its key and chain, under `password`).
    pub(crate) async fn export(
        self: &Arc<Self>,
        id: &str,
        format: &str,
        password: Option<String>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Exported, CertificateError> {
        let (chain, name, key) = {
            let current = lock(&self.current);
            if id == SELF_SIGNED {
                (
                    current.self_signed.cert.clone(),
                    "self-signed".to_string(),
                    None,
                )
            } else {
                let entry = current
                    .store
                    .get(id)
                    .ok_or_else(|| CertificateError::NotFound(id.to_string()))?;
                (entry.chain.clone(), entry.record.name.clone(), Some(()))
            }
        };
        let base = file_stem(&name, id);
        let exported = match format {
            "pem" => Exported {
                bytes: chain
                    .iter()
                    .map(|c| store::pem_of("CERTIFICATE", c))
                    .collect::<String>()
                    .into_bytes(),
                content_type: "application/x-pem-file",
                file_name: format!("{base}.pem"),
            },
            "der" => Exported {
                bytes: chain[0].to_vec(),
                content_type: "application/pkix-cert",
                file_name: format!("{base}.cer"),
            },
            "pkcs12" => {
                let password = password
                    .filter(|p| p.chars().count() >= EXPORT_PASSWORD_MIN)
                    .ok_or(CertificateError::WeakPassword)?;
                let dir = self.dir.clone();
                let id_owned = id.to_string();
                let friendly = name.clone();
                let bytes = tokio::task::spawn_blocking(move || {
                    let key = match key {
                        Some(()) => store::Store::key(&dir, &id_owned)
                            .map_err(|e| CertificateError::internal("Reading the key failed", e))?
                            .secret_pkcs8_der()
                            .to_vec(),
                        None => super::key_pkcs8(&dir)
                            .map_err(|e| CertificateError::internal("Reading the key failed", e))?,
                    };
                    super::pkcs12::write(&chain, &key, &friendly, &password).map_err(|e| {
                        CertificateError::internal("Making the PKCS#12 file failed", e)
                    })
                })
                .await
                .map_err(|e| CertificateError::internal("The export did not finish", e))??;
                Exported {
                    bytes,
                    content_type: "application/x-pkcs12",
                    file_name: format!("{base}.p12"),
                }
            }
            other => {
                return Err(CertificateError::Invalid(format!(
                    "unknown export format {other:?}: pem, der or pkcs12"
                )))
            }
        };
        self.audit(
            user,
            address,
            "certificates.export",
            if format == "pkcs12" {
                format!("certificate {id} exported with its private key (PKCS#12)")
            } else {
                format!("certificate {id} exported ({format}, without its key)")
            },
        )?;
        Ok(exported)
    }

    /// Make a key here and a CSR for `names`; the key waits for the signed certificate.
    pub(crate) async fn request(
        self: &Arc<Self>,
        names: Vec<String>,
        key: Option<String>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<CertificateRequested, CertificateError> {
        let key_type = key.unwrap_or_else(|| keygen::OFFERED[0].into());
        if !keygen::OFFERED.contains(&key_type.as_str()) {
            return Err(CertificateError::Invalid(format!(
                "key type {key_type:?} is not offered: {}",
                keygen::OFFERED.join(", ")
            )));
        }
        let names = check_names(names)?;
        let dir = self.dir.clone();
        let names_for = names.clone();
        let kt = key_type.clone();
        let answer = tokio::task::spawn_blocking(move || {
            let pair = keygen::generate(&kt)
                .map_err(|e| CertificateError::internal("Making the key failed", e))?;
            let mut params = rcgen::CertificateParams::new(names_for.clone())
                .map_err(|e| CertificateError::Invalid(format!("a name is not valid: {e}")))?;
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, names_for[0].as_str());
            params.distinguished_name = dn;
            let csr = params
                .serialize_request(&pair)
                .and_then(|r| r.pem())
                .map_err(|e| CertificateError::internal("Making the request failed", e))?;
            let id = hex::encode(&import::sha256(&pair.public_key_der())[..8]);
            let request = store::PendingRequest {
                id: id.clone(),
                names: names_for,
                key_type: kt,
                created: store::now(),
                csr: csr.clone(),
            };
            store::save_pending(&dir, &request, &pair.serialize_der())
                .map_err(|e| CertificateError::internal("Keeping the request's key failed", e))?;
            Ok::<_, CertificateError>(CertificateRequested {
                id,
                key_type: request.key_type,
                names: request.names,
                csr,
            })
        })
        .await
        .map_err(|e| CertificateError::internal("The request did not finish", e))??;
        self.audit(
            user,
            address,
            "certificates.request",
            format!(
                "certificate request {} made ({key_type}) for {}",
                answer.id,
                names.join(", ")
            ),
        )?;
        self.settings.service_changed();
        Ok(answer)
    }

    /// Serve `id` on exactly `addresses` from now on (an address another certificate had
    /// moves to this one). The self-signed certificate takes only `*` (it then serves every
    /// address with no assignment of its own), or nothing.
    pub(crate) async fn assign(
        self: &Arc<Self>,
        id: &str,
        addresses: Vec<String>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<StoredCertificate, CertificateError> {
        let addresses = check_addresses(addresses)?;
        let this = Arc::clone(self);
        let id_owned = id.to_string();
        let list = addresses.clone();
        tokio::task::spawn_blocking(move || this.assign_blocking(&id_owned, &list))
            .await
            .map_err(|e| CertificateError::internal("The assignment did not finish", e))??;
        self.audit(
            user,
            address,
            "certificates.assign",
            format!(
                "certificate {id} assigned to {}",
                if addresses.is_empty() {
                    "no address".to_string()
                } else {
                    addresses.join(", ")
                }
            ),
        )?;
        self.settings.service_changed();
        self.one(id)
    }

    fn assign_blocking(&self, id: &str, addresses: &[String]) -> Result<(), CertificateError> {
        let mut current = lock(&self.current);
        let next = if id == SELF_SIGNED {
            if addresses.iter().any(|a| a != ANY) {
                return Err(CertificateError::Invalid(
                    "the self-signed certificate serves every address with no assignment of its own (\"*\"); assign another certificate to an address instead".into(),
                ));
            }
            if addresses.is_empty() {
                return Ok(());
            }
            current
                .store
                .assign(&self.dir, SELF_SIGNED, addresses)
        } else {
            if current.store.get(id).is_none() {
                return Err(CertificateError::NotFound(id.to_string()));
            }
            current.store.assign(&self.dir, id, addresses)
        }
        .map_err(|e| CertificateError::internal("Storing the assignment failed", e))?;
        self.serve(&current.self_signed, &next)?;
        current.store = next;
        Ok(())
    }

    /// How the certificates are served: minimum TLS version, HSTS.
    pub(crate) fn settings(&self) -> CertificateSettings {
        lock(&self.current).store.settings.clone()
    }

    /// Serve with `settings` from the next handshake on (stored first; audited).
    pub(crate) async fn set_settings(
        self: &Arc<Self>,
        settings: CertificateSettings,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<CertificateSettings, CertificateError> {
        if !["1.2", "1.3"].contains(&settings.min_tls_version.as_str()) {
            return Err(CertificateError::Invalid(format!(
                "the minimum TLS version must be \"1.2\" or \"1.3\", not {:?}",
                settings.min_tls_version
            )));
        }
        let this = Arc::clone(self);
        let wanted = settings.clone();
        tokio::task::spawn_blocking(move || {
            let mut current = lock(&this.current);
            let next = current
                .store
                .with_settings(&this.dir, wanted)
                .map_err(|e| CertificateError::internal("Storing the TLS settings failed", e))?;
            this.serve(&current.self_signed, &next)?;
            current.store = next;
            Ok::<_, CertificateError>(())
        })
        .await
        .map_err(|e| CertificateError::internal("The TLS settings change did not finish", e))??;
        self.audit(
            user,
            address,
            "certificates.settings",
            format!(
                "TLS settings: minimum version {}, HSTS {}",
                settings.min_tls_version,
                if settings.hsts { "on" } else { "off" }
            ),
        )?;
        self.settings.service_changed();
        Ok(self.settings())
    }

    /// The stored certificates with at most 30 days left at `now` (expired ones too),
    /// soonest first (Status).
    pub(crate) fn expiring(&self, now: i64) -> Vec<ExpiringCertificate> {
        let current = lock(&self.current);
        let mut out: Vec<ExpiringCertificate> = current
            .store
            .entries
            .iter()
            .filter(|e| e.info.not_after - now <= expiry::SHOWN_WITHIN_DAYS * 86_400)
            .map(|e| ExpiringCertificate {
                id: e.record.id.clone(),
                name: e.record.name.clone(),
                not_after: store::rfc3339(e.info.not_after),
                days_left: expiry::days_left(e.info.not_after, now),
                assigned: e.record.assigned.clone(),
            })
            .collect();
        out.sort_by(|a, b| (a.days_left, &a.id).cmp(&(b.days_left, &b.id)));
        out
    }

    /// Log and audit each stored certificate's expiry thresholds (30, 7, 1 days) crossed
    /// and not yet logged on this machine; forget certificates no longer stored.
    pub(crate) fn check_expiry(&self, now: i64) -> Result<(), CertificateError> {
        let _one_at_a_time = lock(&self.expiry_check);
        let stored: Vec<(String, String, i64)> = lock(&self.current)
            .store
            .entries
            .iter()
            .map(|e| (e.record.id.clone(), e.record.name.clone(), e.info.not_after))
            .collect();
        let mut warned: expiry::Warned = self.settings.get()?;
        // Certificates no longer stored are forgotten with the next warning written.
        warned
            .by_certificate
            .retain(|id, _| stored.iter().any(|(s, _, _)| s == id));
        for (id, name, not_after) in &stored {
            let already = warned.by_certificate.get(id).cloned().unwrap_or_default();
            let due = expiry::due(*not_after, now, &already);
            if due.is_empty() {
                continue;
            }
            let left = expiry::days_left(*not_after, now);
            let what = expiry::sentence(id, name, &store::rfc3339(*not_after), left);
            tracing::warn!("{what}");
            // One audit entry per threshold, each committed with the record that says it
            // was logged: a crash between two leaves the second to the next check.
            for threshold in due {
                warned
                    .by_certificate
                    .entry(id.clone())
                    .or_default()
                    .push(threshold);
                let record = warned.clone();
                self.settings.change(
                    Audit::system(
                        "certificates.expiry",
                        format!("{what} (the {threshold}-day warning)"),
                    ),
                    |tx| tx.put(&record),
                )?;
            }
        }
        Ok(())
    }

    /// Check expiries at start, then every [`expiry::CHECK_EVERY`] (runs forever).
    pub(crate) async fn watch_expiry(self: Arc<Self>) {
        loop {
            let this = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || this.check_expiry(store::now())).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!("cannot check the certificates' expiry: {err}"),
                Err(err) => tracing::error!("the certificates' expiry check did not finish: {err}"),
            }
            tokio::time::sleep(expiry::CHECK_EVERY).await;
        }
    }

    /// Remove a certificate that serves nothing (never the self-signed one).
    pub(crate) async fn delete(
        self: &Arc<Self>,
        id: &str,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<(), CertificateError> {
        let this = Arc::clone(self);
        let id_owned = id.to_string();
        tokio::task::spawn_blocking(move || {
            if id_owned == SELF_SIGNED {
                return Err(CertificateError::InUse(
                    "the self-signed certificate is the appliance's own and cannot be deleted"
                        .into(),
                ));
            }
            let mut current = lock(&this.current);
            let entry = current
                .store
                .get(&id_owned)
                .ok_or_else(|| CertificateError::NotFound(id_owned.clone()))?;
            if !entry.record.assigned.is_empty() {
                return Err(CertificateError::InUse(format!(
                    "the certificate is served on {}: assign its addresses to another one first",
                    entry.record.assigned.join(", ")
                )));
            }
            let next = current
                .store
                .remove(&this.dir, &id_owned)
                .map_err(|e| CertificateError::internal("Removing the certificate failed", e))?;
            current.store = next;
            Ok(())
        })
        .await
        .map_err(|e| CertificateError::internal("The removal did not finish", e))??;
        self.audit(
            user,
            address,
            "certificates.delete",
            format!("certificate {id} deleted"),
        )?;
        self.settings.service_changed();
        Ok(())
    }

    /// `PUT /api/v1/tls/certificate`: import a PEM chain and key and serve it on every
    /// address with no assignment of its own.
    pub(crate) async fn install(
        self: &Arc<Self>,
        chain_pem: String,
        key_pem: String,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<TlsView, CertificateError> {
        let mut bytes = chain_pem.into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(key_pem.as_bytes());
        let key_read = import::read(key_pem.as_bytes(), None);
        if !key_read.is_ok_and(|k| !k.keys.is_empty()) {
            return Err(CertificateError::Refused(ImportError::Damaged(
                "the private key is not PEM (PKCS#8, PKCS#1 or SEC1)".into(),
            )));
        }
        let id = match self.import(bytes, None, None, user, address).await {
            Ok(imported) => imported.certificate.id,
            // Already in the store: served everywhere all the same.
            Err(CertificateError::Refused(ImportError::Duplicate { id, .. })) => id,
            Err(e) => return Err(e),
        };
        self.assign(&id, vec![ANY.to_string()], user, address)
            .await?;
        Ok(self.view())
    }

    /// `DELETE /api/v1/tls/certificate`: a new self-signed certificate (new key) serves
    /// every address with no assignment of its own.
    pub(crate) async fn use_self_signed(
        self: &Arc<Self>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<TlsView, CertificateError> {
        let this = Arc::clone(self);
        let hostname = crate::system::hostname();
        tokio::task::spawn_blocking(move || {
            let identity = super::use_self_signed(&this.dir, &hostname).map_err(|e| {
                CertificateError::internal("Making a self-signed certificate failed", e)
            })?;
            let self_signed = super::certified(&identity)
                .map_err(|e| CertificateError::internal("Serving the new certificate failed", e))?;
            let mut current = lock(&this.current);
            let next = current
                .store
                .assign(&this.dir, SELF_SIGNED, &[ANY.to_string()])
                .map_err(|e| CertificateError::internal("Storing the assignment failed", e))?;
            this.serve(&self_signed, &next)?;
            *current = Current {
                self_signed,
                store: next,
            };
            Ok::<_, CertificateError>(())
        })
        .await
        .map_err(|e| CertificateError::internal("Making a certificate did not finish", e))??;
        let pin = self.pin();
        self.audit(
            user,
            address,
            "tls.self_signed",
            format!("back to a self-signed certificate; public key SHA-256 {pin}"),
        )?;
        self.settings.service_changed();
        Ok(self.view())
    }

    /// The certificate files were replaced underneath (a restore, the pair's sync): serve
    /// them from the next handshake on (a missing or broken self-signed pair is made anew,
    /// as at start: then true).
    pub(crate) async fn files_replaced(self: &Arc<Self>) -> Result<bool, CertificateError> {
        let this = Arc::clone(self);
        let hostname = crate::system::hostname();
        let created = tokio::task::spawn_blocking(move || {
            let identity = super::open(&this.dir, &hostname).map_err(|e| {
                CertificateError::internal("Loading the restored certificate failed", e)
            })?;
            let self_signed = super::certified(&identity).map_err(|e| {
                CertificateError::internal("Serving the restored certificate failed", e)
            })?;
            let store = Store::load(&this.dir).map_err(|e| {
                CertificateError::internal("Loading the restored certificates failed", e)
            })?;
            let mut current = lock(&this.current);
            this.serve(&self_signed, &store)?;
            *current = Current { self_signed, store };
            Ok::<_, CertificateError>(identity.created)
        })
        .await
        .map_err(|e| CertificateError::internal("Loading the certificate did not finish", e))??;
        tracing::info!(pin = %self.pin(), "serving the restored certificates");
        if let Err(err) = self.check_expiry(store::now()) {
            tracing::error!("cannot check the certificates' expiry: {err}");
        }
        Ok(created)
    }

    /// Each address assignment, and whether that address is on this machine now.
    pub(crate) fn assignments(&self) -> Vec<AssignmentOutcome> {
        let here = super::local_addresses();
        let current = lock(&self.current);
        current
            .store
            .entries
            .iter()
            .flat_map(|e| {
                e.record
                    .assigned
                    .iter()
                    .filter(|a| *a != ANY)
                    .map(|a| AssignmentOutcome {
                        certificate: e.record.name.clone(),
                        address: a.clone(),
                        kept: a.parse::<IpAddr>().is_ok_and(|ip| here.contains(&ip)),
                    })
            })
            .collect()
    }

    /// Build and swap in the table for `self_signed` and `store`.
    fn serve(
        &self,
        self_signed: &Arc<CertifiedKey>,
        store: &Store,
    ) -> Result<(), CertificateError> {
        let table = Table::build(Arc::clone(self_signed), store)
            .map_err(|e| CertificateError::internal("Serving the certificates failed", e))?;
        self.selector.set(table);
        Ok(())
    }

    fn audit(
        &self,
        user: &str,
        address: Option<IpAddr>,
        action: &'static str,
        what: String,
    ) -> Result<(), CertificateError> {
        tracing::info!("{what}");
        self.settings
            .change(Audit::user(user, address, action, what), |_| {
                Ok::<_, crate::store::Error>(())
            })?;
        Ok(())
    }

    /// Keep the self-signed certificate naming the current host name and addresses
    /// (appliance mode; runs forever).
    pub(crate) async fn follow_names(self: Arc<Self>) {
        // What the certificate was last checked against: the files on data are only read
        // and written when the host name or the addresses change.
        let mut checked: Option<Names> = None;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let now = Names::new(&crate::system::hostname(), super::local_addresses());
            if checked.as_ref() == Some(&now) {
                continue;
            }
            let dir = self.dir.clone();
            let names = now.clone();
            let result = tokio::task::spawn_blocking(move || {
                super::refresh(&dir, &names.hostname, names.addresses)
            })
            .await;
            if matches!(result, Ok(Ok(_))) {
                checked = Some(now);
            }
            match result {
                Ok(Ok(Some(identity))) => {
                    let served = super::certified(&identity)
                        .map_err(|e| CertificateError::internal("serving", e))
                        .and_then(|self_signed| {
                            let mut current = lock(&self.current);
                            self.serve(&self_signed, &current.store)?;
                            current.self_signed = self_signed;
                            Ok(())
                        });
                    match served {
                        Ok(()) => tracing::info!(
                            "HTTPS certificate re-issued for the current host name and addresses"
                        ),
                        Err(err) => {
                            tracing::error!("cannot serve the re-issued certificate: {err}");
                        }
                    }
                }
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::warn!("cannot re-issue the HTTPS certificate: {err}"),
                Err(err) => tracing::warn!("certificate refresh did not finish: {err}"),
            }
        }
    }
}

/// The stored certificate assigned to `*`, if any.
fn fallback_entry(store: &Store) -> Option<&store::Entry> {
    store
        .entries
        .iter()
        .find(|e| e.record.assigned.iter().any(|a| a == ANY))
}

fn summary(
    id: &str,
    name: &str,
    info: &import::Info,
    certified: &CertifiedKey,
) -> StoredCertificate {
    StoredCertificate {
        id: id.to_string(),
        name: name.to_string(),
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        sans: info.sans(),
        not_before: store::rfc3339(info.not_before),
        not_after: store::rfc3339(info.not_after),
        key_type: info.key_type.clone(),
        sha256: appliancectl::tls::format_fingerprint(&info.sha256),
        public_key_sha256: appliancectl::tls::format_fingerprint(&appliancectl::tls::fingerprint(
            certified.cert[0].as_ref(),
        )),
        assigned: Vec::new(),
        self_signed: false,
        chain_length: u32::try_from(certified.cert.len().saturating_sub(1)).unwrap_or(u32::MAX),
    }
}

/// A file name from the certificate's name: letters, digits, `-`, `_` and `.` only.
fn file_stem(name: &str, id: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let stem = stem.trim_matches(|c| c == '_' || c == '.');
    if stem.is_empty() {
        id.to_string()
    } else {
        stem.to_string()
    }
}

/// Addresses to assign: IPs (unicast, not unspecified) or `*`, each once.
fn check_addresses(addresses: Vec<String>) -> Result<Vec<String>, CertificateError> {
    let mut out: Vec<String> = Vec::new();
    for a in addresses {
        let a = a.trim().to_string();
        let normal = if a == ANY {
            a
        } else {
            let ip: IpAddr = a.parse().map_err(|_| {
                CertificateError::Invalid(format!("{a:?} is not an IP address (nor \"*\")"))
            })?;
            let ip = ip.to_canonical();
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(CertificateError::Invalid(format!(
                    "{a} is not an address a connection can arrive on"
                )));
            }
            ip.to_string()
        };
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    if out.len() > 256 {
        return Err(CertificateError::Invalid("at most 256 addresses".into()));
    }
    Ok(out)
}

/// Names for a request: 1 to 100 DNS names or IP addresses.
fn check_names(names: Vec<String>) -> Result<Vec<String>, CertificateError> {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names.len() > 100 {
        return Err(CertificateError::Invalid(
            "give between 1 and 100 names (DNS names or IP addresses)".into(),
        ));
    }
    for n in &names {
        let dns_ok = n.len() <= 253
            && n.split('.').enumerate().all(|(i, label)| {
                (i == 0 && label == "*")
                    || (!label.is_empty()
                        && label.len() <= 63
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && !label.starts_with('-')
                        && !label.ends_with('-'))
            });
        if n.parse::<IpAddr>().is_err() && !dns_ok {
            return Err(CertificateError::Invalid(format!(
                "{n:?} is neither a DNS name nor an IP address"
            )));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_are_checked() {
        assert_eq!(
            check_addresses(vec!["127.0.0.2".into(), " 127.0.0.2".into(), "*".into()]).unwrap(),
            vec!["127.0.0.2", "*"]
        );
        assert_eq!(
            check_addresses(vec!["::ffff:10.0.0.1".into()]).unwrap(),
            vec!["10.0.0.1"]
        );
        assert!(check_addresses(vec!["0.0.0.0".into()]).is_err());
        assert!(check_addresses(vec!["host".into()]).is_err());
        assert!(check_names(vec![]).is_err());
        assert!(check_names(vec!["bad name".into()]).is_err());
        assert_eq!(
            check_names(vec![
                "Support.Example.com".into(),
                "10.0.0.1".into(),
                "*.example.com".into()
            ])
            .unwrap(),
            vec!["support.example.com", "10.0.0.1", "*.example.com"]
        );
        assert_eq!(file_stem("Support cert (2026)", "ab"), "Support_cert__2026");
        assert_eq!(file_stem("///", "ab"), "ab");
    }
}
