//! Writing a verified base package into the inactive slot.
//!
//! Order, so that no power cut or bad byte can leave the appliance unbootable: checks;
//! the target slot marked not bootable in grubenv; the payload streamed into the slot
//! while the package reader hashes it; on a hash mismatch the slot stays not bootable and
//! the boot order is untouched; after the hash matched and the slot was synced, the slot is
//! committed (bootable, first in ORDER, on trial). The running slot is never written.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::atomic::Ordering;

use grubenv::Slot;
use package::availability::Candidate;
use package::{Kind, Manifest, Requirement, Version};

use super::checks::{self, Refusal};
use super::progress::{Progress, Publisher};
use super::state::{Event, Pending, SlotInfo, Updates};
use super::Updater;
use crate::privileged::client::SlotWriter;
use crate::store::Audit;

/// A package whose manifest and signature were verified: what the installers use of it.
#[derive(Debug, Clone)]
pub(crate) struct Update {
    pub kind: Kind,
    /// `base`, or the site package's name.
    pub name: String,
    pub version: Version,
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    /// Raises the appliance's anti-rollback floor once installed (base packages).
    pub floor: Option<Version>,
    /// Bytes of the payload in the package.
    pub payload_size: u64,
    /// Bytes of the payload once decompressed (a site package's tar).
    pub installed_size: u64,
    /// The operator asked for this package although it is older than the installed
    /// version (refused otherwise); audited as `update.downgrade`.
    pub downgrade: bool,
    /// The package's signed entries, for the privileged part's own check.
    pub signed: package::Signed,
}

impl Update {
    pub(crate) fn from_manifest(m: &Manifest) -> Self {
        // A verified manifest lists exactly one payload.
        let payload = m.payloads.first();
        Update {
            kind: m.kind,
            name: m.name.clone(),
            version: m.version,
            profiles: m.profiles.clone(),
            requires: m.requires.clone(),
            floor: m.floor,
            payload_size: payload.map_or(0, |p| p.size),
            installed_size: payload.map_or(0, |p| p.installed_size),
            downgrade: false,
            signed: package::Signed::default(),
        }
    }

    /// What the install rules look at.
    pub(crate) fn candidate(&self) -> Candidate<'_> {
        Candidate {
            kind: self.kind,
            name: &self.name,
            version: self.version,
            profiles: &self.profiles,
            requires: &self.requires,
        }
    }

    /// `name version`, as messages name a site package.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("another package is being installed")]
    Busy,
    #[error("a factory reset was requested; it runs at the next restart and no package can be installed before it")]
    ResetPending,
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The package itself was refused: signature, format.
    #[error(transparent)]
    Package(package::Error),
    /// The appliance's trusted keys cannot be read, or there are none.
    #[error("{0}")]
    NoKeys(String),
    #[error("the package has no payload")]
    NoPayload,
    /// The payload did not verify (hash or size) or the upload broke off.
    #[error(transparent)]
    Payload(package::Error),
    /// A site payload that is not an acceptable tree (entry paths or types, size).
    #[error(transparent)]
    SiteTree(super::site::unpack::UnpackError),
    #[error("cannot write slot {slot}: {source}")]
    Write { slot: Slot, source: std::io::Error },
    /// Unpacking or switching a site package on `data` failed.
    #[error("cannot write {}: {source}", path.display())]
    Data {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Boot(#[from] crate::boot::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("the running version {0:?} is not of the form X.Y.Z")]
    RunningVersion(String),
    /// The install's thread ended without an answer.
    #[error("the install did not finish: {0}")]
    Interrupted(String),
    /// A site package on the backup of a failover pair: the primary's sync brings them.
    #[error("{0}")]
    ManagedByPrimary(String),
}

impl InstallError {
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Busy => "update_in_progress",
            InstallError::ResetPending => "factory_reset_pending",
            InstallError::Refused(r) => r.code(),
            InstallError::Package(e) | InstallError::Payload(e) => e.code(),
            InstallError::NoKeys(_) => "no_keys",
            InstallError::NoPayload => "malformed",
            InstallError::SiteTree(e) => e.code(),
            InstallError::Write { .. } | InstallError::Data { .. } => "write_failed",
            InstallError::Boot(_) => "boot_state",
            InstallError::Store(_)
            | InstallError::RunningVersion(_)
            | InstallError::Interrupted(_) => "internal",
            InstallError::ManagedByPrimary(_) => "managed_by_primary",
        }
    }
}

