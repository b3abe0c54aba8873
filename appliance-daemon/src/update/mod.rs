//! Signed update packages: what is installed, the install that waits for its first boot,
//! rollbacks, and installing a package into the inactive slot (docs/updates.md).
//!
//! On the appliance the slots are the partitions labelled `root-a` / `root-b` and the A/B
//! state is the ESP's grubenv; in dev mode both are files in the state directory
//! (`slot-a.img`, `slot-b.img`, `grubenv`), so the whole install runs without root.
//!
//! One [`Updater`], its work split by concept, each file adding the methods of its part:
//! `service.rs` the operator's actions as the API and the pages call them (upload,
//! install by id, update server, download key, site rollback), `upload.rs` the one entry
//! of a package (verification, then dispatch on its kind), `install.rs` a base package
//! into the inactive slot, `site.rs` a site package onto `data`, `catalog.rs` "check for
//! updates" and downloads, `download_key.rs` the appliance download key, and this file the
//! state at start, the view and the factory reset's interlock. Pure rules live in
//! `checks.rs` and the package crate; the progress events in `progress.rs`.

pub(crate) mod body;
pub(crate) mod boot_check;
pub(crate) mod catalog;
pub(crate) mod checks;
pub(crate) mod download_key;
pub(crate) mod fetch;
pub(crate) mod install;
pub(crate) mod progress;
pub(crate) mod server;
mod service;
pub(crate) mod site;
pub(crate) mod state;
pub(crate) mod upload;

use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use grubenv::Slot;

use crate::boot::EnvStore;
use crate::config::Mode;
use crate::store::{Audit, Store};
use crate::system::BootSlot;
pub(crate) use service::SiteVersion;
pub(crate) use state::{Event, Updates};

/// Size of a slot partition (docs/boot.md); dev-mode slot files get the same limit.
pub(crate) const DEV_SLOT_BYTES: u64 = 256 * 1024 * 1024;

/// Where slots and the A/B state live.
#[derive(Debug, Clone)]
pub(crate) enum Platform {
    Appliance,
    Dev { dir: PathBuf },
}

impl Platform {
    pub(crate) fn new(mode: Mode, state_dir: &std::path::Path) -> Self {
        match mode {
            Mode::Appliance => Platform::Appliance,
            Mode::Dev => Platform::Dev {
                dir: state_dir.to_path_buf(),
            },
        }
    }

    pub(crate) fn env(&self) -> EnvStore {
        match self {
            Platform::Appliance => EnvStore::Privileged,
            Platform::Dev { dir } => EnvStore::File(dir.join("grubenv")),
        }
    }

    /// The block device (or dev-mode file) of a slot.
    pub(crate) fn slot_path(&self, slot: Slot) -> Result<PathBuf, crate::boot::Error> {
        match self {
            Platform::Appliance => crate::boot::partition(slot.label()),
            Platform::Dev { dir } => {
                Ok(dir.join(format!("slot-{}.img", slot.to_string().to_lowercase())))
            }
        }
    }

    /// How many bytes a slot holds.
    pub(crate) fn slot_capacity(&self, slot: Slot) -> Result<u64, std::io::Error> {
        match self {
            Platform::Dev { .. } => {
                Ok(crate::paths::env::dev_slot_mib().map_or(DEV_SLOT_BYTES, |m| m << 20))
            }
            Platform::Appliance => {
                let path = self
                    .slot_path(slot)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let size = std::path::Path::new(crate::paths::SYS_CLASS_BLOCK)
                    .join(&name)
                    .join("size");
                let sectors = std::fs::read_to_string(&size)?;
                sectors
                    .trim()
                    .parse::<u64>()
                    .map(|s| s * 512)
                    .map_err(|e| std::io::Error::other(format!("{}: {e}", size.display())))
            }
        }
    }
}

/// The update engine shared by the API handlers.
#[derive(Debug)]
pub(crate) struct Updater {
    pub platform: Platform,
    pub(crate) store: Store,
    pub booted: BootSlot,
    pub version: String,
    pub profile: String,
    /// Set while a package is being installed, and while a factory reset request is
    /// being recorded: the two never overlap.
    pub(crate) installing: AtomicBool,
    /// A factory reset was requested: it rewrites both slots at the next start, so no
    /// install may begin until then.
    pub(crate) reset_requested: AtomicBool,
    pub progress: progress::Publisher,
    /// Whether site packages are the primary's (this appliance is the backup of a
    /// failover pair): set at start by the failover service ([`SiteGuard`]).
    pub(crate) site_guard: std::sync::OnceLock<SiteGuard>,
}

/// The sentence refusing a site package install or rollback, while one applies.
pub(crate) struct SiteGuard(pub(crate) Box<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for SiteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SiteGuard")
    }
}

impl Updater {
    pub(crate) fn new(
        platform: Platform,
        store: Store,
        booted: BootSlot,
        version: &str,
        profile: &str,
    ) -> Self {
        Updater {
            platform,
            store,
            booted,
            version: version.to_string(),
            profile: profile.to_string(),
            installing: AtomicBool::new(false),
            reset_requested: AtomicBool::new(false),
            progress: progress::Publisher::default(),
            site_guard: std::sync::OnceLock::new(),
        }
    }

