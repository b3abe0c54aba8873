//! Site packages: application files on `data` (docs/updates.md "Site packages").
//!
//! Layout, per package: `data/site/<name>/<version>/` for each version kept, and
//! `current`, a relative symlink naming the one in use. An install unpacks the payload,
//! while the package reader hashes it, into `<version>.partial`; syncs; renames it to
//! `<version>` only once the hash matched; then points `current` at it by renaming a new
//! symlink over the old one. So at every instant `current` names a complete version, the
//! old or the new one. The version replaced is kept for a rollback, older ones are
//! removed. A `.partial` left by a power cut is removed at start, and the record in the
//! settings store is brought in line with `current` if the cut fell between the two.

pub(crate) mod unpack;

use std::fs;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use package::availability::Blocked;
use package::Version;

use super::checks::{self, Refusal};
use super::install::{Busy, InstallError, Installed, PayloadErrorMap, Record, Update};
use super::progress::{Progress, Publisher};
use super::state::{Event, SiteInfo, Updates};
use super::{Platform, Updater};
use crate::store::Audit;

/// The symlink naming the version in use, in each package's directory.
pub(crate) const CURRENT: &str = "current";
const CURRENT_NEW: &str = "current.new";
const PARTIAL: &str = ".partial";
/// Free space left on `data` after a site install: the settings store and logs go on.
const SPACE_RESERVE: u64 = 64 << 20;

impl Platform {
    /// `data/site`: the state directory in dev mode.
    pub(crate) fn site_dir(&self) -> PathBuf {
        match self {
            Platform::Appliance => Path::new(crate::paths::DATA).join("site"),
            Platform::Dev { dir } => dir.join("site"),
        }
    }
}

/// Room on `data` for `installed_size` bytes: an eighth more for file system blocks and
/// directories, plus a reserve so the appliance keeps working.
pub(crate) fn check_space(installed_size: u64, free: u64) -> Result<(), Refusal> {
    let need = installed_size
        .saturating_add(installed_size / 8)
        .saturating_add(SPACE_RESERVE);
    if need > free {
        Err(Refusal::NoDataSpace { need, free })
    } else {
        Ok(())
    }
}

/// A site package rollback that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("no site package named {0:?} is installed")]
    NotInstalled(String),
    #[error("{0} has no previous version on this appliance to go back to")]
    NoPrevious(String),
    #[error(transparent)]
    Install(#[from] InstallError),
}

impl RollbackError {
    pub fn code(&self) -> &'static str {
        match self {
            RollbackError::NotInstalled(_) => "not_installed",
            RollbackError::NoPrevious(_) => "no_previous_version",
            RollbackError::Install(e) => e.code(),
        }
    }
}

impl From<crate::store::Error> for RollbackError {
    fn from(e: crate::store::Error) -> Self {
        RollbackError::Install(InstallError::Store(e))
    }
}

fn data_err(path: &Path) -> impl Fn(io::Error) -> InstallError + '_ {
    move |source| InstallError::Data {
        path: path.to_path_buf(),
        source,
    }
}