/// Held while installing; lets go of the updater's flag however the install ends.
pub(crate) struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Busy<'a> {
    pub(crate) fn take(flag: &'a std::sync::atomic::AtomicBool) -> Result<Busy<'a>, InstallError> {
        if flag.swap(true, Ordering::SeqCst) {
            Err(InstallError::Busy)
        } else {
            Ok(Busy(flag))
        }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// What the caller learns of a finished install, written as [`api_types::Installed`].
#[derive(Debug, Clone, serde::Serialize)]
#[serde(into = "api_types::Installed")]
pub struct Installed {
    /// `base` or `site`.
    pub kind: &'static str,
    /// `base`, or the site package's name.
    pub name: String,
    pub version: String,
    /// The slot a base package was written to; none for a site package.
    pub slot: Option<String>,
    /// True for a base package (the new system starts at the next restart); a site
    /// package is in use as soon as it is installed.
    pub restart_required: bool,
    /// The version a site package replaced, kept for a rollback.
    pub previous: Option<String>,
}

impl From<Installed> for api_types::Installed {
    fn from(i: Installed) -> Self {
        api_types::Installed {
            kind: i.kind.to_string(),
            name: i.name,
            version: i.version,
            slot: i.slot,
            restart_required: i.restart_required,
            previous: i.previous,
        }
    }
}

/// Size of the chunks read from the payload and written to the slot.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the hashing reader and the slot writer.
const BUFFERS: usize = 4;

/// Where the slot's bytes go: the dev-mode slot file, or the privileged part.
enum SlotSink {
    File(std::fs::File),
    Privileged(SlotWriter),
}

impl Write for SlotSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            SlotSink::File(f) => f.write(buf),
            SlotSink::Privileged(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            SlotSink::File(f) => f.flush(),
            SlotSink::Privileged(w) => w.flush(),
        }
    }
}

/// Map an error from the payload reader: the package crate reports hash and size
/// mismatches as `InvalidData` with a sentence; anything else is a broken upload.
pub(crate) type PayloadErrorMap = fn(std::io::Error) -> package::Error;

pub(super) type Apply<'a> =
    Box<dyn FnOnce(&mut Updates, Result<&Installed, &InstallError>, u64) + 'a>;

/// How one kind of install is recorded, on top of what every install records.
pub(super) struct Record<'a> {
    /// The slot a base package goes to.
    pub slot: Option<String>,
    /// The site package's name.
    pub package: Option<String>,
    /// Names the package in the audit entry.
    pub label: String,
    /// The audit action of a successful install.
    pub action: &'static str,
    /// The history's sentence for a successful install.
    pub done: &'a dyn Fn(&Installed) -> String,
    /// The kind's own change to the update state, given the outcome and the time.
    pub apply: Apply<'a>,
}

impl Updater {
    /// What this appliance runs and has installed, from the update state.
    pub(super) fn installed_now(
        &self,
        u: &Updates,
    ) -> Result<package::availability::Installed, InstallError> {
        checks::installed(&self.profile, &self.version, u)
            .ok_or_else(|| InstallError::RunningVersion(self.version.clone()))
    }