    /// Refused while site packages are the failover primary's.
    pub(crate) fn site_changes_allowed(&self) -> Result<(), install::InstallError> {
        match self.site_guard.get().and_then(|guard| (guard.0)()) {
            Some(sentence) => Err(install::InstallError::ManagedByPrimary(
                sentence.trim_end_matches('.').to_string(),
            )),
            None => Ok(()),
        }
    }

    /// After the health gate: settle the install that waited for this boot (activated or
    /// rolled back) and put the failed slot out of the boot order; clear what an
    /// interrupted site install left on `data`.
    pub(crate) fn at_start(&self) -> anyhow::Result<Option<Event>> {
        self.sites_at_start();
        let BootSlot::Slot(booted) = self.booted else {
            return Ok(None);
        };
        let env = self.platform.env();
        if let (Platform::Dev { dir }, crate::boot::EnvStore::File(path)) = (&self.platform, &env) {
            if !path.exists() {
                // A dev-mode state directory starts as a disk whose booted slot is good.
                let mut fresh = grubenv::BootState::factory();
                if booted == Slot::B {
                    fresh.commit_install(Slot::B);
                }
                fresh.mark_successful_boot(booted);
                std::fs::create_dir_all(dir)?;
                env.write(&fresh)?;
            }
        }
        let mut boot = env.read()?;
        let now = units::now();
        let version = self.version.clone();
        // Most starts change nothing: no write, no audit entry, no fsync on the way up.
        let mut preview: Updates = self.store.get()?;
        let unchanged = preview.clone();
        let outcome = boot_check::reconcile(&mut preview, &mut boot.clone(), booted, &version, now);
        if preview == unchanged && !outcome.boot_changed {
            return Ok(None);
        }
        let (outcome, new_boot) = self.store.change(
            Audit::system("update.boot", format!("slot {booted} runs {version}")),
            |tx| {
                let mut updates: Updates = tx.get()?;
                let outcome = boot_check::reconcile(&mut updates, &mut boot, booted, &version, now);
                tx.put(&updates)?;
                Ok::<_, crate::store::Error>((outcome, boot))
            },
        )?;
        if outcome.boot_changed {
            env.write(&new_boot)?;
        }
        if let Some(event) = &outcome.event {
            match event.kind.as_str() {
                "rolled_back" => tracing::error!("update rolled back: {}", event.detail),
                _ => tracing::info!("update {}: {}", event.kind, event.detail),
            }
        }
        Ok(outcome.event)
    }

    pub(crate) fn updates(&self) -> Result<Updates, crate::store::Error> {
        self.store.get()
    }

    pub(crate) fn installing(&self) -> bool {
        self.installing.load(Ordering::SeqCst)
    }

    /// Record a factory reset request with no install running or starting meanwhile:
    /// `record` runs while the install flag is held; once it succeeded, installs are
    /// refused (`factory_reset_pending`) until the restart that carries the reset out.
    pub(crate) fn for_factory_reset<T, E>(
        &self,
        record: impl FnOnce() -> Result<T, E>,
    ) -> Result<Result<T, E>, install::InstallError> {
        let _busy = install::Busy::take(&self.installing)?;
        let result = record();
        if result.is_ok() {
            self.reset_requested.store(true, Ordering::SeqCst);
        }
        Ok(result)
    }

    /// A recorded reset request was taken back (the restart could not be scheduled).
    pub(crate) fn factory_reset_cancelled(&self) {
        self.reset_requested.store(false, Ordering::SeqCst);
    }
}

/// `GET /api/v1/updates`, written as [`api_types::Updates`].
#[derive(Debug, Clone, Serialize)]
#[serde(into = "api_types::Updates")]
pub struct View {
    pub running: Running,
    pub slots: std::collections::BTreeMap<String, state::SlotInfo>,
    pub pending: Option<state::Pending>,
    pub floor: Option<package::Version>,
    /// Installed site packages by name.
    pub sites: std::collections::BTreeMap<String, state::SiteInfo>,
    /// The last rollback since the last successful update, if any.
    pub rollback: Option<Event>,
    pub installing: bool,
    /// Newest first.
    pub history: Vec<Event>,
    /// The update catalog: `catalog`, `last_check_failure`, `available`.
    pub offer: catalog::Offer,
}

impl From<View> for api_types::Updates {
    fn from(v: View) -> Self {
        api_types::Updates {
            running: v.running,
            slots: v.slots,
            pending: v.pending,
            floor: v.floor.map(|f| f.to_string()),
            sites: v.sites,
            rollback: v.rollback,
            installing: v.installing,
            history: v.history,
            catalog: v.offer.catalog,
            last_check_failure: v.offer.last_check_failure,
            available: v.offer.available.into_iter().map(Into::into).collect(),
        }
    }
}

pub(crate) use api_types::Running;

impl Updater {
    pub(crate) fn view(&self) -> Result<View, crate::store::Error> {
        let u = self.updates()?;
        Ok(View {
            running: Running {
                version: self.version.clone(),
                slot: self.booted.to_string(),
                profile: self.profile.clone(),
            },
            rollback: u.last_rollback().cloned(),
            slots: u.slots,
            pending: u.pending,
            floor: u.floor,
            sites: u.sites,
            installing: self.installing(),
            history: u.history.into_iter().rev().collect(),
            offer: self.offer(),
        })
    }
}