impl Updater {
    /// Check, unpack, switch `current`, record. `payload` yields `site.tar.zst` and fails
    /// at its end if the hash does not match. Refusals and failures are in the history.
    pub(crate) fn install_site(
        &self,
        update: &Update,
        payload: impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<Installed, InstallError> {
        self.site_changes_allowed()?;
        let label = update.label();
        let done = |done: &Installed| match &done.previous {
            Some(p) => format!("{label} is in use; {p} is kept for a rollback"),
            None => format!("{label} is in use"),
        };
        let name = update.name.clone();
        let record = Record {
            slot: None,
            package: Some(update.name.clone()),
            label: label.clone(),
            action: "update.site.install",
            done: &done,
            apply: Box::new(move |u: &mut Updates, outcome, now| {
                if let Ok(done) = outcome {
                    let info = SiteInfo {
                        version: done.version.clone(),
                        previous: done.previous.clone(),
                        installed_at: now,
                    };
                    u.sites.insert(name, info);
                }
            }),
        };
        let result = self.run_install(update, progress, actor, address, record, || {
            self.unpack_and_switch(update, payload, payload_error, progress)
        });
        if let Ok(done) = &result {
            let dir = self.platform.site_dir().join(&update.name);
            if let Err(e) = prune(&dir, &[Some(&done.version), done.previous.as_ref()]) {
                tracing::warn!(package = %update.name, "cannot remove old versions: {e}");
            }
            tracing::info!(package = %update.name, version = %done.version, "site package installed");
            // Site packages are the service's: the pair's sync carries them.
            self.store.service_changed();
        }
        result
    }

    fn unpack_and_switch(
        &self,
        update: &Update,
        payload: impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
    ) -> Result<Installed, InstallError> {
        let recorded: Updates = self.store.get()?;
        let previous = recorded
            .sites
            .get(&update.name)
            .and_then(|s| s.previous.as_deref());
        checks::check_site(
            update.candidate(),
            &self.installed_now(&recorded)?,
            update.downgrade,
            previous,
        )?;
        let version = update.version.to_string();
        let dir = self.platform.site_dir().join(&update.name);
        if current_version(&dir).as_ref() == Some(&version) {
            // In use although not recorded: an interrupted install, settled at start.
            return Err(Refusal::from(Blocked::AlreadyInstalled {
                name: update.name.clone(),
                version: update.version,
            })
            .into());
        }
        fs::create_dir_all(&dir).map_err(data_err(&dir))?;
        check_space(update.installed_size, free_bytes(&dir)?)?;

        let partial = dir.join(format!("{version}{PARTIAL}"));
        remove_any(&partial).map_err(data_err(&partial))?;
        fs::create_dir(&partial).map_err(data_err(&partial))?;
        progress.set(Progress {
            phase: "writing",
            version: Some(version.clone()),
            total: update.payload_size,
            ..Progress::default()
        });
        let unpacked = unpack_verified(payload, &partial, update, payload_error, progress)
            .and_then(|()| syncfs(&partial));
        if let Err(e) = unpacked {
            if let Err(rm) = remove_any(&partial) {
                tracing::error!("cannot remove {}: {rm}", partial.display());
            }
            return Err(e);
        }
        progress.set(Progress {
            phase: "finishing",
            version: Some(version.clone()),
            bytes: update.payload_size,
            total: update.payload_size,
            message: None,
        });
        // The hash matched: the version is complete.
        let done = dir.join(&version);
        remove_any(&done).map_err(data_err(&done))?;
        fs::rename(&partial, &done).map_err(data_err(&done))?;
        sync_dir(&dir)?;
        let previous = current_version(&dir);
        switch_current(&dir, &version)?;
        Ok(Installed {
            kind: "site",
            name: update.name.clone(),
            version,
            slot: None,
            restart_required: false,
            previous,
        })
    }

    /// Point a site package's `current` back at its previous version (kept since the last
    /// install); the version left becomes the previous one. Recorded in the history.
    pub(crate) fn rollback_site(
        &self,
        name: &str,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<SiteInfo, RollbackError> {
        self.site_changes_allowed()?;
        let _busy = Busy::take(&self.installing)?;
        if self.reset_requested.load(Ordering::SeqCst) {
            return Err(InstallError::ResetPending.into());
        }
        if package::check_name("site package", name).is_err() || name == package::BASE_NAME {
            return Err(RollbackError::NotInstalled(name.to_string()));
        }
        let recorded: Updates = self.store.get()?;
        let Some(site) = recorded.sites.get(name) else {
            return Err(RollbackError::NotInstalled(name.to_string()));
        };
        let dir = self.platform.site_dir().join(name);
        let Some(previous) = site.previous.clone().filter(|p| dir.join(p).is_dir()) else {
            return Err(RollbackError::NoPrevious(name.to_string()));
        };
        let left = site.version.clone();
        switch_current(&dir, &previous)?;
        let now = units::now();
        let info = SiteInfo {
            version: previous.clone(),
            previous: Some(left.clone()),
            installed_at: now,
        };
        let detail = format!("{name} rolled back from {left} to {previous}");
        let event = Event {
            at: now,
            kind: "rolled_back".into(),
            version: left,
            slot: None,
            package: Some(name.to_string()),
            detail: detail.clone(),
        };
        self.store.change(
            Audit::user(actor, address, "update.site.rollback", detail.clone()),
            |tx| {
                let mut u: Updates = tx.get()?;
                u.sites.insert(name.to_string(), info.clone());
                u.record(event);
                tx.put(&u)
            },
        )?;
        tracing::info!(package = %name, "{detail}");
        self.store.service_changed();
        Ok(info)
    }

    /// At start: remove what an interrupted install left (`*.partial`, `current.new`, a
    /// version never switched to) and bring the record in line with `current`. Skipped
    /// (with a warning) if an install already runs.
    pub(crate) fn sites_at_start(&self) {
        let Ok(_busy) = Busy::take(&self.installing) else {
            tracing::warn!("an install is running: site leftovers are cleared at the next start");
            return;
        };
        if let Err(e) = self.settle_sites(Settle::Start) {
            tracing::error!("cannot settle the site packages at start: {e}");
        }
    }

    /// After the pair's sync replaced `site/` with the primary's tree: the record follows
    /// it (the version `current` names, and the other version kept for a rollback), and
    /// nothing is removed: the tree is the primary's, and what this appliance removed the
    /// next comparison would send again.
    pub(crate) fn sites_after_sync(&self) {
        let Ok(_busy) = Busy::take(&self.installing) else {
            tracing::warn!("an install is running: the site packages' record follows the synced tree at the next sync");
            return;
        };
        if let Err(e) = self.settle_sites(Settle::Synced) {
            tracing::error!("cannot record the synced site packages: {e}");
        }
    }

    fn settle_sites(&self, settle: Settle) -> Result<(), InstallError> {
        let root = self.platform.site_dir();
        let entries = match fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(data_err(&root)(e)),
        };
        let recorded: Updates = self.store.get()?;
        let mut fixes: Vec<(String, SiteInfo, Event)> = Vec::new();
        let now = units::now();
        for entry in entries {
            let entry = entry.map_err(data_err(&root))?;
            let dir = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !dir.is_dir() || package::check_name("site package", &name).is_err() {
                continue;
            }
            if settle == Settle::Start {
                clear_leftovers(&dir)?;
            }
            let record = recorded.sites.get(&name);
            let current = current_version(&dir);
            // After a sync, the version kept for a rollback is the primary's: the tree's.
            let synced_previous = match (settle, &current) {
                (Settle::Synced, Some(v)) => other_version(&dir, v).map_err(data_err(&dir))?,
                _ => None,
            };
            let in_line = match (&current, record) {
                (Some(v), Some(r)) => {
                    &r.version == v && (settle == Settle::Start || r.previous == synced_previous)
                }
                _ => false,
            };
            let keep_previous = match (&current, record) {
                (Some(_), Some(r)) if in_line => r.previous.clone(),
                (Some(v), r) => {
                    // The switch happened, the record did not: `current` is the truth.
                    let previous = match settle {
                        Settle::Start => r.map(|r| r.version.clone()),
                        Settle::Synced => synced_previous,
                    };
                    let rollback = r.is_some_and(|r| r.previous.as_deref() == Some(v));
                    let kind = if rollback { "rollback" } else { "install" };
                    let detail = match settle {
                        Settle::Start => format!(
                            "{name} {v} is in use: its {kind} was completed at start (the appliance stopped before it was recorded)"
                        ),
                        Settle::Synced => {
                            format!("{name} {v} is in use: taken from the primary by the pair's sync")
                        }
                    };
                    tracing::warn!("{detail}");
                    fixes.push((
                        name.clone(),
                        SiteInfo {
                            version: v.clone(),
                            previous: previous.clone(),
                            installed_at: now,
                        },
                        Event {
                            at: now,
                            kind: if rollback { "rolled_back" } else { "installed" }.into(),
                            version: v.clone(),
                            slot: None,
                            package: Some(name.clone()),
                            detail,
                        },
                    ));
                    previous
                }
                (None, Some(r)) => {
                    tracing::error!(
                        "site package {name} {} has no `current` link in {}; left as it is",
                        r.version,
                        dir.display()
                    );
                    continue;
                }
                (None, None) if settle == Settle::Synced => continue,
                (None, None) => {
                    // A first install that stopped before its switch: nothing uses it.
                    remove_any(&dir).map_err(data_err(&dir))?;
                    continue;
                }
            };
            if settle == Settle::Start {
                prune(&dir, &[current.as_ref(), keep_previous.as_ref()]).map_err(data_err(&dir))?;
            }
        }
        if fixes.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = fixes.iter().map(|(n, _, _)| n.as_str()).collect();
        let audit = match settle {
            Settle::Start => format!("site packages settled at start: {}", names.join(", ")),
            Settle::Synced => format!(
                "site packages recorded as the pair's sync brought them: {}",
                names.join(", ")
            ),
        };
        self.store
            .change(Audit::system("update.site.settle", audit), |tx| {
                let mut u: Updates = tx.get()?;
                for (name, info, event) in fixes {
                    u.sites.insert(name, info);
                    u.record(event);
                }
                tx.put(&u)
            })?;
        Ok(())
    }
}

/// Why the site packages' tree and record are brought in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// At start: this appliance's own installs, leftovers of a cut one removed.
    Start,
    /// After the pair's sync: the primary's tree, taken as it is.
    Synced,
}

