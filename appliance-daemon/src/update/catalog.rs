//! "Check for updates" and "Install this update" (docs/updates.md "Update server"): the
//! signed catalog fetched from the configured server, kept in the store, re-verified
//! (signature and expiry) whenever it is used; what it offers, each package installable
//! or blocked with the reason; and the download of one package into a cache on `data`,
//! checked against the catalog's size and sha256 before the installer, which verifies
//! the package's own signature again, reads it.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use package::availability::{self, Blocked, Installed};
use package::catalog::{self as pkgcatalog, CatalogError, Entry};
use package::{Keyring, Requirement, Version};
use serde::{Deserialize, Serialize};

use super::fetch::{self, FetchError, HttpsUrl};
use super::install::{Busy, InstallError};
use super::progress::Progress;
use super::server::UpdateServer;
use super::state::{Event, Updates};
use super::Updater;
use crate::store::{Audit, Record};

/// Where downloads go, under the state directory (`data`).
pub(crate) const CACHE_DIR: &str = "update-cache";

/// The last catalog that verified, and how the last check went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct CatalogState {
    pub catalog: Option<Fetched>,
    /// The last check, if it failed (cleared by a successful one).
    pub last_failure: Option<Failure>,
    /// The issue time (unix seconds) of the newest catalog accepted: an older one is
    /// refused (a replayed catalog would hide newer releases).
    pub newest_issued: u64,
}

impl Record for CatalogState {
    const KEY: &'static str = "update_catalog";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fetched {
    /// The URL `catalog.json` came from; package URLs are relative to it.
    pub url: String,
    /// Unix seconds.
    pub checked_at: u64,
    /// The exact bytes of `catalog.json` and `catalog.sig`, verified again at each use.
    pub json: String,
    pub sig: String,
}

pub(crate) use api_types::CatalogFailure as Failure;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no update server is configured (PUT /api/v1/updates/server sets one)")]
    NoServer,
    #[error("the update server setting is invalid: {0}")]
    BadServer(String),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error(
        "the update server offers a catalog issued on {}, older than one this appliance \
         already accepted (issued on {}): an outdated or replayed catalog would hide newer \
         releases; it was refused and the catalog kept is unchanged",
        units::utc(*issued),
        units::utc(*newest)
    )]
    Stale { issued: u64, newest: u64 },
    #[error("the appliance's trusted keys cannot be read: {0}")]
    Keys(package::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl CheckError {
    pub fn code(&self) -> &'static str {
        match self {
            CheckError::NoServer => "no_update_server",
            CheckError::BadServer(_) => "invalid_update_server",
            CheckError::Fetch(e) => e.code(),
            CheckError::Catalog(e) => e.code(),
            CheckError::Stale { .. } => "stale_catalog",
            CheckError::Keys(_) => "no_keys",
            CheckError::Store(_) => "internal",
        }
    }
}

/// What `GET /api/v1/updates` says about the catalog.
pub(crate) use api_types::CatalogInfo;

/// One package of the catalog as `GET /api/v1/updates` lists it, written as
/// [`api_types::Available`].
#[derive(Debug, Clone, Serialize)]
#[serde(into = "api_types::Available")]
pub struct Available {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub version: Version,
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    pub size: u64,
    pub installable: bool,
    /// Why it cannot be installed now (absent when installable).
    pub blocked: Option<String>,
    pub blocked_code: Option<&'static str>,
}

impl From<Available> for api_types::Available {
    fn from(a: Available) -> Self {
        api_types::Available {
            id: a.id,
            kind: a.kind.to_string(),
            name: a.name,
            version: a.version.to_string(),
            profiles: a.profiles,
            requires: a
                .requires
                .into_iter()
                .map(|r| api_types::Requirement {
                    name: r.name,
                    min_version: r.min_version.to_string(),
                })
                .collect(),
            size: a.size,
            installable: a.installable,
            blocked: a.blocked,
            blocked_code: a.blocked_code.map(str::to_string),
        }
    }
}

