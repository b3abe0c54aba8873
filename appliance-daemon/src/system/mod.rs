//! What the daemon knows about the system it runs on: the release it belongs to, the slot
//! it was booted from, the hardware (`specs`), and restart and power-off through init
//! (`power`, `shutdown`).

pub(crate) mod cmdline;
pub(crate) mod power;
pub(crate) mod release;
pub(crate) mod shutdown;
pub(crate) mod specs;

/// What the service reads of the machine while still root (`privileged`).
pub(crate) fn preload_serial() {
    specs::dmi::preload();
}

use std::path::Path;

pub(crate) use cmdline::BootSlot;
pub(crate) use release::Release;

/// The kernel's host name ("" if it cannot be read).
pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Facts about the running system, read once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SystemInfo {
    pub release: Release,
    pub slot: BootSlot,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Release {
        path: String,
        source: release::Error,
    },
    #[error("{path}: {source}")]
    Cmdline {
        path: String,
        source: cmdline::Error,
    },
}

impl SystemInfo {
    /// Read the release file and the kernel command line of the appliance.
    pub(crate) fn load(release_path: &Path, cmdline_path: &Path) -> Result<Self, Error> {
        let release = Release::parse(&read(release_path)?).map_err(|source| Error::Release {
            path: release_path.display().to_string(),
            source,
        })?;
        let slot =
            BootSlot::from_cmdline(&read(cmdline_path)?).map_err(|source| Error::Cmdline {
                path: cmdline_path.display().to_string(),
                source,
            })?;
        Ok(SystemInfo { release, slot })
    }

    /// Defaults for a developer's machine: this build's version, the `vm` profile and slot
    /// A, unless `APPLIANCE_PROFILE` / `APPLIANCE_SLOT` say otherwise.
    pub(crate) fn dev() -> Result<Self, Error> {
        let mut release = Release {
            version: env!("CARGO_PKG_VERSION").to_string(),
            profile: "vm".to_string(),
            kernel: None,
        };
        if let Some(version) = crate::paths::env::dev_version() {
            release.version = version;
        }
        if let Some(profile) = crate::paths::env::dev_profile() {
            release.profile = profile;
        }
        let slot = match crate::paths::env::dev_slot() {
            Some(s) => BootSlot::parse(&s).map_err(|source| Error::Cmdline {
                path: crate::paths::env::DEV_SLOT.to_string(),
                source,
            })?,
            None => BootSlot::Slot(grubenv::Slot::A),
        };
        Ok(SystemInfo { release, slot })
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })
}
