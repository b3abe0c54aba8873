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

use super::checks::{self, Appliance, Candidate, Refusal};
use super::progress::{Progress, Publisher};
use super::state::{Event, Pending, SlotInfo, Updates};
use super::Updater;
use crate::store::Audit;

/// A base package whose manifest and signature were verified.
#[derive(Debug, Clone)]
pub struct BaseUpdate {
    pub version: String,
    pub profiles: Vec<String>,
    pub requires: Vec<(String, String)>,
    /// Raises the appliance's anti-rollback floor once installed.
    pub floor: Option<String>,
    pub payload_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("another package is being installed")]
    Busy,
    #[error("a factory reset was requested; it runs at the next restart and no package can be installed before it")]
    ResetPending,
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The package itself was refused: signature, format, keys.
    #[error("{message}")]
    Package { code: &'static str, message: String },
    /// The payload did not verify (hash or size) or the upload broke off.
    #[error("{message}")]
    Payload { code: &'static str, message: String },
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
}

impl InstallError {
    pub fn code(&self) -> &'static str {
        match self {
            InstallError::Busy => "update_in_progress",
            InstallError::ResetPending => "factory_reset_pending",
            InstallError::Refused(r) => r.code(),
            InstallError::Package { code, .. } => code,
            InstallError::Payload { code, .. } => code,
            InstallError::Write { .. } | InstallError::Data { .. } => "write_failed",
            InstallError::Boot(_) => "boot_state",
            InstallError::Store(_) => "internal",
        }
    }
}

/// Held while installing; lets go of the updater's flag however the install ends.
pub struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Busy<'a> {
    pub fn take(flag: &'a std::sync::atomic::AtomicBool) -> Result<Busy<'a>, InstallError> {
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

/// What the caller learns of a finished install.
#[derive(Debug, Clone, serde::Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// Size of the chunks read from the payload and written to the slot.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the hashing reader and the slot writer.
const BUFFERS: usize = 4;

/// Map an error from the payload reader: the package crate reports hash and size
/// mismatches as `InvalidData` with a sentence; anything else is a broken upload.
pub type PayloadErrorMap = fn(&std::io::Error) -> (&'static str, String);

impl Updater {
    /// Check, write and commit. `payload` yields the slot image and fails at its end if
    /// the hash does not match. Refusals and failures are recorded in the history.
    pub fn install_base(
        &self,
        update: &BaseUpdate,
        mut payload: impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<Installed, InstallError> {
        let _busy = Busy::take(&self.installing)?;
        if self.reset_requested.load(Ordering::SeqCst) {
            return Err(InstallError::ResetPending);
        }
        progress.set(Progress {
            phase: "verifying",
            version: Some(update.version.clone()),
            total: update.payload_size,
            ..Progress::default()
        });
        let result = self.write_and_commit(update, &mut payload, payload_error, progress);
        let now = crate::auth::unix_now();
        let (kind, detail, audit) = match &result {
            Ok(done) => (
                "installed",
                format!(
                    "{} written to slot {}; it starts at the next restart",
                    done.version,
                    done.slot.as_deref().unwrap_or("?")
                ),
                "update.install",
            ),
            Err(InstallError::Refused(r)) => ("refused", r.to_string(), "update.refused"),
            Err(e) => ("failed", e.to_string(), "update.failed"),
        };
        let target = checks::target_slot(self.booted).to_string();
        let event = Event {
            at: now,
            kind: kind.to_string(),
            version: update.version.clone(),
            slot: Some(target.clone()),
            package: None,
            detail: detail.clone(),
        };
        let ok = result.is_ok();
        let update_copy = update.clone();
        let from = self.version.clone();
        self.store.change(
            Audit::user(
                actor,
                address,
                audit,
                format!("{}: {detail}", update.version),
            ),
            |tx| {
                let mut u: Updates = tx.get()?;
                if ok {
                    u.pending = Some(Pending {
                        slot: target.clone(),
                        version: update_copy.version.clone(),
                        from_version: from,
                        installed_at: now,
                    });
                    u.slots.insert(
                        target.clone(),
                        SlotInfo {
                            version: update_copy.version.clone(),
                            installed_at: Some(now),
                        },
                    );
                    if let Some(floor) = &update_copy.floor {
                        let higher = match &u.floor {
                            Some(old) => checks::version(floor).ok() > checks::version(old).ok(),
                            None => true,
                        };
                        if higher {
                            u.floor = Some(floor.clone());
                        }
                    }
                } else if u.pending.as_ref().is_some_and(|p| p.slot == target) {
                    // The slot that held the pending install was overwritten and failed.
                    u.pending = None;
                    u.slots.remove(&target);
                }
                u.record(event);
                tx.put(&u)
            },
        )?;
        progress.set(Progress {
            phase: if ok { "done" } else { "failed" },
            version: Some(update.version.clone()),
            bytes: if ok {
                update.payload_size
            } else {
                progress.current().bytes
            },
            total: update.payload_size,
            message: Some(detail),
        });
        result
    }

    fn write_and_commit(
        &self,
        update: &BaseUpdate,
        payload: &mut impl Read,
        payload_error: PayloadErrorMap,
        progress: &Publisher,
    ) -> Result<Installed, InstallError> {
        let env = self.platform.env();
        let mut boot = env.read()?;
        let u: Updates = self.store.get()?;
        let sites = u.site_versions();
        checks::check(
            &Candidate {
                version: &update.version,
                profiles: &update.profiles,
                requires: &update.requires,
                payload_size: update.payload_size,
            },
            &Appliance {
                profile: &self.profile,
                running_version: &self.version,
                booted: self.booted,
                boot: &boot,
                floor: u.floor.as_deref(),
                sites: &sites,
            },
        )?;
        let slot = checks::target_slot(self.booted);
        let capacity = self
            .platform
            .slot_capacity(slot)
            .map_err(|source| InstallError::Write { slot, source })?;
        checks::check_space(slot, update.payload_size, capacity)?;

        // From here the target is not bootable until it is complete and verified.
        boot.begin_install(slot);
        env.write(&boot)?;
        let path = self.platform.slot_path(slot).map_err(InstallError::Boot)?;
        let write_err = |source| InstallError::Write { slot, source };
        let mut device = OpenOptions::new()
            .write(true)
            .create(matches!(self.platform, super::Platform::Dev { .. }))
            .truncate(false)
            .open(&path)
            .map_err(write_err)?;
        progress.set(Progress {
            phase: "writing",
            version: Some(update.version.clone()),
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
                let n = match payload.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                        let _ = full_tx.send((buf, 0));
                        continue;
                    }
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
                let (code, message) = payload_error(&e);
                return Err(InstallError::Payload { code, message });
            }
            write_result.map_err(write_err)?;
            Ok(written)
        })?;
        device.sync_all().map_err(write_err)?;
        drop(device);
        progress.set(Progress {
            phase: "finishing",
            version: Some(update.version.clone()),
            bytes: written,
            total: update.payload_size,
            message: None,
        });
        boot.commit_install(slot);
        env.write(&boot)?;
        Ok(Installed {
            kind: "base",
            name: package::BASE_NAME.to_string(),
            version: update.version.clone(),
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

    fn update(size: u64) -> BaseUpdate {
        BaseUpdate {
            version: "1.0.1".into(),
            profiles: vec!["vm".into()],
            requires: vec![],
            floor: Some("1.0.1".into()),
            payload_size: size,
        }
    }

    fn no_map(e: &std::io::Error) -> (&'static str, String) {
        ("hash_mismatch", e.to_string())
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
        assert_eq!(state.floor.as_deref(), Some("1.0.1"));
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