/// The catalog part of `GET /api/v1/updates`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Offer {
    pub catalog: Option<CatalogInfo>,
    /// The last check, if it failed.
    pub last_check_failure: Option<Failure>,
    /// In install order (base first, site packages after what they need).
    pub available: Vec<Available>,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("no update catalog yet: check for updates first")]
    NoCatalog,
    #[error("the update catalog has no package {0:?}; check for updates again")]
    UnknownPackage(String),
    #[error("{0}")]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Blocked(Blocked),
    #[error("{0}")]
    Install(#[from] InstallError),
    #[error("{0}")]
    Check(#[from] CheckError),
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("the downloaded {id} does not match the update catalog ({detail}): it was altered or damaged on the way")]
    Mismatch { id: String, detail: String },
    #[error("cannot keep the download in {path}: {source}")]
    Cache {
        path: String,
        source: std::io::Error,
    },
}

impl DownloadError {
    pub fn code(&self) -> &'static str {
        match self {
            DownloadError::NoCatalog => "no_catalog",
            DownloadError::UnknownPackage(_) => "unknown_package",
            DownloadError::Catalog(e) => e.code(),
            DownloadError::Blocked(b) => b.code(),
            DownloadError::Install(e) => e.code(),
            DownloadError::Check(e) => e.code(),
            DownloadError::Fetch(e) => e.code(),
            DownloadError::Mismatch { .. } => "catalog_mismatch",
            DownloadError::Cache { .. } => "io",
        }
    }
}

impl Updater {
    fn keyring(&self) -> Result<Keyring, CheckError> {
        Keyring::from_dir(&self.platform.keys_dir()).map_err(CheckError::Keys)
    }

    /// What this appliance runs and has installed, as the verdicts and the download key
    /// describe it.
    pub(crate) fn installed(&self) -> Result<Installed, DownloadError> {
        let u: Updates = self.store.get().map_err(CheckError::from)?;
        Ok(self.installed_now(&u)?)
    }