    /// What every install does around its own work: one at a time, none once a factory
    /// reset was requested; progress from `verifying` to `done` or `failed`; the outcome
    /// (a refusal or failure too) in the history and the audit log, with the kind's own
    /// change to the update state in the same transaction.
    pub(super) fn run_install(
        &self,
        update: &Update,
        progress: &Publisher,
        actor: &str,
        address: Option<IpAddr>,
        record: Record<'_>,
        install: impl FnOnce() -> Result<Installed, InstallError>,
    ) -> Result<Installed, InstallError> {
        let _busy = Busy::take(&self.installing)?;
        if self.reset_requested.load(Ordering::SeqCst) {
            return Err(InstallError::ResetPending);
        }
        let version = update.version.to_string();
        progress.set(Progress {
            phase: "verifying",
            version: Some(version.clone()),
            total: update.payload_size,
            ..Progress::default()
        });
        let result = install();
        let now = units::now();
        let (kind, detail, action) = match &result {
            Ok(done) if update.downgrade => (
                "installed",
                format!("{} (a downgrade, asked for)", (record.done)(done)),
                "update.downgrade",
            ),
            Ok(done) => ("installed", (record.done)(done), record.action),
            Err(InstallError::Refused(r)) => ("refused", r.to_string(), "update.refused"),
            Err(e) => ("failed", e.to_string(), "update.failed"),
        };
        let event = Event {
            at: now,
            kind: kind.to_string(),
            version: version.clone(),
            slot: record.slot,
            package: record.package,
            detail: detail.clone(),
        };
        let apply = record.apply;
        let outcome = result.as_ref();
        self.store.change(
            Audit::user(
                actor,
                address,
                action,
                format!("{}: {detail}", record.label),
            ),
            |tx| {
                let mut u: Updates = tx.get()?;
                apply(&mut u, outcome, now);
                u.record(event);
                tx.put(&u)
            },
        )?;
        progress.set(Progress {
            phase: if result.is_ok() { "done" } else { "failed" },
            version: Some(version),
            bytes: if result.is_ok() {
                update.payload_size
            } else {
                progress.current().bytes
            },
            total: update.payload_size,
            message: Some(detail),
        });
        result
    }