/// The one version directory of a package besides `current`'s (the one kept for a
/// rollback), if there is exactly one.
fn other_version(dir: &Path, current: &str) -> io::Result<Option<String>> {
    let mut others = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != current && name.parse::<Version>().is_ok() && entry.file_type()?.is_dir() {
            others.push(name);
        }
    }
    Ok(match others.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

/// Unpack while the package reader hashes, then give the verdict: a payload whose hash
/// (or size, or transfer) failed is reported as such, whatever the unpacker made of the
/// damaged bytes before the end.
fn unpack_verified(
    payload: impl Read,
    partial: &Path,
    update: &Update,
    payload_error: PayloadErrorMap,
    progress: &Publisher,
) -> Result<(), InstallError> {
    let mut tap = Tap {
        inner: payload,
        map: payload_error,
        failure: None,
        read: 0,
        progress,
    };
    let unpacked = unpack::unpack(&mut tap, partial, update.installed_size);
    // Only the payload's end tells whether the bytes were the signed ones.
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tap.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if let Some(failure) = tap.failure {
        return Err(InstallError::Payload(failure));
    }
    match unpacked {
        Ok(_) => Ok(()),
        Err(unpack::UnpackError::Write { path, source }) => {
            Err(InstallError::Data { path, source })
        }
        Err(e) => Err(InstallError::SiteTree(e)),
    }
}

/// The payload as the unpacker reads it: counts for the progress and keeps the first
/// error (the package reader's verdict), which zstd and tar may wrap beyond recognition.
struct Tap<'a, R> {
    inner: R,
    map: PayloadErrorMap,
    failure: Option<package::Error>,
    read: u64,
    progress: &'a Publisher,
}

