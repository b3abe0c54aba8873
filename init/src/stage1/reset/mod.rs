//! Stage 1's part of a factory reset (docs/factory-reset.md). GRUB puts
//! `appliance.factory_reset=...` on the command line when grubenv holds `FACTORY_RESET`;
//! stage 1 then, before mounting any slot:
//!
//! 1. wipes `data` (checkpointed in grubenv every 10 %), then verifies it reads back zeroes;
//! 2. with no slot bootable meanwhile, zeroes slot B and copies the factory image into
//!    slot A (superblock last), verified;
//! 3. restores a new disk's boot order (slot A first, slot B empty);
//! 4. makes the data filesystem and writes the sanitization record on it;
//! 5. removes the request and its progress from grubenv, last;
//! 6. powers off or reboots, as requested.
//!
//! Each step is safe to repeat, and grubenv says which is next: a power cut anywhere
//! resumes at the next boot (GRUB boots the factory image while no slot is bootable, and
//! its stage 1 carries on). The state machine is `grubenv::reset`, tested there.

pub mod device;
mod esp;
pub mod record;
mod slots;
pub mod wipe;

use super::block::{self, sysfs_u64, Partition};
use super::data;
use crate::kmod::load::Loader;
use crate::power::{self, Action};
use crate::say;
use device::Device;
use esp::Esp;
use grubenv::{BootState, ResetProgress, ResetStage, Then};
use nix::mount::{mount, umount, MsFlags};
use std::path::Path;
use std::time::{Duration, Instant};
use wipe::Method;