    /// Check, write and commit. `payload` yields the slot image and fails at its end if
    /// the hash does not match. Refusals and failures are recorded in the history.
    pub(crate) fn install_base(
        &self,
        update: &Update,
        mut payload: impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<Installed, InstallError> {
        let target = checks::target_slot(self.booted).to_string();
        let from = self.version.clone();
        let done = |done: &Installed| {
            format!(
                "{} written to slot {}; it starts at the next restart",
                done.version,
                done.slot.as_deref().unwrap_or("?")
            )
        };
        let record = Record {
            slot: Some(target.clone()),
            package: None,
            label: update.version.to_string(),
            action: "update.install",
            done: &done,
            apply: Box::new(|u: &mut Updates, outcome, now| match outcome {
                Ok(done) => {
                    u.pending = Some(Pending {
                        slot: target.clone(),
                        version: done.version.clone(),
                        from_version: from,
                        installed_at: now,
                    });
                    u.slots.insert(
                        target,
                        SlotInfo {
                            version: done.version.clone(),
                            installed_at: Some(now),
                        },
                    );
                    if update.floor > u.floor {
                        u.floor = update.floor;
                    }
                }
                // A refusal wrote nothing; a failure may have overwritten the slot that
                // held the pending install.
                Err(InstallError::Refused(_)) => {}
                Err(_) if u.pending.as_ref().is_some_and(|p| p.slot == target) => {
                    u.pending = None;
                    u.slots.remove(&target);
                }
                Err(_) => {}
            }),
        };
        self.run_install(update, progress, actor, address, record, || {
            self.write_and_commit(update, &mut payload, payload_error, progress)
        })
    }

    fn write_and_commit(
        &self,
        update: &Update,
        payload: &mut impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
    ) -> Result<Installed, InstallError> {
        let env = self.platform.env();
        let mut boot = env.read()?;
        let installed = self.installed_now(&self.store.get()?)?;
        checks::check_base(
            update.candidate(),
            &installed,
            update.downgrade,
            self.booted,
            &boot,
        )?;
        let slot = checks::target_slot(self.booted);
        let capacity = self
            .platform
            .slot_capacity(slot)
            .map_err(|source| InstallError::Write { slot, source })?;
        checks::check_space(slot, update.payload_size, capacity)?;

        // From here the target is not bootable until it is complete and verified. On the
        // appliance the privileged part does it, checks the signed entries again and
        // makes the slot bootable once the bytes it wrote match them (docs/security.md).
        let write_err = |source| InstallError::Write { slot, source };
        let mut device = match &self.platform {
            super::Platform::Appliance => SlotSink::Privileged(
                SlotWriter::begin(slot, &update.signed).map_err(crate::boot::Error::from)?,
            ),
            super::Platform::Dev { .. } => {
                boot.begin_install(slot);
                env.write(&boot)?;
                let path = self.platform.slot_path(slot).map_err(InstallError::Boot)?;
                SlotSink::File(
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&path)
                        .map_err(write_err)?,
                )
            }
        };
        progress.set(Progress {
            phase: "writing",
            version: Some(update.version.to_string()),
            total: update.payload_size,
            ..Progress::default()
        });
        // Hashing (in the payload reader) and writing overlap: a writer thread takes the
        // chunks; a few buffers go round between the two, so memory stays bounded.
        let written = std::thread::scope(|scope| -> Result<u64, InstallError> {
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
            let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
            for _ in 0..BUFFERS {
                let _ = empty_tx.send(vec![0u8; CHUNK]);
            }
            let device = &mut device;
            let writer = scope.spawn(move || -> std::io::Result<()> {
                for (buf, n) in full_rx {
                    device.write_all(&buf[..n])?;
                    // The reader may have stopped already: the buffer is then not needed.
                    let _ = empty_tx.send(buf);
                }
                Ok(())
            });
            let mut written = 0u64;
            let read_result = loop {
                let Ok(mut buf) = empty_rx.recv() else {
                    break Ok(()); // the writer stopped: its error is reported below
                };
                let read = loop {
                    match payload.read(&mut buf) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                };
                let n = match read {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) => break Err(e),
                };
                if full_tx.send((buf, n)).is_err() {
                    break Ok(());
                }
                written += n as u64;
                progress.bytes(written);
            };
            drop(full_tx);
            let write_result = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the slot writer panicked")));
            if let Err(e) = read_result {
                return Err(InstallError::Payload(payload_error(e)));
            }
            write_result.map_err(write_err)?;
            Ok(written)
        });
        let written = match (written, device) {
            (Ok(written), SlotSink::File(file)) => {
                file.sync_all().map_err(write_err)?;
                written
            }
            (Ok(written), SlotSink::Privileged(writer)) => {
                writer.finish().map_err(crate::boot::Error::from)?;
                written
            }
            // The privileged part's own sentence says more than a broken pipe.
            (Err(InstallError::Write { .. }), SlotSink::Privileged(writer)) => {
                writer.finish().map_err(crate::boot::Error::from)?;
                return Err(write_err(std::io::Error::other(
                    "the privileged part stopped taking the image",
                )));
            }
            (Err(e), _) => return Err(e),
        };
        progress.set(Progress {
            phase: "finishing",
            version: Some(update.version.to_string()),
            bytes: written,
            total: update.payload_size,
            message: None,
        });
        if let super::Platform::Dev { .. } = self.platform {
            boot.commit_install(slot);
            // The floor also lives on the ESP, which a factory reset keeps (docs/updates.md).
            if let Some(floor) = update.floor {
                if boot.floor().and_then(|f| f.parse::<Version>().ok()) < Some(floor) {
                    boot.set_floor(&floor.to_string());
                }
            }
            env.write(&boot)?;
        }
        Ok(Installed {
            kind: "base",
            name: package::BASE_NAME.to_string(),
            version: update.version.to_string(),
            slot: Some(slot.to_string()),
            restart_required: true,
            previous: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::system::BootSlot;
    use crate::testdir::TestDir;
    use crate::update::Platform;

    fn updater(dir: &std::path::Path) -> Updater {
        let store = Store::open(&dir.join("settings.redb")).unwrap();
        let u = Updater::new(
            Platform::Dev {
                dir: dir.to_path_buf(),
            },
            store,
            BootSlot::Slot(Slot::A),
            "1.0.0",
            "vm",
        );
        // A confirmed boot of A, as after the health gate.
        let mut boot = grubenv::BootState::factory();
        boot.grub_boot(|_| true);
        boot.mark_successful_boot(Slot::A);
        u.platform.env().write(&boot).unwrap();
        u
    }

    fn update(size: u64) -> Update {
        Update {
            kind: Kind::Base,
            name: "base".into(),
            version: "1.0.1".parse().unwrap(),
            profiles: vec!["vm".into()],
            requires: vec![],
            floor: Some("1.0.1".parse().unwrap()),
            payload_size: size,
            installed_size: size,
            downgrade: false,
            signed: package::Signed::default(),
        }
    }

    fn no_map(e: std::io::Error) -> package::Error {
        package::Error::HashMismatch {
            payload: "rootfs".into(),
            expected: "the signed one".into(),
            actual: e.to_string(),
        }
    }

    /// A payload that fails at its end, the way a hash mismatch does.
    struct BadEnd(std::io::Cursor<Vec<u8>>);
    impl Read for BadEnd {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the payload's SHA-256 does not match the manifest",
                )),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_good_payload_is_written_then_committed() {
        let dir = TestDir::new("install-ok");
        let u = updater(dir.path());
        let data = vec![7u8; 3 << 20];
        let p = Publisher::default();
        let done = u
            .install_base(
                &update(data.len() as u64),
                &data[..],
                no_map,
                &p,
                "admin",
                None,
            )
            .unwrap();
        assert_eq!(done.slot.as_deref(), Some("B"));
        assert_eq!(std::fs::read(dir.path().join("slot-b.img")).unwrap(), data);
        let boot = u.platform.env().read().unwrap();
        assert_eq!(boot.order(), vec![Slot::B, Slot::A]);
        assert!(boot.is_ok(Slot::B) && !boot.is_trying(Slot::B));
        let state = u.updates().unwrap();
        assert_eq!(state.pending.unwrap().version, "1.0.1");
        assert_eq!(state.floor, Some("1.0.1".parse().unwrap()));
        assert_eq!(p.current().phase, "done");
        assert!(!u.installing());
    }

    #[test]
    fn a_bad_payload_leaves_the_boot_order_alone() {
        let dir = TestDir::new("install-bad");
        let u = updater(dir.path());
        let before = u.platform.env().read().unwrap();
        let p = Publisher::default();
        let err = u
            .install_base(
                &update(1 << 20),
                BadEnd(std::io::Cursor::new(vec![1u8; 1 << 20])),
                no_map,
                &p,
                "admin",
                None,
            )
            .unwrap_err();
        assert_eq!(err.code(), "hash_mismatch");
        let boot = u.platform.env().read().unwrap();
        assert_eq!(boot.order(), before.order());
        assert!(
            !boot.is_ok(Slot::B),
            "the half-written slot is never booted"
        );
        let state = u.updates().unwrap();
        assert_eq!(state.pending, None);
        assert_eq!(
            state.floor, None,
            "the floor moves only with a good install"
        );
        assert_eq!(state.history.last().unwrap().kind, "failed");
        assert_eq!(p.current().phase, "failed");
    }

    #[test]
    fn a_slot_that_cannot_be_written_fails_cleanly() {
        let dir = TestDir::new("install-full");
        let u = updater(dir.path());
        let before = u.platform.env().read().unwrap();
        // Every write to /dev/full fails with ENOSPC, as a failing disk would.
        std::os::unix::fs::symlink("/dev/full", dir.path().join("slot-b.img")).unwrap();
        let p = Publisher::default();
        let data = vec![7u8; 5 << 20];
        let err = u
            .install_base(
                &update(data.len() as u64),
                &data[..],
                no_map,
                &p,
                "admin",
                None,
            )
            .unwrap_err();
        assert_eq!(err.code(), "write_failed", "{err}");
        assert!(err.to_string().contains("slot B"), "{err}");
        let boot = u.platform.env().read().unwrap();
        assert_eq!(boot.order(), before.order());
        assert!(!boot.is_ok(Slot::B));
        assert_eq!(u.updates().unwrap().pending, None);
        assert!(!u.installing());
    }

    #[test]
    fn a_factory_reset_request_and_an_install_exclude_each_other() {
        let dir = TestDir::new("install-reset");
        let u = updater(dir.path());
        // While an install holds the flag, a reset request is not recorded.
        let busy = Busy::take(&u.installing).unwrap();
        let mut recorded = false;
        let err = u
            .for_factory_reset(|| {
                recorded = true;
                Ok::<(), ()>(())
            })
            .unwrap_err();
        assert_eq!(err.code(), "update_in_progress");
        assert!(!recorded);
        drop(busy);
        // A request that could not be written leaves installs allowed.
        assert_eq!(
            u.for_factory_reset(|| Err::<(), _>("esp")).unwrap(),
            Err("esp")
        );
        assert!(!u.reset_requested.load(Ordering::SeqCst));
        // Once recorded, no install starts; nothing is written to the slot.
        u.for_factory_reset(|| Ok::<(), ()>(())).unwrap().unwrap();
        let p = Publisher::default();
        let err = u
            .install_base(
                &update(1 << 20),
                &[7u8; 1 << 20][..],
                no_map,
                &p,
                "admin",
                None,
            )
            .unwrap_err();
        assert_eq!(err.code(), "factory_reset_pending");
        assert!(!dir.path().join("slot-b.img").exists());
        assert!(!u.installing());
        // Taken back when the restart could not be scheduled.
        u.factory_reset_cancelled();
        u.install_base(
            &update(1 << 20),
            &[7u8; 1 << 20][..],
            no_map,
            &p,
            "admin",
            None,
        )
        .unwrap();
    }

    #[test]
    fn a_start_with_nothing_to_settle_writes_nothing() {
        let dir = TestDir::new("install-start");
        let u = updater(dir.path());
        u.at_start().unwrap();
        let entries = u.store.audit_log(100).unwrap().len();
        assert_eq!(u.at_start().unwrap(), None);
        assert_eq!(u.store.audit_log(100).unwrap().len(), entries);
    }

    #[test]
    fn a_refusal_keeps_the_pending_install() {
        let dir = TestDir::new("install-keep-pending");
        let u = updater(dir.path());
        let p = Publisher::default();
        u.install_base(&update(10), &[7u8; 10][..], no_map, &p, "admin", None)
            .unwrap();
        let mut wrong = update(10);
        wrong.profiles = vec!["box".into()];
        let err = u
            .install_base(&wrong, &[0u8; 10][..], no_map, &p, "admin", None)
            .unwrap_err();
        assert_eq!(err.code(), "wrong_profile");
        let state = u.updates().unwrap();
        assert_eq!(state.pending.unwrap().version, "1.0.1");
        assert_eq!(state.slots["B"].version, "1.0.1");
    }

    #[test]
    fn refusals_write_nothing() {
        let dir = TestDir::new("install-refused");
        let u = updater(dir.path());
        let mut wrong = update(10);
        wrong.profiles = vec!["box".into()];
        let p = Publisher::default();
        let err = u
            .install_base(&wrong, &[0u8; 10][..], no_map, &p, "admin", None)
            .unwrap_err();
        assert_eq!(err.code(), "wrong_profile");
        assert!(!dir.path().join("slot-b.img").exists());
        assert_eq!(u.updates().unwrap().history.last().unwrap().kind, "refused");
        let too_big = update(super::super::DEV_SLOT_BYTES + 1);
        let err = u
            .install_base(&too_big, &[0u8; 1][..], no_map, &p, "admin", None)
            .unwrap_err();
        assert_eq!(err.code(), "no_space");
    }
}
