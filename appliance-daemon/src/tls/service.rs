//! The certificate the appliance serves, as a service: what `GET /api/v1/tls` shows,
//! installing an administrator's certificate, going back to a self-signed one, and
//! following the host name and addresses with the self-signed one. A switch is served
//! from the next handshake on (existing connections keep theirs) and audited.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use super::{Identity, InstallError, Names, Served};
use crate::store::{Audit, Store};

/// What `GET /api/v1/tls` answers.
pub(crate) use api_types::Certificate as TlsView;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The certificate or key given was refused; nothing changed.
    #[error(transparent)]
    Refused(InstallError),
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

#[derive(Debug)]
pub(crate) struct Certificates {
    dir: PathBuf,
    served: Arc<Served>,
    /// SHA-256 of the served certificate's public key (`AB:CD:…`).
    pin: RwLock<String>,
    store: Store,
}

impl Certificates {
    pub(crate) fn new(
        dir: PathBuf,
        served: Arc<Served>,
        identity: &Identity,
        store: Store,
    ) -> Self {
        Certificates {
            dir,
            served,
            pin: RwLock::new(super::public_key_fingerprint(identity)),
            store,
        }
    }

    /// The served certificate's public-key SHA-256.
    pub(crate) fn pin(&self) -> String {
        self.pin
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn view(&self) -> TlsView {
        TlsView {
            installed: super::is_installed(&self.dir),
            certificate_sha256: self.pin(),
        }
    }

    /// Serve the administrator's certificate (PEM chain) and key from now on.
    pub(crate) async fn install(
        &self,
        chain_pem: String,
        key_pem: String,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<TlsView, CertificateError> {
        let dir = self.dir.clone();
        let identity =
            tokio::task::spawn_blocking(move || super::install(&dir, &chain_pem, &key_pem))
                .await
                .map_err(|e| {
                    CertificateError::internal("Installing the certificate did not finish", e)
                })?
                .map_err(|e| match e {
                    InstallError::Store(e) => {
                        CertificateError::internal("Storing the certificate failed", e)
                    }
                    refused => CertificateError::Refused(refused),
                })?;
        self.switch(
            &identity,
            user,
            address,
            "tls.install",
            "certificate installed",
        )?;
        // The certificate is the service's: the pair's sync carries it.
        self.store.service_changed();
        Ok(self.view())
    }

    /// Go back to a self-signed certificate (same key if there is one).
    pub(crate) async fn use_self_signed(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<TlsView, CertificateError> {
        let dir = self.dir.clone();
        let hostname = crate::system::hostname();
        let identity = tokio::task::spawn_blocking(move || super::use_self_signed(&dir, &hostname))
            .await
            .map_err(|e| CertificateError::internal("Making a certificate did not finish", e))?
            .map_err(|e| {
                CertificateError::internal("Making a self-signed certificate failed", e)
            })?;
        self.switch(
            &identity,
            user,
            address,
            "tls.self_signed",
            "back to a self-signed certificate",
        )?;
        // The certificate is the service's: the pair's sync carries it.
        self.store.service_changed();
        Ok(self.view())
    }

    /// The certificate files were replaced underneath (a restore, the pair's sync): serve
    /// them from the next handshake on (a missing or broken pair is made anew, as at start:
    /// then true).
    pub(crate) async fn files_replaced(&self) -> Result<bool, CertificateError> {
        let dir = self.dir.clone();
        let hostname = crate::system::hostname();
        let identity = tokio::task::spawn_blocking(move || super::load_or_create(&dir, &hostname))
            .await
            .map_err(|e| CertificateError::internal("Loading the certificate did not finish", e))?
            .map_err(|e| {
                CertificateError::internal("Loading the restored certificate failed", e)
            })?;
        self.served.replace(&identity).map_err(|e| {
            CertificateError::internal("Serving the restored certificate failed", e)
        })?;
        let pin = super::public_key_fingerprint(&identity);
        *self
            .pin
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pin.clone();
        tracing::info!(%pin, "serving the restored certificate");
        Ok(identity.created)
    }

    /// Serve `identity` from the next handshake on, and record who did it.
    fn switch(
        &self,
        identity: &Identity,
        user: &str,
        address: Option<IpAddr>,
        action: &'static str,
        what: &str,
    ) -> Result<(), CertificateError> {
        self.served
            .replace(identity)
            .map_err(|e| CertificateError::internal("Serving the new certificate failed", e))?;
        let pin = super::public_key_fingerprint(identity);
        *self
            .pin
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pin.clone();
        self.store.change(
            Audit::user(
                user,
                address,
                action,
                format!("{what}; public key SHA-256 {pin}"),
            ),
            |_| Ok::<_, crate::store::Error>(()),
        )?;
        tracing::info!(%pin, "{what}");
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
                Ok(Ok(Some(identity))) => match self.served.replace(&identity) {
                    Ok(()) => tracing::info!(
                        "HTTPS certificate re-issued for the current host name and addresses"
                    ),
                    Err(err) => tracing::error!("cannot serve the re-issued certificate: {err}"),
                },
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::warn!("cannot re-issue the HTTPS certificate: {err}"),
                Err(err) => tracing::warn!("certificate refresh did not finish: {err}"),
            }
        }
    }
}
