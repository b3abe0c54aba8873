//! The updater as the API and the web pages call it: each operator action as one async
//! call that runs the blocking work (slot and data writes, signing) off the async workers
//! and answers with the domain's typed error. HTTP is the callers' business.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::body::BodyReader;
use super::catalog::DownloadError;
use super::download_key::KeyError;
use super::install::{InstallError, Installed};
use super::server::UpdateServer;
use super::site::RollbackError;
use super::Updater;
use crate::store::Audit;

/// A site package after a rollback.
#[derive(Debug, Serialize)]
pub(crate) struct SiteVersion {
    pub name: String,
    /// The version now in use.
    pub version: String,
    /// The version left, kept for a rollback the other way.
    pub previous: Option<String>,
}

fn interrupted(e: tokio::task::JoinError) -> InstallError {
    InstallError::Interrupted(e.to_string())
}

impl Updater {
    /// Install the package streamed in `reader` (an upload).
    pub(crate) async fn install_upload(
        self: &Arc<Self>,
        mut reader: BodyReader,
        user: &str,
        address: Option<IpAddr>,
        downgrade: bool,
    ) -> Result<Installed, InstallError> {
        let updater = Arc::clone(self);
        let user = user.to_string();
        tokio::task::spawn_blocking(move || {
            let result = updater.install_package(&mut reader, &user, address, downgrade);
            if result.is_err() {
                reader.drain();
            }
            result
        })
        .await
        .map_err(interrupted)?
    }

    /// Download the catalog package `id` into `downloads` and install it exactly as an
    /// upload (signature verified again, every check, progress events).
    pub(crate) async fn install_by_id(
        self: &Arc<Self>,
        downloads: &Path,
        id: &str,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Installed, DownloadError> {
        let user = user.to_string();
        let file = self.download(downloads, id, &user, address).await?;
        let updater = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = std::fs::File::open(&file)
                .map_err(|e| {
                    InstallError::Package(package::Error::Io {
                        what: "cannot read the downloaded package".into(),
                        source: e,
                    })
                })
                .and_then(|f| {
                    updater.install_package(std::io::BufReader::new(f), &user, address, false)
                });
            if let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!("cannot remove {}: {e}", file.display());
            }
            result
        })
        .await
        .map_err(interrupted)?
        .map_err(DownloadError::Install)
    }

    /// Store a checked update server setting, with its audit entry.
    pub(crate) async fn store_server(
        &self,
        server: UpdateServer,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<(), crate::store::Error> {
        let detail = format!(
            "update server {}, {}",
            server.url.as_deref().unwrap_or("none"),
            if server.ca_certificate.is_some() {
                "own CA certificate"
            } else {
                "system CA bundle"
            }
        );
        self.store
            .change_async(
                Audit::user(user, address, "update.server", detail),
                move |tx| tx.put(&server),
            )
            .await
    }

    /// A new appliance download key.
    pub(crate) async fn issue_download_key(
        self: &Arc<Self>,
    ) -> Result<package::download_key::Issued, KeyError> {
        let identity = self.store.identity()?;
        let updater = Arc::clone(self);
        tokio::task::spawn_blocking(move || updater.download_key(&identity))
            .await
            .map_err(|e| KeyError::Interrupted(e.to_string()))?
    }

    /// Switch site package `name` back to its previous version.
    pub(crate) async fn roll_back_site(
        self: &Arc<Self>,
        name: String,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<SiteVersion, RollbackError> {
        let updater = Arc::clone(self);
        let user = user.to_string();
        let site = name.clone();
        let info =
            tokio::task::spawn_blocking(move || updater.rollback_site(&site, &user, address))
                .await
                .map_err(|e| RollbackError::Install(interrupted(e)))??;
        Ok(SiteVersion {
            name,
            version: info.version,
            previous: info.previous,
        })
    }
}