const ESP_WAIT: Duration = Duration::from_secs(20);
const DATA_MOUNT: &str = "/run/reset-data";
const SLOT_MOUNT: &str = "/run/reset-slot";
/// The record's name at the root of the data filesystem (`/data/sanitization.json`).
pub const RECORD_FILE: &str = "sanitization.json";

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(transparent)]
    Esp(#[from] esp::EspError),
    #[error(transparent)]
    Device(#[from] device::DeviceError),
    #[error(transparent)]
    Wipe(#[from] wipe::WipeError),
    #[error(transparent)]
    Slot(#[from] slots::SlotError),
    #[error("no partition labelled {0} on the ESP's disk")]
    NoPartition(&'static str),
    #[error("mke2fs failed on {0}")]
    Mkfs(String),
    #[error("cannot mount the new data filesystem {device}: {source}")]
    MountData { device: String, source: nix::Error },
    #[error("cannot write the sanitization record {path}: {source}")]
    Record {
        path: String,
        source: std::io::Error,
    },
}

/// Carry out a pending reset, if grubenv holds one: never returns then (power off or
/// reboot). Returns when there is nothing to do, and the boot goes on.
pub fn run_if_requested(loader: &mut Option<Loader>) {
    let Some(esp_part) = block::wait_for("ESP", None, ESP_WAIT, loader) else {
        say!("factory reset: the command line asks for one, but no ESP partition appeared; booting normally");
        return;
    };
    let esp = match Esp::open(&esp_part) {
        Ok(esp) => esp,
        Err(e) => {
            say!("factory reset: the command line asks for one, but grubenv cannot be read ({e}); booting normally");
            return;
        }
    };
    let state = match esp.read() {
        Ok(state) => state,
        Err(e) => {
            say!("factory reset: grubenv cannot be read ({e}); booting normally");
            esp.close();
            return;
        }
    };
    let Some(progress) = state.factory_reset() else {
        say!("factory reset: the command line asks for one, but grubenv holds no request; booting normally");
        esp.close();
        return;
    };
    let then = progress.then;
    let action = match then {
        Then::PowerOff => Action::PowerOff,
        Then::Reboot => Action::Reboot,
    };
    match Reset::new(esp, state, progress, &esp_part).and_then(Reset::run) {
        Ok(()) => power::finish(action),
        Err(e) => {
            say!("factory reset: FAILED: {e}");
            say!("factory reset: the request stays recorded and the reset starts again at the next boot; powering off in 10 s");
            std::thread::sleep(Duration::from_secs(10));
            power::finish(Action::PowerOff)
        }
    }
}

/// The partitions of the disk being reset.
struct Disk {
    data: Partition,
    slot_a: Partition,
    slot_b: Partition,
    factory: Partition,
    /// The disk has a write-zeroes command.
    write_zeroes: bool,
}

impl Disk {
    fn find(esp: &Partition) -> Result<Self, ResetError> {
        let disk = esp.disk();
        let find = |label: &'static str| {
            block::by_label(label, disk.as_deref())
                .into_iter()
                .next()
                .ok_or(ResetError::NoPartition(label))
        };
        let data = find("data")?;
        let write_zeroes = data
            .sys
            .parent()
            .and_then(|d| sysfs_u64(&d.join("queue/write_zeroes_max_bytes")))
            .is_some_and(|n| n > 0);
        Ok(Disk {
            slot_a: find("root-a")?,
            slot_b: find("root-b")?,
            factory: find("factory")?,
            data,
            write_zeroes,
        })
    }
}

struct Reset {
    esp: Esp,
    state: BootState,
    /// The reset as grubenv held it when this boot began.
    request: ResetProgress,
    disk: Disk,
    started: Instant,
}

impl Reset {
    fn new(
        esp: Esp,
        state: BootState,
        request: ResetProgress,
        esp_part: &Partition,
    ) -> Result<Self, ResetError> {
        let disk = Disk::find(esp_part)?;
        Ok(Reset {
            esp,
            state,
            request,
            disk,
            started: Instant::now(),
        })
    }

    /// The reset as it stands now (the request stays in grubenv until the very last step).
    fn progress(&self) -> ResetProgress {
        self.state
            .factory_reset()
            .unwrap_or_else(|| self.request.clone())
    }

    fn save(&self) -> Result<(), ResetError> {
        Ok(self.esp.write(&self.state)?)
    }

    fn run(mut self) -> Result<(), ResetError> {
        let before = self.request.clone();
        self.state.begin_reset_run(units::now());
        self.save()?;
        if before.runs == 0 {
            say!(
                "factory reset: starting (then {}); every setting, log and file on data is erased",
                before.then.as_str()
            );
        } else {
            say!(
                "factory reset: resuming at the {} stage after {} interrupted attempt(s) (then {})",
                before.stage.as_str(),
                before.runs,
                before.then.as_str()
            );
        }
        let mut stage = before.stage;
        if stage == ResetStage::Wipe {
            self.wipe_data(&before)?;
            stage = self.next_after_wipe()?;
        }
        if stage == ResetStage::Slots {
            self.restore_slots()?;
            self.state.restore_factory_boot_order();
            self.save()?;
            say!("factory reset: boot order reset: slot A first, slot B empty");
        }
        self.recreate_data()?;
        self.state.finish_factory_reset();
        self.save()?;
        let then = before.then;
        say!(
            "factory reset: done in {:.1} s; {}",
            self.started.elapsed().as_secs_f64(),
            match then {
                Then::PowerOff => "powering off",
                Then::Reboot => "restarting",
            }
        );
        self.esp.close();
        Ok(())
    }

    fn wipe_data(&mut self, p: &ResetProgress) -> Result<(), ResetError> {
        let dev = Device::open(&self.disk.data.dev())?;
        let percent = if dev.len == 0 {
            0
        } else {
            (u128::from(p.wiped.min(dev.len)) * 100 / u128::from(dev.len)) as u64
        };
        say!(
            "factory reset: wiping data ({}, {} MiB) from {percent}%",
            dev.name(),
            dev.len >> 20
        );
        let start = p
            .method
            .as_deref()
            .and_then(|m| m.rsplit('+').next())
            .and_then(Method::from_id)
            .unwrap_or(Method::SecureDiscard);
        let esp = &self.esp;
        let state = &mut self.state;
        let mut checkpoint = |bytes: u64, method: Method| {
            state.record_wipe_method(method.id());
            state.checkpoint_wipe(bytes);
            esp.write(state).map_err(|e| e.to_string())
        };
        let wiped = wipe::wipe(&dev, "data", p.wiped, start, true, &mut checkpoint)?;
        let ids: Vec<&str> = wiped.methods.iter().map(|m| m.id()).collect();
        self.state.record_wipe_method(&ids.join("+"));
        let last = *wiped.methods.last().unwrap_or(&start);
        say!(
            "factory reset: data wiped ({}); {} blocks of 1 MiB spread over it read back as zeroes",
            last.detail(self.disk.write_zeroes),
            wiped.verified_samples
        );
        Ok(())
    }

    /// Slots next, unless the factory image is unusable: then the slots stay as they are.
    fn next_after_wipe(&mut self) -> Result<ResetStage, ResetError> {
        let factory = Device::open_read_only(&self.disk.factory.dev())?;
        match slots::factory_image_len(&factory) {
            Ok(_) => {
                self.state.begin_slot_restore();
                self.save()?;
                Ok(ResetStage::Slots)
            }
            Err(e) => {
                say!("factory reset: {e}; the slots and the boot order are left as they are");
                self.state.skip_slot_restore();
                self.save()?;
                Ok(ResetStage::Data)
            }
        }
    }

    fn restore_slots(&mut self) -> Result<(), ResetError> {
        let mut none = |_: u64, _: Method| Ok(());
        let slot_b = Device::open(&self.disk.slot_b.dev())?;
        say!(
            "factory reset: clearing slot B ({}, {} MiB)",
            slot_b.name(),
            slot_b.len >> 20
        );
        wipe::wipe(
            &slot_b,
            "slot B",
            0,
            Method::DiscardZeroes,
            false,
            &mut none,
        )?;

        let factory = Device::open_read_only(&self.disk.factory.dev())?;
        let slot_a = Device::open(&self.disk.slot_a.dev())?;
        say!(
            "factory reset: restoring the factory system ({}) into slot A ({})",
            factory.name(),
            slot_a.name()
        );
        let copied = slots::restore_factory(&factory, &slot_a)?;
        wipe::zero_range(&slot_a, "slot A", copied, Method::DiscardZeroes)?;
        say!(
            "factory reset: slot A holds the factory image ({} bytes), verified",
            copied
        );
        Ok(())
    }

    fn recreate_data(&mut self) -> Result<(), ResetError> {
        let dev = self.disk.data.dev().display().to_string();
        say!("factory reset: making the data filesystem on {dev}");
        if !data::make_filesystem(&dev) {
            return Err(ResetError::Mkfs(dev));
        }
        let factory_version = self.slot_a_version();
        let factory = Device::open_read_only(&self.disk.factory.dev())?;
        let factory_bytes = slots::factory_image_len(&factory).ok();
        let p = self.progress();
        let method = p.method.unwrap_or_else(|| "unknown".to_string());
        let last = method.rsplit('+').next().and_then(Method::from_id);
        let record = record::Record {
            method_detail: last
                .map(|m| m.detail(self.disk.write_zeroes).to_string())
                .unwrap_or_default(),
            method,
            device: dev.clone(),
            bytes: self.disk.data.bytes().unwrap_or(0),
            verified_samples: wipe::SAMPLES,
            started: p.started.unwrap_or_else(units::now),
            finished: units::now(),
            interruptions: p.runs.saturating_sub(1),
            slot_b_cleared_bytes: match factory_bytes {
                Some(_) => self.disk.slot_b.bytes().unwrap_or(0),
                None => 0,
            },
            factory_bytes: factory_bytes.unwrap_or(0),
            factory_version,
            then: p.then.as_str().to_string(),
        };
        write_record(&dev, &record)?;
        say!(
            "factory reset: sanitization record written to data ({RECORD_FILE}): {} bytes of {dev} wiped with {}",
            record.bytes,
            record.method
        );
        Ok(())
    }

    /// The version of the system now in slot A (mounting it also proves it is readable).
    fn slot_a_version(&self) -> Option<String> {
        let dev = self.disk.slot_a.dev();
        let _ = std::fs::create_dir_all(SLOT_MOUNT);
        if let Err(e) = mount(
            Some(&dev),
            SLOT_MOUNT,
            Some("squashfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        ) {
            say!(
                "factory reset: slot A ({}) cannot be mounted: {e}",
                dev.display()
            );
            return None;
        }
        let version = slots::release_version(Path::new(SLOT_MOUNT));
        let _ = umount(SLOT_MOUNT);
        if let Some(v) = &version {
            say!("factory reset: slot A runs version {v}");
        }
        version
    }
}

fn write_record(dev: &str, record: &record::Record) -> Result<(), ResetError> {
    use std::io::Write;
    let _ = std::fs::create_dir_all(DATA_MOUNT);
    let flags = MsFlags::MS_NOATIME | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    mount(Some(dev), DATA_MOUNT, Some("ext4"), flags, None::<&str>).map_err(|source| {
        ResetError::MountData {
            device: dev.to_string(),
            source,
        }
    })?;
    let path = Path::new(DATA_MOUNT).join(RECORD_FILE);
    let err = |source| ResetError::Record {
        path: path.display().to_string(),
        source,
    };
    let written = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(record.to_json().as_bytes())?;
        f.sync_all()?;
        std::fs::File::open(DATA_MOUNT)?.sync_all()
    })()
    .map_err(err);
    let unmounted = umount(DATA_MOUNT);
    written?;
    unmounted.map_err(|e| err(std::io::Error::from(e)))
}