    /// `POST /api/v1/updates/check`: fetch `catalog.json` and `catalog.sig`, verify them
    /// (keys, dates against this clock) and keep them. A failure is kept too (shown on the
    /// Updates page) and leaves the previous catalog in place.
    pub(crate) async fn check_for_updates(
        &self,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<Offer, CheckError> {
        let now = units::now();
        let result = self.fetch_catalog(now).await;
        let (audit, outcome) = match &result {
            Ok((fetched, count, issued)) => (
                Audit::user(
                    actor,
                    address,
                    "update.check",
                    format!("catalog from {}: {count} packages", fetched.url),
                ),
                Ok((fetched.clone(), *issued)),
            ),
            Err(e) => (
                Audit::user(
                    actor,
                    address,
                    "update.check_failed",
                    format!("{}: {e}", e.code()),
                ),
                Err(Failure {
                    at: now,
                    code: e.code().to_string(),
                    message: e.to_string(),
                }),
            ),
        };
        self.store
            .change_async(audit, move |tx| {
                let mut state: CatalogState = tx.get()?;
                match outcome {
                    Ok((fetched, issued)) => {
                        state.catalog = Some(fetched);
                        state.newest_issued = state.newest_issued.max(issued);
                        state.last_failure = None;
                    }
                    Err(failure) => state.last_failure = Some(failure),
                }
                tx.put(&state)
            })
            .await?;
        match result {
            Ok((fetched, count, _)) => {
                tracing::info!(url = %fetched.url, packages = count, "update catalog checked");
                Ok(self.offer())
            }
            Err(e) => {
                tracing::warn!(code = e.code(), "checking for updates failed: {e}");
                Err(e)
            }
        }
    }

    /// The catalog fetched and verified, its number of packages and its issue time.
    async fn fetch_catalog(&self, now: u64) -> Result<(Fetched, usize, u64), CheckError> {
        let server: UpdateServer = self.store.get()?;
        let base = server.url.as_deref().ok_or(CheckError::NoServer)?;
        let base = HttpsUrl::parse(base).map_err(CheckError::BadServer)?;
        let tls = fetch::client_config(server.ca_certificate.as_deref())?;
        let json_url = base.join(pkgcatalog::CATALOG_FILE);
        let json = fetch::get_small(&json_url, tls.clone(), pkgcatalog::MAX_CATALOG_BYTES).await?;
        let sig = fetch::get_small(
            &base.join(pkgcatalog::CATALOG_SIG_FILE),
            tls,
            pkgcatalog::MAX_CATALOG_SIG_BYTES,
        )
        .await?;
        let verified = pkgcatalog::verify(&json, &sig, &self.keyring()?, now)?;
        let newest = self.store.get::<CatalogState>()?.newest_issued;
        if verified.issued < newest {
            return Err(CheckError::Stale {
                issued: verified.issued,
                newest,
            });
        }
        // Verified JSON is UTF-8; the store keeps text.
        let text = |b: Vec<u8>| {
            String::from_utf8(b)
                .map_err(|_| CheckError::Catalog(CatalogError::Invalid("not UTF-8 text".into())))
        };
        Ok((
            Fetched {
                url: json_url.to_string(),
                checked_at: now,
                json: text(json)?,
                sig: text(sig)?,
            },
            verified.packages.len(),
            verified.issued,
        ))
    }

    /// The stored catalog, verified again now (keys may have changed with a base update,
    /// time has passed).
    fn current_catalog(&self) -> Result<(Fetched, pkgcatalog::Catalog), DownloadError> {
        let state: CatalogState = self.store.get().map_err(CheckError::from)?;
        let fetched = state.catalog.ok_or(DownloadError::NoCatalog)?;
        let catalog = pkgcatalog::verify(
            fetched.json.as_bytes(),
            fetched.sig.as_bytes(),
            &self.keyring()?,
            units::now(),
        )?
        .into_inner();
        Ok((fetched, catalog))
    }

    /// The catalog part of `GET /api/v1/updates`.
    pub(crate) fn offer(&self) -> Offer {
        let state: CatalogState = match self.store.get() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot read the update catalog: {e}");
                return Offer::default();
            }
        };
        let mut offer = Offer {
            last_check_failure: state.last_failure.clone(),
            ..Offer::default()
        };
        let Some(fetched) = &state.catalog else {
            return offer;
        };
        let mut info = CatalogInfo {
            url: fetched.url.clone(),
            checked_at: fetched.checked_at,
            issued: None,
            expires: None,
            problem: None,
        };
        let problem = |code: &str, message: String| {
            Some(Failure {
                at: units::now(),
                code: code.to_string(),
                message,
            })
        };
        match self.current_catalog() {
            Ok((_, catalog)) => {
                info.issued = Some(catalog.issued);
                info.expires = Some(catalog.expires);
                match self.installed() {
                    Ok(installed) => {
                        offer.available = availability::assess_all(&catalog, &installed)
                            .into_iter()
                            .map(|a| available(a.entry, a.blocked))
                            .collect();
                    }
                    Err(e) => info.problem = problem(e.code(), e.to_string()),
                }
            }
            Err(e) => info.problem = problem(e.code(), e.to_string()),
        }
        offer.catalog = Some(info);
        offer
    }

    /// The package `id` of the catalog, checked installable now, downloaded into
    /// `<state_dir>/update-cache/` and checked against the catalog's size and sha256.
    /// Returns the file, for [`Updater::install_package`]. Progress: `downloading`.
    pub(crate) async fn download(
        &self,
        state_dir: &Path,
        id: &str,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<PathBuf, DownloadError> {
        let (fetched, catalog) = self.current_catalog()?;
        let entry = catalog
            .entry(id)
            .ok_or_else(|| DownloadError::UnknownPackage(id.to_string()))?
            .clone();
        availability::assess(&entry, &self.installed()?).map_err(DownloadError::Blocked)?;
        let result = {
            let _busy = Busy::take(&self.installing)?;
            if self.reset_requested.load(Ordering::SeqCst) {
                return Err(InstallError::ResetPending.into());
            }
            self.fetch_package(state_dir, &fetched, &entry).await
        };
        if let Err(e) = &result {
            let message = e.to_string();
            self.progress.set(Progress {
                phase: "failed",
                version: Some(entry.version.to_string()),
                bytes: self.progress.current().bytes,
                total: entry.size,
                message: Some(message.clone()),
            });
            let event = Event {
                at: units::now(),
                kind: "failed".into(),
                version: entry.version.to_string(),
                slot: None,
                package: (entry.name != "base").then(|| entry.name.clone()),
                detail: format!("downloading {}: {message}", entry.id),
            };
            let audit = Audit::user(
                actor,
                address,
                "update.download_failed",
                format!("{}: {}", entry.id, e.code()),
            );
            let recorded = self
                .store
                .change_async(audit, move |tx| {
                    let mut u: Updates = tx.get()?;
                    u.record(event);
                    tx.put(&u)
                })
                .await;
            if let Err(e) = recorded {
                tracing::error!("cannot record a failed download: {e}");
            }
        }
        result
    }

    async fn fetch_package(
        &self,
        state_dir: &Path,
        fetched: &Fetched,
        entry: &Entry,
    ) -> Result<PathBuf, DownloadError> {
        let server: UpdateServer = self.store.get().map_err(CheckError::from)?;
        let tls = fetch::client_config(server.ca_certificate.as_deref())?;
        let url = HttpsUrl::parse(&fetched.url)
            .map_err(CheckError::BadServer)?
            .join(&entry.url);
        let dir = state_dir.join(CACHE_DIR);
        let cache_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| DownloadError::Cache { path, source }
        };
        // One download at a time: whatever is left is from an interrupted one.
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(cache_err(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(cache_err(&dir))?;
        let part = dir.join(format!("{}.pkg.part", entry.id));
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(&part).map_err(cache_err(&part))?);
        self.progress.set(Progress {
            phase: "downloading",
            version: Some(entry.version.to_string()),
            total: entry.size,
            ..Progress::default()
        });
        tracing::info!(id = %entry.id, %url, size = entry.size, "downloading an update");
        let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
        let mut received = 0u64;
        let got = fetch::get(&url, tls, entry.size, |piece| {
            hash.update(piece);
            received += piece.len() as u64;
            self.progress.bytes(received);
            file.write_all(piece)
        })
        .await;
        let got = match got {
            Ok(n) => n,
            Err(FetchError::TooLarge { .. }) => {
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::Mismatch {
                    id: entry.id.clone(),
                    detail: format!("more than the {} bytes listed", entry.size),
                });
            }
            Err(e) => {
                let _ = std::fs::remove_file(&part);
                return Err(e.into());
            }
        };
        let digest = hex::encode(hash.finish());
        let mismatch = if got != entry.size {
            Some(format!("{got} bytes instead of {}", entry.size))
        } else if digest != entry.sha256 {
            Some(format!("sha256 {digest} instead of {}", entry.sha256))
        } else {
            None
        };
        if let Some(detail) = mismatch {
            let _ = std::fs::remove_file(&part);
            return Err(DownloadError::Mismatch {
                id: entry.id.clone(),
                detail,
            });
        }
        file.into_inner()
            .map_err(std::io::IntoInnerError::into_error)
            .and_then(|f| f.sync_all())
            .map_err(cache_err(&part))?;
        let done = dir.join(format!("{}.pkg", entry.id));
        std::fs::rename(&part, &done).map_err(cache_err(&done))?;
        Ok(done)
    }
}

fn available(entry: &Entry, blocked: Option<Blocked>) -> Available {
    Available {
        id: entry.id.clone(),
        kind: entry.kind.name(),
        name: entry.name.clone(),
        version: entry.version,
        profiles: entry.profiles.clone(),
        requires: entry.requires.clone(),
        size: entry.size,
        installable: blocked.is_none(),
        blocked_code: blocked.as_ref().map(Blocked::code),
        blocked: blocked.map(|b| b.to_string()),
    }
}
