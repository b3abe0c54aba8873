//! Loads kernel modules: the ones named explicitly and the ones the present devices ask
//! for through their modaliases (a one-shot "coldplug", since there is no udev).

use super::index::{module_name, ModuleIndex};
use crate::log;
use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state of module loading during stage 1.
pub struct Loader {
    dir: PathBuf,
    index: ModuleIndex,
    builtin: HashSet<String>,
    /// Modules already inserted or tried (failures are not retried).
    done: HashSet<String>,
    /// Modaliases already matched.
    seen: HashSet<String>,
    /// IDE controllers seen but given no driver yet (see [`is_ide_controller`]).
    held: Vec<String>,
    /// Whether IDE controllers are held back (until [`Loader::release_held`]).
    hold_ide: bool,
    pub loaded: usize,
    pub failed: usize,
    /// How long each inserted module took in finit_module (load, relocation, init).
    pub timings: Vec<(String, Duration)>,
}

fn read(path: &Path) -> Result<String, LoadError> {
    fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl Loader {
    /// Read the index of `/lib/modules/<kernel release>`. Only `modules.dep` is required.
    pub fn open(dir: &Path) -> Result<Loader, LoadError> {
        let dep = read(&dir.join("modules.dep"))?;
        let alias = read(&dir.join("modules.alias")).unwrap_or_default();
        let softdep = read(&dir.join("modules.softdep")).unwrap_or_default();
        let builtin = read(&dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(module_name)
            .collect();
        let mut index = ModuleIndex::parse(&dep, &alias, &softdep);
        // vfat mounts fail without its default code page and charset; the module does
        // not declare them.
        index.add_softdep("vfat", &["nls_cp437", "nls_ascii"]);
        Ok(Loader {
            dir: dir.to_path_buf(),
            index,
            builtin,
            done: HashSet::new(),
            seen: HashSet::new(),
            held: Vec::new(),
            hold_ide: true,
            loaded: 0,
            failed: 0,
            timings: Vec::new(),
        })
    }

    /// Load a module (or every module an alias names) with its dependencies.
    /// Returns how many modules were newly inserted. Failures are logged, not returned:
    /// a missing driver should not stop the boot if the slot can still be found.
    pub fn load(&mut self, name: &str) -> usize {
        let modules = self.index.resolve(name);
        if modules.is_empty() {
            if !self.builtin.contains(&module_name(name)) && self.done.insert(name.to_string()) {
                log!("stage1: module {name} is not in the initramfs; continuing without it");
            }
            return 0;
        }
        modules.iter().map(|m| self.load_with_deps(m)).sum()
    }

    fn load_with_deps(&mut self, module: &str) -> usize {
        let order = self.index.load_order(module, &mut self.done);
        let mut n = 0;
        for m in order {
            if self.insert(&m) {
                n += 1;
            }
        }
        n
    }

    /// Insert one module file; true if it was newly loaded.
    fn insert(&mut self, module: &str) -> bool {
        let Some(rel) = self.index.path(module) else {
            if !self.builtin.contains(module) {
                log!("stage1: module {module} is listed but has no file; skipping it");
            }
            return false;
        };
        let path = if rel.starts_with('/') {
            PathBuf::from(rel)
        } else {
            self.dir.join(rel)
        };
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                log!(
                    "stage1: module {module}: cannot open {}: {e}; skipping it",
                    path.display()
                );
                self.failed += 1;
                return false;
            }
        };
        let start = Instant::now();
        match finit_module(&file, c"", ModuleInitFlags::empty()) {
            Ok(()) => {
                self.loaded += 1;
                self.timings.push((module.to_string(), start.elapsed()));
                true
            }
            Err(Errno::EEXIST) => false,
            Err(e) => {
                // ENODEV is normal for a driver whose hardware or CPU feature is absent
                // (crc32c_intel without SSE4.2); it is logged for the record only.
                log!("stage1: module {module} did not load: {e}");
                self.failed += 1;
                false
            }
        }
    }

    /// One coldplug pass: load the modules matching modaliases not seen before.
    /// Returns how many modules were newly inserted.
    pub fn coldplug_pass(&mut self) -> usize {
        self.coldplug_pass_of(|_| true)
    }

    /// Coldplug passes for network devices only, until one loads nothing new: NIC
    /// drivers first, so their links can negotiate while everything else loads.
    pub fn coldplug_network(&mut self) {
        while self.coldplug_pass_of(is_network_device) > 0 {}
    }

    fn coldplug_pass_of(&mut self, wanted: fn(&str) -> bool) -> usize {
        let mut n = 0;
        for alias in present_modaliases() {
            if !wanted(&alias) || !self.seen.insert(alias.clone()) {
                continue;
            }
            if self.hold_ide && is_ide_controller(&alias) {
                self.held.push(alias);
                continue;
            }
            n += self.load_matching(&alias);
        }
        n
    }

    fn load_matching(&mut self, alias: &str) -> usize {
        let mut n = 0;
        for m in self.index.match_alias(alias) {
            n += self.load_with_deps(&m);
        }
        n
    }

    /// IDE controllers seen so far and given no driver (their modaliases).
    pub fn held(&self) -> &[String] {
        &self.held
    }

    /// Load the drivers of the IDE controllers held back, and of any seen from now on.
    /// Returns how many modules were newly inserted.
    pub fn release_held(&mut self) -> usize {
        self.hold_ide = false;
        let held = std::mem::take(&mut self.held);
        held.iter().map(|alias| self.load_matching(alias)).sum()
    }

    /// Coldplug passes until one loads nothing new: a driver whose devices bring more
    /// devices (virtio_pci and its virtio devices) is followed at once. Devices that
    /// appear later on their own (SCSI disks after an asynchronous bus scan) are matched
    /// by the passes `stage1::block::wait_for` makes while it looks for a partition and
    /// by stage 1's last pass; nothing waits for a quiet period. Ends: every pass but
    /// the last loads a module not tried before.
    pub fn coldplug(&mut self) {
        while self.coldplug_pass() > 0 {}
    }

    /// The `n` modules that took longest to insert, slowest first: "ext4 0.27, ...".
    pub fn slowest(&self, n: usize) -> String {
        let mut t: Vec<_> = self.timings.iter().collect();
        t.sort_by_key(|b| std::cmp::Reverse(b.1));
        t.iter()
            .take(n)
            .map(|(m, d)| format!("{m} {:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A PCI IDE controller (class 01, subclass 01: `...bc01sc01i..`): the legacy disk
/// controller every PC-compatible virtual machine has (PIIX on QEMU's `pc`, PIIX4 on
/// VMware), usually for a CD-ROM. Its drivers (libata, ata_piix, ata_generic) cost a
/// third of a second under emulation, so stage 1 gives it one only when the slot's disk
/// is not found on the other controllers (docs/boot.md).
pub fn is_ide_controller(modalias: &str) -> bool {
    modalias.starts_with("pci:")
        && modalias
            .find("bc")
            .is_some_and(|i| modalias[i..].starts_with("bc01sc01"))
}

/// A PCI network controller (class 02), or a virtio network device (virtio device 1)
/// on the virtio bus its PCI transport brings.
pub fn is_network_device(modalias: &str) -> bool {
    (modalias.starts_with("pci:")
        && modalias
            .find("bc")
            .is_some_and(|i| modalias[i..].starts_with("bc02")))
        || modalias.starts_with("virtio:d00000001v")
}

/// Every `/sys/bus/*/devices/*/modalias` present now.
pub fn present_modaliases() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(buses) = fs::read_dir("/sys/bus") else {
        return out;
    };
    for bus in buses.flatten() {
        let Ok(devices) = fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Ok(s) = fs::read_to_string(dev.path().join("modalias")) {
                let s = s.trim();
                if !s.is_empty() {
                    out.push(s.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ide_controllers_are_told_from_other_storage() {
        // QEMU pc's PIIX3 IDE, VMware's PIIX4 IDE.
        assert!(is_ide_controller(
            "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"
        ));
        assert!(is_ide_controller(
            "pci:v00008086d00007111sv000015ADsd00001976bc01sc01i8A"
        ));
        // AHCI (01/06), PVSCSI (01/07), virtio block (01/00), NVMe (01/08), e1000e (02/00).
        for other in [
            "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
            "pci:v000015ADd000007C0sv000015ADsd000007C0bc01sc07i00",
            "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
            "pci:v00008086d00000953sv00008086sd00003702bc01sc08i02",
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00",
            "acpi:PNP0C0C:",
            "scsi:t-0x00",
        ] {
            assert!(!is_ide_controller(other), "{other}");
        }
    }

    #[test]
    fn network_devices_are_told_from_the_rest() {
        for nic in [
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", // e1000e
            "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i01", // vmxnet3
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", // virtio-net's PCI side
            "virtio:d00000001v00001AF4",                             // virtio-net
        ] {
            assert!(is_network_device(nic), "{nic}");
        }
        for other in [
            "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
            "virtio:d00000002v00001AF4",
            "virtio:d00000010v00001AF4",
            "pci:v00008086d000025ABsv00001AF4sd00001100bc08sc80i00",
            "acpi:PNP0C0C:",
        ] {
            assert!(!is_network_device(other), "{other}");
        }
    }
}