impl<R: Read> Read for Tap<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                self.progress.bytes(self.read);
                Ok(n)
            }
            Err(e) => {
                if e.kind() == io::ErrorKind::Interrupted || self.failure.is_some() {
                    return Err(e);
                }
                // The verdict is kept whole; the unpacker gets its words only.
                let echo = io::Error::new(e.kind(), e.to_string());
                self.failure = Some((self.map)(e));
                Err(echo)
            }
        }
    }
}

/// The version `dir/current` names, if it is a link to a version directory.
pub(crate) fn current_version(dir: &Path) -> Option<String> {
    let target = fs::read_link(dir.join(CURRENT)).ok()?;
    let name = target.to_str()?.to_string();
    (name.parse::<Version>().is_ok() && dir.join(&name).is_dir()).then_some(name)
}

/// Point `dir/current` at `version` atomically: a new link renamed over the old one.
fn switch_current(dir: &Path, version: &str) -> Result<(), InstallError> {
    let new = dir.join(CURRENT_NEW);
    remove_any(&new).map_err(data_err(&new))?;
    std::os::unix::fs::symlink(version, &new).map_err(data_err(&new))?;
    let current = dir.join(CURRENT);
    fs::rename(&new, &current).map_err(data_err(&current))?;
    sync_dir(dir)
}

/// Remove every version directory of `dir` but those in `keep` (and `current`).
fn prune(dir: &Path, keep: &[Option<&String>]) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == CURRENT || keep.iter().flatten().any(|k| **k == name) {
            continue;
        }
        remove_any(&entry.path())?;
    }
    Ok(())
}

/// Remove `*.partial` and `current.new` from a package's directory.
fn clear_leftovers(dir: &Path) -> Result<(), InstallError> {
    for entry in fs::read_dir(dir).map_err(data_err(dir))? {
        let entry = entry.map_err(data_err(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(PARTIAL) || name == CURRENT_NEW {
            let path = entry.path();
            tracing::warn!("removing {} left by an interrupted install", path.display());
            remove_any(&path).map_err(data_err(&path))?;
        }
    }
    Ok(())
}

/// Remove a file, link or directory tree; nothing there is fine. Never follows a link.
fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> Result<(), InstallError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(data_err(dir))
}

/// Flush the whole file system holding `dir`: every file and directory just unpacked.
fn syncfs(dir: &Path) -> Result<(), InstallError> {
    let d = fs::File::open(dir).map_err(data_err(dir))?;
    nix::unistd::syncfs(d.as_raw_fd()).map_err(|e| data_err(dir)(e.into()))
}

fn free_bytes(dir: &Path) -> Result<u64, InstallError> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(|e| data_err(dir)(e.into()))?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

#[cfg(test)]
mod tests;
